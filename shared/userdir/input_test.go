package userdir_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/directory"
)

func TestBadInputIsAClientError(t *testing.T) {
	p := newProject(t, "bad-input")
	f := newFixture(t)
	acct := f.projectAccount(t, p)
	other := f.projectAccount(t, p)
	staging := f.link(t, "staging", &bridge.Account{AuthMethod: bridge.AuthAPIKey, ProjectRef: p.Ref, ProjectURL: p.APIURL, KeyKind: bridge.KeySecret, BypassesRLS: true},
		bridge.Credential{Method: bridge.AuthAPIKey, APIKey: bridge.Secret(p.SecretKey)})
	for i := range 3 {
		ok(t, f.do(t, req{method: "POST", path: base + "/roles", query: q(acct), body: map[string]string{"name": "role-" + string(rune('a'+i))}}), 201, nil)
	}
	var page list[directory.Role]
	ok(t, f.do(t, req{method: "GET", path: base + "/roles", query: q(acct, "limit", "1")}), 200, &page)
	cursor := *page.NextCursor
	tampered := []byte(cursor)
	tampered[len(tampered)/3] ^= 1
	var usersPage list[directory.User]
	ok(t, f.do(t, req{method: "POST", path: base + "/users", query: q(acct), body: map[string]any{"email": "one@example.com"}}), 201, nil)
	ok(t, f.do(t, req{method: "POST", path: base + "/users", query: q(acct), body: map[string]any{"email": "two@example.com"}}), 201, nil)
	ok(t, f.do(t, req{method: "GET", path: base + "/users", query: q(acct, "limit", "1")}), 200, &usersPage)

	tests := []struct {
		name   string
		r      req
		status int
		code   string
		want   string
	}{
		{"tampered cursor", req{method: "GET", path: base + "/roles", query: q(acct, "next_cursor", string(tampered))}, 400, bridge.EINVALID, "cursor is invalid"},
		{"cursor of another account", req{method: "GET", path: base + "/roles", query: q(other, "next_cursor", cursor)}, 400, bridge.EINVALID, "cursor is invalid"},
		{"cursor of another resource", req{method: "GET", path: base + "/organizations", query: q(acct, "next_cursor", cursor)}, 400, bridge.EINVALID, "cursor is invalid"},
		{"cursor of other filters", req{method: "GET", path: base + "/users", query: q(acct, "next_cursor", *usersPage.NextCursor, "status", "active")}, 400, bridge.EINVALID, "cursor is invalid"},
		{"garbage cursor", req{method: "GET", path: base + "/roles", query: q(acct, "next_cursor", "%%%not-a-cursor")}, 400, bridge.EINVALID, "cursor is invalid"},
		{"limit 0", req{method: "GET", path: base + "/users", query: q(acct, "limit", "0")}, 400, bridge.EINVALID, "limit must be an integer from 1 to 1000"},
		{"limit 1001", req{method: "GET", path: base + "/users", query: q(acct, "limit", "1001")}, 400, bridge.EINVALID, "limit must be an integer from 1 to 1000"},
		{"limit abc", req{method: "GET", path: base + "/users", query: q(acct, "limit", "abc")}, 400, bridge.EINVALID, "limit must be an integer from 1 to 1000"},
		{"limit twice", req{method: "GET", path: base + "/users", query: q(acct, "limit", "1", "limit", "2")}, 400, bridge.EINVALID, "only once"},
		{"unknown filter", req{method: "GET", path: base + "/users", query: q(acct, "department", "sales")}, 400, bridge.EINVALID, `Unknown query parameter "department"`},
		{"filter of another resource", req{method: "GET", path: base + "/roles", query: q(acct, "email", "a@example.com")}, 400, bridge.EINVALID, `Unknown query parameter "email"`},
		{"bad status", req{method: "GET", path: base + "/users", query: q(acct, "status", "asleep")}, 400, bridge.EINVALID, "status must be"},
		{"bad updated_after", req{method: "GET", path: base + "/users", query: q(acct, "updated_after", "yesterday")}, 400, bridge.EINVALID, "RFC 3339"},
		{"unknown excluded field", req{method: "GET", path: base + "/users", query: q(acct, "exclude_fields[]", "salary")}, 400, bridge.EINVALID, `"salary" is not a field`},
		{"reserved remote parameter", req{method: "GET", path: base + "/roles", query: q(acct, "remote_query[order]", "name")}, 400, bridge.EINVALID, "reserved"},
		{"remote parameter Auth does not take", req{method: "GET", path: base + "/users", query: q(acct, "remote_query[page]", "3")}, 400, bridge.EINVALID, "reserved"},
		{"remote parameter users reject", req{method: "GET", path: base + "/users", query: q(acct, "remote_query[aud]", "x")}, 400, bridge.EINVALID, "only remote_query[filter]"},
		{"remote filter the Data API rejects", req{method: "GET", path: base + "/roles", query: q(acct, "remote_query[name]", "eq")}, 400, bridge.EINVALID, "remote_query was rejected"},
		{"remote filter on an unknown column", req{method: "GET", path: base + "/roles", query: q(acct, "remote_query[colour]", "eq.red")}, 400, bridge.EINVALID, "42703"},
		{"missing account", req{method: "GET", path: base + "/users", query: url.Values{}}, 400, bridge.EINVALID, "integrated_account_id is required"},
		{"unknown account", req{method: "GET", path: base + "/users", query: url.Values{"integrated_account_id": {bridge.NewID()}}}, 404, bridge.ENOTFOUND, "not found"},
		{"malformed account id", req{method: "GET", path: base + "/users", query: url.Values{"integrated_account_id": {"../../etc"}}}, 404, bridge.ENOTFOUND, "not found"},
		{"account of another environment", req{method: "GET", path: base + "/users", query: q(staging)}, 404, bridge.ENOTFOUND, "not found"},
		{"production account with the staging key", req{method: "GET", path: base + "/users", query: q(acct), key: f.other}, 404, bridge.ENOTFOUND, "not found"},
		{"no API key", req{method: "GET", path: base + "/users", query: q(acct), key: "nope"}, 401, bridge.EUNAUTHORIZED, "invalid"},
		{"bad JSON", req{method: "POST", path: base + "/roles", query: q(acct), body: `{"name":`}, 400, bridge.EINVALID, "not valid JSON"},
		{"unknown body field", req{method: "POST", path: base + "/roles", query: q(acct), body: map[string]any{"name": "x", "color": "red"}}, 400, bridge.EINVALID, `"color" is not recognised`},
		{"wrong body type", req{method: "POST", path: base + "/users", query: q(acct), body: map[string]any{"email": 42}}, 400, bridge.EINVALID, `"email" must be a string`},
		{"invalid user", req{method: "POST", path: base + "/users", query: q(acct), body: map[string]any{"email": "not-an-email", "phone": "12"}}, 422, bridge.EUNPROCESSABLE, "email must be a plain email address"},
		{"user without email or phone", req{method: "POST", path: base + "/users", query: q(acct), body: map[string]any{"name": "x"}}, 422, bridge.EUNPROCESSABLE, "email or a phone"},
		{"empty update", req{method: "PATCH", path: base + "/roles/" + page.Result[0].ID, query: q(acct), body: map[string]any{}}, 422, bridge.EUNPROCESSABLE, "changes nothing"},
		{"status a caller cannot set", req{method: "PATCH", path: base + "/users/" + usersPage.Result[0].ID, query: q(acct), body: map[string]any{"status": "deleted"}}, 422, bridge.EUNPROCESSABLE, "active or inactive"},
		{"duplicate email", req{method: "POST", path: base + "/users", query: q(acct), body: map[string]any{"email": "one@example.com"}}, 422, bridge.EUNPROCESSABLE, "email_exists"},
		{"unknown role", req{method: "GET", path: base + "/roles/" + bridge.NewID(), query: q(acct)}, 404, bridge.ENOTFOUND, "not found"},
		{"role id of the wrong type", req{method: "GET", path: base + "/roles/abc", query: q(acct)}, 400, bridge.EINVALID, "22P02"},
		{"organizations cannot be deleted", req{method: "DELETE", path: base + "/organizations/x", query: q(acct)}, 405, bridge.EMETHOD, "not allowed"},
		{"bad idempotency key", req{method: "POST", path: base + "/roles", query: q(acct), body: map[string]any{"name": "k"}, header: map[string]string{"Idempotency-Key": strings.Repeat("k", 300)}}, 400, bridge.EINVALID, "Idempotency-Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, tt.r)
			if r.status >= 500 {
				t.Fatalf("a caller's mistake answered %s", r)
			}
			fails(t, r, tt.status, tt.code, tt.want)
		})
	}
}

