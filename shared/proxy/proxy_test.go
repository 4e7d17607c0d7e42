package proxy_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/localsupabase/faults"
	"github.com/supabridge/supabridge/shared/vault"
)

func mgmtCount(route string) int {
	return stack.Faults().Count(faults.Match{Server: localsupabase.ManagementServer, Route: route})
}

// upstreamCalls is every request the local Supabase received since the
// counters were reset.
func upstreamCalls() int {
	n := 0
	for _, c := range stack.Faults().Counts() {
		n += c.Count
	}
	return n
}

func resetPlatform(t *testing.T) {
	t.Helper()
	stack.Faults().Clear()
	stack.Faults().ResetCounts()
	t.Cleanup(stack.Faults().Clear)
}

func TestManagementAPI(t *testing.T) {
	w := newWorld(t)
	for _, tt := range []struct {
		name string
		link func() *bridge.Account
	}{
		{"OAuth", w.oauthAccount},
		{"personal access token", w.patAccount},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.link()
			r := w.call(request{path: "v1/organizations", account: a.ID})
			wantRemote(t, r, http.StatusOK)
			if !strings.Contains(string(r.body), `"`+stack.Organization().Slug+`"`) {
				t.Errorf("organizations: %s", r.body)
			}
			// The account may also come as a query parameter.
			r = w.call(request{path: "v1/projects/" + orgProject.Ref + "/api-keys?reveal=false&integrated_account_id=" + a.ID})
			wantRemote(t, r, http.StatusOK)
			var keys []map[string]any
			if err := json.Unmarshal(r.body, &keys); err != nil || len(keys) != 4 {
				t.Errorf("api-keys: %s", r.body)
			}
			// Supabase's own error body comes back as Supabase wrote it.
			r = w.call(request{path: "v1/projects/zzzzzzzzzzzzzzzzzzzz", account: a.ID})
			wantRemote(t, r, http.StatusNotFound)
			if string(r.body) != `{"message":"Project not found"}` {
				t.Errorf("body %s", r.body)
			}
			// A write with a body.
			r = w.call(request{method: http.MethodPost, path: "v1/projects/" + orgProject.Ref + "/database/query", account: a.ID,
				header: http.Header{"Content-Type": {"application/json"}}, body: strings.NewReader(`{"query":"select count(*)::int as n from px_books"}`)})
			wantRemote(t, r, http.StatusCreated)
			if !strings.Contains(string(r.body), `"n":5`) {
				t.Errorf("query: %s", r.body)
			}
		})
	}
}

// TestExpiredTokenRefreshesOnce: the platform considers the access token
// expired while Supabridge still trusts it (clock skew, an early
// revocation): the 401 is answered by one refresh and one retry, also for a
// POST whose body was kept.
func TestExpiredTokenRefreshesOnce(t *testing.T) {
	w := newWorld(t)
	a := w.oauthAccount()
	wantRemote(t, w.call(request{path: "v1/organizations", account: a.ID}), http.StatusOK)
	t.Cleanup(func() { platformClock.set(0) })

	resetPlatform(t)
	platformClock.set(25 * time.Hour)
	wantRemote(t, w.call(request{path: "v1/organizations", account: a.ID}), http.StatusOK)
	if got := mgmtCount("POST /v1/oauth/token"); got != 1 {
		t.Errorf("token calls = %d, want 1", got)
	}
	if got := mgmtCount("GET /v1/organizations"); got != 2 {
		t.Errorf("organizations calls = %d, want 2 (the 401 and the retry)", got)
	}

	resetPlatform(t)
	platformClock.set(50 * time.Hour)
	r := w.call(request{method: http.MethodPost, path: "v1/projects/" + orgProject.Ref + "/database/query", account: a.ID,
		header: http.Header{"Content-Type": {"application/json"}}, body: strings.NewReader(`{"query":"select 40 + 2 as n"}`)})
	wantRemote(t, r, http.StatusCreated)
	if !strings.Contains(string(r.body), `"n":42`) {
		t.Errorf("replayed body answered %s", r.body)
	}
	if got, q := mgmtCount("POST /v1/oauth/token"), mgmtCount("POST /v1/projects/{ref}/database/query"); got != 1 || q != 2 {
		t.Errorf("token calls = %d, queries = %d; want 1 and 2", got, q)
	}
}

