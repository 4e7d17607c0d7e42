package accounts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/accounts"
	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/app/apptest"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/vault"
)

type fixture struct {
	a       *app.App
	handler http.Handler
	keys    map[string]string // environment → API key
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	a := apptest.New(t, "accounts-test", nil, nil)
	f := &fixture{a: a, keys: map[string]string{}}
	for _, env := range []string{"production", "staging"} {
		rec, key, err := bridge.NewAPIKey(env, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Store.CreateAPIKey(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		f.keys[env] = key.Reveal()
	}
	rt := httpapi.NewRouter()
	accounts.Mount(rt, a)
	f.handler = a.Serve(rt)
	return f
}

func (f *fixture) addAccount(t *testing.T, env, tenant string, status bridge.AccountStatus) *bridge.Account {
	t.Helper()
	acc := &bridge.Account{
		ID: bridge.NewID(), Environment: env, TenantID: tenant, Status: status,
		AuthMethod: bridge.AuthAPIKey, ProjectRef: "abcdefghijklmnopqrst",
		ProjectURL: "https://abcdefghijklmnopqrst.supabase.co", KeyKind: bridge.KeySecret, BypassesRLS: true,
		Context: json.RawMessage(`{"plan":"pro"}`),
	}
	if err := f.a.Store.CreateAccount(context.Background(), acc); err != nil {
		t.Fatal(err)
	}
	cred, _ := bridge.Credential{Method: bridge.AuthAPIKey, APIKey: bridge.Secret("sb_secret_" + strings.Repeat("z", 32))}.MarshalBinary()
	if err := f.a.Vault.Put(context.Background(), vault.Ref{Environment: env, Kind: vault.KindAccount, ID: acc.ID}, cred); err != nil {
		t.Fatal(err)
	}
	return acc
}

func (f *fixture) get(t *testing.T, env, path string) (int, []byte) {
	t.Helper()
	return f.do(t, "GET", env, path)
}

func (f *fixture) do(t *testing.T, method, env, path string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if env != "" {
		req.Header.Set("Authorization", "Bearer "+f.keys[env])
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

type listBody struct {
	Result      []bridge.AccountView `json:"result"`
	NextCursor  *string              `json:"next_cursor"`
	ResultCount int                  `json:"result_count"`
}

func decodeList(t *testing.T, status int, body []byte) listBody {
	t.Helper()
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var l listBody
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatal(err)
	}
	if l.ResultCount != len(l.Result) {
		t.Fatalf("result_count %d for %d results", l.ResultCount, len(l.Result))
	}
	return l
}

func assertError(t *testing.T, status int, body []byte, wantStatus int, wantMessage string) {
	t.Helper()
	var e httpapi.ErrorBody
	if status != wantStatus || json.Unmarshal(body, &e) != nil || e.StatusCode != wantStatus || !strings.Contains(e.Message, wantMessage) {
		t.Errorf("got %d %s, want %d with a message containing %q", status, body, wantStatus, wantMessage)
	}
}

func TestEmptyList(t *testing.T) {
	f := newFixture(t)
	status, body := f.get(t, "production", "/integrated-accounts")
	if status != 200 || strings.TrimSpace(string(body)) != `{"result":[],"next_cursor":null,"result_count":0}` {
		t.Errorf("got %d %s", status, body)
	}
}

// TestPagination walks every page of several listings and checks each
// account appears exactly once, newest first, with filters applied.
func TestPagination(t *testing.T) {
	f := newFixture(t)
	want := map[string]map[string]bool{"all": {}, "tenant-a": {}, "active": {}, "tenant-a-active": {}}
	for i := range 230 {
		tenant := fmt.Sprintf("tenant-%c", 'a'+i%3)
		status := bridge.StatusActive
		if i%4 == 0 {
			status = bridge.StatusNeedsReauth
		}
		acc := f.addAccount(t, "production", tenant, status)
		want["all"][acc.ID] = true
		if tenant == "tenant-a" {
			want["tenant-a"][acc.ID] = true
		}
		if status == bridge.StatusActive {
			want["active"][acc.ID] = true
			if tenant == "tenant-a" {
				want["tenant-a-active"][acc.ID] = true
			}
		}
	}
	f.addAccount(t, "staging", "tenant-a", bridge.StatusActive) // never listed for production
	for name, query := range map[string]string{
		"all": "", "tenant-a": "tenant_id=tenant-a", "active": "status=active", "tenant-a-active": "tenant_id=tenant-a&status=active",
	} {
		t.Run(name, func(t *testing.T) {
			seen := map[string]bool{}
			var prev string
			next := ""
			for pages := 0; ; pages++ {
				q, _ := url.ParseQuery(query)
				q.Set("limit", "37")
				if next != "" {
					q.Set("next_cursor", next)
				}
				status, body := f.get(t, "production", "/integrated-accounts?"+q.Encode())
				l := decodeList(t, status, body)
				for _, a := range l.Result {
					if seen[a.ID] {
						t.Fatalf("account %s listed twice", a.ID)
					}
					if prev != "" && a.ID >= prev {
						t.Fatalf("not newest first: %s after %s", a.ID, prev)
					}
					prev = a.ID
					seen[a.ID] = true
				}
				if l.NextCursor == nil {
					break
				}
				next = *l.NextCursor
				if pages > 20 {
					t.Fatal("pagination does not end")
				}
			}
			if len(seen) != len(want[name]) {
				t.Fatalf("listed %d accounts, want %d", len(seen), len(want[name]))
			}
			for id := range want[name] {
				if !seen[id] {
					t.Errorf("account %s missing", id)
				}
			}
		})
	}
}

func TestBadListRequests(t *testing.T) {
	f := newFixture(t)
	for range 3 {
		f.addAccount(t, "production", "t", bridge.StatusActive)
	}
	_, body := f.get(t, "production", "/integrated-accounts?limit=1")
	l := decodeList(t, 200, body)
	cursor := *l.NextCursor
	tampered := cursor[:len(cursor)-3] + "AAA"
	tests := []struct {
		name, query, msg string
	}{
		{"limit zero", "limit=0", "limit must be an integer from 1 to 1000"},
		{"limit too big", "limit=1001", "limit must be"},
		{"limit not a number", "limit=abc", "limit must be"},
		{"unknown filter", "tenant=t", `Unknown query parameter "tenant"`},
		{"bad status", "status=gone", "status must be one of"},
		{"tampered cursor", "next_cursor=" + url.QueryEscape(tampered), "cursor is invalid"},
		{"cursor for other filters", "tenant_id=t&next_cursor=" + url.QueryEscape(cursor), "cursor is invalid"},
		{"garbage cursor", "next_cursor=%00%01", "cursor is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.get(t, "production", "/integrated-accounts?"+tt.query)
			assertError(t, status, body, 400, tt.msg)
		})
	}
	t.Run("cursor from another environment", func(t *testing.T) {
		status, body := f.get(t, "staging", "/integrated-accounts?next_cursor="+url.QueryEscape(cursor))
		assertError(t, status, body, 400, "cursor is invalid")
	})
}

func TestGetAndDelete(t *testing.T) {
	f := newFixture(t)
	acc := f.addAccount(t, "production", "tenant-a", bridge.StatusActive)
	ref := vault.Ref{Environment: "production", Kind: vault.KindAccount, ID: acc.ID}

	status, body := f.get(t, "production", "/integrated-accounts/"+acc.ID)
	var v bridge.AccountView
	if status != 200 || json.Unmarshal(body, &v) != nil || v.ID != acc.ID || v.Project == nil || v.Project.KeyKind != "secret" || string(v.Context) != `{"plan":"pro"}` {
		t.Fatalf("get: %d %s", status, body)
	}
	if strings.Contains(string(body), "sb_secret_") || strings.Contains(string(body), `"version"`) {
		t.Errorf("the view leaks a credential or internal field: %s", body)
	}

	// Another environment's account is indistinguishable from a missing one.
	for _, c := range []struct{ method, path string }{
		{"GET", "/integrated-accounts/" + acc.ID},
		{"DELETE", "/integrated-accounts/" + acc.ID},
	} {
		status, body := f.do(t, c.method, "staging", c.path)
		assertError(t, status, body, 404, "Integrated account not found")
	}
	status, body = f.get(t, "production", "/integrated-accounts/not-an-id")
	assertError(t, status, body, 404, "not found")

	status, body = f.do(t, "DELETE", "production", "/integrated-accounts/"+acc.ID)
	if status != 200 || strings.TrimSpace(string(body)) != `{"id":"`+acc.ID+`"}` {
		t.Fatalf("delete: %d %s", status, body)
	}
	if _, err := f.a.Vault.GetFresh(context.Background(), ref); err == nil {
		t.Error("the credential survived the delete")
	}
	status, body = f.get(t, "production", "/integrated-accounts/"+acc.ID)
	assertError(t, status, body, 404, "not found")
	status, body = f.do(t, "DELETE", "production", "/integrated-accounts/"+acc.ID)
	assertError(t, status, body, 404, "not found")
}

func TestHealthNeedsNoKey(t *testing.T) {
	f := newFixture(t)
	status, body := f.get(t, "", "/healthz")
	if status != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("got %d %s", status, body)
	}
	status, body = f.get(t, "", "/integrated-accounts")
	assertError(t, status, body, 401, "Authorization: Bearer")
}