func TestIdempotency(t *testing.T) {
	p := newProject(t, "idempotency")
	f := newFixture(t)
	acct := f.projectAccount(t, p)
	key := map[string]string{"Idempotency-Key": "create-ada-1"}
	body := map[string]any{"email": "ada@example.com", "name": "Ada"}
	first := f.do(t, req{method: "POST", path: base + "/users", query: q(acct), body: body, header: key})
	var u directory.User
	ok(t, first, 201, &u)
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Error("the first response is marked as replayed")
	}
	again := f.do(t, req{method: "POST", path: base + "/users", query: q(acct), body: body, header: key})
	if again.status != 201 || string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay = %s (replayed %q), want the first response again", again, again.header.Get("Idempotent-Replayed"))
	}
	if n := count(t, p, "select count(*) from auth.users where email = 'ada@example.com'"); n != 1 {
		t.Errorf("%d users created under one key", n)
	}
	fails(t, f.do(t, req{method: "POST", path: base + "/users", query: q(acct), body: map[string]any{"email": "other@example.com"}, header: key}),
		409, bridge.EIDEMPOTENCY, "different request")
	// The key belongs to the account: another account may use it.
	other := f.projectAccount(t, newProject(t, "idempotency-2"))
	ok(t, f.do(t, req{method: "POST", path: base + "/users", query: q(other), body: body, header: key}), 201, nil)

	// PATCH too; a failure that invites a retry is not kept.
	patchKey := map[string]string{"Idempotency-Key": "rename-ada"}
	stack.Faults().FailNext(authUpdate(p), 503, "", 1)
	r := f.do(t, req{method: "PATCH", path: base + "/users/" + u.ID, query: q(acct), body: map[string]any{"user_metadata": map[string]any{"x": 1}}, header: patchKey})
	if r.status != 503 {
		t.Fatalf("injected failure answered %s", r)
	}
	ok(t, f.do(t, req{method: "PATCH", path: base + "/users/" + u.ID, query: q(acct), body: map[string]any{"user_metadata": map[string]any{"x": 1}}, header: patchKey}), 200, nil)
}