// TestCredentialRejected: a credential Supabase no longer accepts. The
// rejection passes through as Supabase wrote it, the account moves to
// needs_reauth, and later requests get Supabridge's envelope without an
// upstream call. A 401 that is not about the account's key (a user's bad
// token) changes nothing.
func TestCredentialRejected(t *testing.T) {
	w := newWorld(t)
	p := stack.Project()
	for _, tt := range []struct {
		name string
		link func() *bridge.Account
		path string
	}{
		{"project key", func() *bridge.Account { return w.keyAccount(p, "sb_secret_revokedRevokedRevoked_00000000") }, "rest/v1/px_books"},
		{"personal access token", func() *bridge.Account {
			return w.save(&bridge.Account{AuthMethod: bridge.AuthAccessToken, OrganizationSlug: stack.Organization().Slug},
				bridge.Credential{Method: bridge.AuthAccessToken, PersonalAccessToken: "sbp_0000000000000000000000000000000000000000"})
		}, "v1/organizations"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.link()
			wantRemote(t, w.call(request{path: tt.path, account: a.ID}), http.StatusUnauthorized)
			stored, err := w.app.Store.GetAccount(context.Background(), testEnv, a.ID)
			if err != nil || stored.Status != bridge.StatusNeedsReauth {
				t.Fatalf("account after the rejection: %+v, %v", stored, err)
			}
			resetPlatform(t)
			wantEnvelope(t, w.call(request{path: tt.path, account: a.ID}), http.StatusUnauthorized, bridge.ENEEDSREAUTH)
			if n := upstreamCalls(); n != 0 {
				t.Errorf("%d upstream calls for a needs_reauth account", n)
			}
		})
	}
	t.Run("a user's bad token", func(t *testing.T) {
		a := w.keyAccount(p, p.SecretKey)
		r := w.call(request{path: "rest/v1/px_notes", account: a.ID, header: http.Header{
			"Apikey": {w.key}, "Authorization": {"Bearer " + userToken(t, orgProject, "33333333-3333-3333-3333-333333333333")}}})
		wantRemote(t, r, http.StatusUnauthorized)
		if stored, _ := w.app.Store.GetAccount(context.Background(), testEnv, a.ID); stored.Status != bridge.StatusActive {
			t.Errorf("account became %s after a user's token was refused", stored.Status)
		}
	})
	t.Run("rotated project key of an organization account", func(t *testing.T) {
		a := w.oauthAccount()
		// The stored form of a project key, as the resolver keeps it, with
		// a key the project no longer accepts.
		stale, _ := json.Marshal(map[string]any{"url": orgProject.APIURL, "key": "sb_secret_rotatedRotatedRotated_00000000", "kind": "secret", "bypasses_rls": true})
		if err := w.app.Vault.Put(context.Background(), vault.Ref{Environment: testEnv, Kind: vault.KindProject, ID: a.ID + "/" + orgProject.Ref}, stale); err != nil {
			t.Fatal(err)
		}
		resetPlatform(t)
		r := w.call(request{path: "rest/v1/px_books?select=id&id=eq.4", account: a.ID, ref: orgProject.Ref})
		wantRemote(t, r, http.StatusOK)
		if string(r.body) != `[{"id":4}]` {
			t.Errorf("body %s", r.body)
		}
		if n := mgmtCount("GET /v1/projects/{ref}/api-keys"); n != 1 {
			t.Errorf("api-keys fetched %d times, want 1", n)
		}
		if n := stack.Faults().Count(faults.Match{Server: orgProject.ServerName(), Path: "/rest/v1/px_books"}); n != 2 {
			t.Errorf("project calls = %d, want 2 (the rejection and the retry)", n)
		}
	})
}

// TestWarmPath: on a warm function a proxied request makes exactly one
// upstream call and no state store or vault call.
func TestWarmPath(t *testing.T) {
	w := newWorld(t)
	key := w.keyAccount(stack.Project(), stack.Project().SecretKey)
	org := w.oauthAccount()
	for _, tt := range []struct {
		name string
		req  request
	}{
		{"project by key", request{path: "rest/v1/px_books?select=id&limit=1", account: key.ID}},
		{"project of an organization", request{path: "rest/v1/px_books?select=id&limit=1", account: org.ID, ref: orgProject.Ref}},
		{"Management API", request{path: "v1/organizations", account: org.ID}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantRemote(t, w.call(tt.req), http.StatusOK) // cold
			resetPlatform(t)
			w.counts.store.Store(0)
			w.counts.vault.Store(0)
			wantRemote(t, w.call(tt.req), http.StatusOK)
			if s, v, u := w.counts.store.Load(), w.counts.vault.Load(), upstreamCalls(); s != 0 || v != 0 || u != 1 {
				t.Errorf("warm request: %d store calls, %d vault calls, %d upstream calls; want 0, 0, 1", s, v, u)
			}
		})
	}
}

// TestFaults: transient failures of idempotent requests are retried,
// others and rate limits pass through.
func TestFaults(t *testing.T) {
	w := newWorld(t)
	p := stack.Project()
	key := w.keyAccount(p, p.ServiceRoleKey)
	org := w.patAccount()
	books := faults.Match{Server: p.ServerName(), Path: "/rest/v1/px_books"}
	rpc := faults.Match{Server: p.ServerName(), Path: "/rest/v1/rpc/px_add"}

	t.Run("503 then 200 on GET", func(t *testing.T) {
		resetPlatform(t)
		stack.Faults().FailNext(books, http.StatusServiceUnavailable, "", 1)
		r := w.call(request{path: "rest/v1/px_books?select=id&id=eq.1", account: key.ID})
		wantRemote(t, r, http.StatusOK)
		if n := stack.Faults().Count(books); n != 2 {
			t.Errorf("calls = %d, want 2", n)
		}
	})
	t.Run("502 and 504 then 200", func(t *testing.T) {
		resetPlatform(t)
		stack.Faults().FailNext(books, http.StatusBadGateway, "", 1)
		stack.Faults().FailNext(books, http.StatusGatewayTimeout, "", 1)
		wantRemote(t, w.call(request{path: "rest/v1/px_books?select=id", account: key.ID}), http.StatusOK)
		if n := stack.Faults().Count(books); n != 3 {
			t.Errorf("calls = %d, want 3", n)
		}
	})
	t.Run("503 three times: two retries, then Supabase's answer", func(t *testing.T) {
		resetPlatform(t)
		stack.Faults().FailNext(books, http.StatusServiceUnavailable, `{"message":"still down"}`, 3)
		r := w.call(request{path: "rest/v1/px_books", account: key.ID})
		wantRemote(t, r, http.StatusServiceUnavailable)
		if string(r.body) != `{"message":"still down"}` {
			t.Errorf("body %s", r.body)
		}
		if n := stack.Faults().Count(books); n != 3 {
			t.Errorf("calls = %d, want 3", n)
		}
	})
	t.Run("503 on POST is not retried", func(t *testing.T) {
		resetPlatform(t)
		stack.Faults().FailNext(rpc, http.StatusServiceUnavailable, "", 1)
		r := w.call(request{method: http.MethodPost, path: "rest/v1/rpc/px_add", account: key.ID,
			header: http.Header{"Content-Type": {"application/json"}}, body: strings.NewReader(`{"a":1,"b":2}`)})
		wantRemote(t, r, http.StatusServiceUnavailable)
		if n := stack.Faults().Count(rpc); n != 1 {
			t.Errorf("calls = %d, want 1", n)
		}
	})
	t.Run("dropped connections on GET", func(t *testing.T) {
		resetPlatform(t)
		stack.Faults().DropNext(books, 2)
		wantRemote(t, w.call(request{path: "rest/v1/px_books?select=id", account: key.ID}), http.StatusOK)
	})
	t.Run("dropped connection on POST", func(t *testing.T) {
		resetPlatform(t)
		stack.Faults().DropNext(rpc, 1)
		r := w.call(request{method: http.MethodPost, path: "rest/v1/rpc/px_add", account: key.ID,
			header: http.Header{"Content-Type": {"application/json"}}, body: strings.NewReader(`{"a":1,"b":2}`)})
		wantEnvelope(t, r, http.StatusServiceUnavailable, bridge.EUNAVAILABLE)
		if n := stack.Faults().Count(rpc); n != 1 {
			t.Errorf("calls = %d, want 1", n)
		}
	})
	t.Run("429 passes through with its headers", func(t *testing.T) {
		resetPlatform(t)
		m := faults.Match{Server: localsupabase.ManagementServer, Path: "/v1/organizations"}
		stack.Faults().RateLimitNext(m, 1)
		r := w.call(request{path: "v1/organizations", account: org.ID})
		wantRemote(t, r, http.StatusTooManyRequests)
		for _, h := range []string{"X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset"} {
			if r.header.Get(h) == "" {
				t.Errorf("429 without %s: %v", h, r.header)
			}
		}
		if !strings.Contains(string(r.body), "ThrottlerException") {
			t.Errorf("body %s", r.body)
		}
		if n := stack.Faults().Count(m); n != 1 {
			t.Errorf("calls = %d, want 1", n)
		}
	})
}

// TestRetryAfter: Retry-After is waited for when it fits in the request's
// deadline, and not retried at all when it does not.
func TestRetryAfter(t *testing.T) {
	deadline := func(d time.Duration) worldOption {
		return withServe(func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx, cancel := context.WithTimeout(r.Context(), d)
				defer cancel()
				h.ServeHTTP(w, r.WithContext(ctx))
			})
		})
	}
	httpDate := func(d time.Duration) string {
		return strings.ReplaceAll(time.Now().Add(d).UTC().Format(http.TimeFormat), " ", "%20")
	}
	for _, tt := range []struct {
		name     string
		deadline time.Duration
		query    func() string
		status   int
		calls    int
		minWait  time.Duration
	}{
		{"honoured", 10 * time.Second, func() string { return "fail=1&status=503&after=1" }, 200, 2, time.Second},
		{"past the deadline", 2500 * time.Millisecond, func() string { return "fail=1&status=503&after=2" }, 503, 1, 0},
		{"longer than the proxy waits", time.Minute, func() string { return "fail=1&status=503&after=60" }, 503, 1, 0},
		{"504 with an HTTP date", 10 * time.Second, func() string { return "fail=1&status=504&after=" + httpDate(2*time.Second) }, 200, 2, time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := newTestUpstream(t, "sb_secret_upstreamUpstream_00000000")
			w := newWorld(t, deadline(tt.deadline))
			a := w.keyAccountAt("abcdefghijklmnopqrst", up.URL, up.key)
			start := time.Now()
			r := w.call(request{path: "storage/v1/flaky?" + tt.query(), account: a.ID})
			wantRemote(t, r, tt.status)
			if took := time.Since(start); took < tt.minWait || (tt.calls == 1 && took > time.Second) {
				t.Errorf("took %v", took)
			}
			if n := up.count("/storage/v1/flaky"); n != tt.calls {
				t.Errorf("calls = %d, want %d", n, tt.calls)
			}
		})
	}
}
