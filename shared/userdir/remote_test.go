package userdir_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/supabridge/supabridge/shared/app/apptest"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/directory"
	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/localsupabase/faults"
)

func authUpdate(p *localsupabase.Project) faults.Match {
	return faults.Match{Server: p.ServerName(), Method: "PUT", Path: "/auth/v1/admin/users/*"}
}

func authDelete(p *localsupabase.Project) faults.Match {
	return faults.Match{Server: p.ServerName(), Method: "DELETE", Path: "/auth/v1/admin/users/*"}
}

func restWrite(p *localsupabase.Project, method, table string) faults.Match {
	return faults.Match{Server: p.ServerName(), Method: method, Path: "/rest/v1/" + table}
}

func TestSupabaseErrorsAreForwarded(t *testing.T) {
	p := newProject(t, "remote-errors")
	f := newFixture(t)
	acct := f.projectAccount(t, p)

	// A rate limit: 429 with Supabase's body and headers.
	stack.Faults().RateLimitNext(faults.Match{Server: p.ServerName(), Method: "POST", Path: "/rest/v1/rpc/directory_auth_users"}, 1)
	r := f.do(t, req{method: "GET", path: base + "/users", query: q(acct)})
	e := fails(t, r, 429, bridge.ERATELIMIT, "over_request_rate_limit")
	if !e.RemoteError || len(e.RawResponse) == 0 {
		t.Errorf("rate limit envelope = %+v", e)
	}
	var raw map[string]any
	if err := json.Unmarshal(e.RawResponse, &raw); err != nil || raw["error_code"] != "over_request_rate_limit" {
		t.Errorf("raw_response = %s, want Supabase's body", e.RawResponse)
	}

	// The Management API's rate-limit headers are forwarded as sent.
	org := f.orgAccount(t, "production")
	stack.Faults().RateLimitNext(faults.Match{Server: localsupabase.ManagementServer, Route: "GET /v1/organizations/{slug}/members"}, 1)
	r = f.do(t, req{method: "GET", path: base + "/users", query: q(org)})
	fails(t, r, 429, bridge.ERATELIMIT, "Management API")
	if r.header.Get("X-RateLimit-Remaining") != "0" || r.header.Get("X-RateLimit-Reset") == "" || r.header.Get("Retry-After") == "" {
		t.Errorf("forwarded headers = %v", r.header)
	}

	// An upstream failure is a 502 marked remote; Supabridge's own errors
	// are not.
	stack.Faults().FailNext(faults.Match{Server: p.ServerName(), Method: "GET", Path: "/rest/v1/roles"}, 500, `{"code":"XX000","message":"boom","details":null,"hint":null}`, 1)
	e = fails(t, f.do(t, req{method: "GET", path: base + "/roles", query: q(acct)}), 502, bridge.EREMOTE, "boom")
	if !e.RemoteError || e.Details["remote_status"] != float64(500) {
		t.Errorf("remote failure envelope = %+v", e)
	}
	e = fails(t, f.do(t, req{method: "GET", path: base + "/roles", query: q(acct, "limit", "0")}), 400, bridge.EINVALID, "limit")
	if e.RemoteError || e.RawResponse != nil {
		t.Errorf("a local error is marked remote: %+v", e)
	}
}

func TestHalfDoneWritesAreUndone(t *testing.T) {
	p := newProject(t, "compensation")
	f := newFixture(t)
	acct := f.projectAccount(t, p)
	orgA, orgB, editor, viewer := f.seedDirectory(t, acct)
	grants := []map[string]string{{"id": editor.ID, "organization_id": orgA.ID}}

	// Create: the role assignments fail, so the Auth user goes again.
	stack.Faults().FailNext(restWrite(p, "POST", "user_roles"), 500, "", 1)
	r := f.do(t, req{method: "POST", path: base + "/users", query: q(acct), body: map[string]any{"email": "half@example.com", "roles": grants}})
	e := fails(t, r, 502, bridge.EREMOTE, "role_assignments failed")
	if e.Details["compensated"] != true || e.Details["failed_step"] != "role_assignments" || !e.RemoteError {
		t.Errorf("details = %v", e.Details)
	}
	if n := count(t, p, "select count(*) from auth.users where email = 'half@example.com'"); n != 0 {
		t.Errorf("a half-created user is left: %d", n)
	}

	// Create, and undoing fails too: the error names the user left behind.
	stack.Faults().FailNext(restWrite(p, "POST", "user_roles"), 500, "", 1)
	stack.Faults().FailNext(authDelete(p), 500, "", 1)
	r = f.do(t, req{method: "POST", path: base + "/users", query: q(acct), body: map[string]any{"email": "stuck@example.com", "roles": grants}})
	e = fails(t, r, 502, bridge.EREMOTE, "is left with them")
	if e.Details["compensated"] != false || e.Details["user_id"] == "" {
		t.Errorf("details = %v", e.Details)
	}
	if n := count(t, p, "select count(*) from auth.users where id = $1", e.Details["user_id"]); n != 1 {
		t.Errorf("the user the error names does not exist")
	}

	// Update: the Auth change fails after the roles changed; they are put
	// back.
	var u directory.User
	ok(t, f.do(t, req{method: "POST", path: base + "/users", query: q(acct), body: map[string]any{"email": "whole@example.com", "first_name": "Ada", "roles": grants}}), 201, &u)
	before := count(t, p, "select count(*) from public.user_roles where user_id = $1 and role_id = $2 and organization_id = $3", u.ID, editor.ID, orgA.ID)
	stack.Faults().FailNext(authUpdate(p), 500, "", 1)
	r = f.do(t, req{method: "PATCH", path: base + "/users/" + u.ID, query: q(acct), body: map[string]any{
		"email": "changed@example.com", "first_name": "Augusta",
		"roles": []map[string]string{{"id": viewer.ID, "organization_id": orgB.ID}},
	}})
	e = fails(t, r, 502, bridge.EREMOTE, "auth_user failed")
	if e.Details["compensated"] != true {
		t.Errorf("details = %v", e.Details)
	}
	var g directory.User
	ok(t, f.do(t, req{method: "GET", path: base + "/users/" + u.ID, query: q(acct)}), 200, &g)
	wantRoles(t, g, "editor@Acme")
	if g.FirstName != "Ada" || g.Emails[0].Email != "whole@example.com" || before != 1 {
		t.Errorf("after an undone update: %+v", g)
	}

	// Delete: Auth refuses, so the profile and assignments are put back.
	stack.Faults().FailNext(authDelete(p), 500, "", 1)
	fails(t, f.do(t, req{method: "DELETE", path: base + "/users/" + u.ID, query: q(acct)}), 502, bridge.EREMOTE, "put back")
	ok(t, f.do(t, req{method: "GET", path: base + "/users/" + u.ID, query: q(acct)}), 200, &g)
	wantRoles(t, g, "editor@Acme")
	if g.FirstName != "Ada" {
		t.Errorf("profile after an undone delete: %+v", g)
	}
}

// TestPrivateProjectHostsAreRefused: without the sandbox's permission, a
// project URL on a private address (here the local Supabase's loopback) is
// never dialled.
func TestPrivateProjectHostsAreRefused(t *testing.T) {
	p := newProject(t, "private-host")
	a := apptest.New(t, "directory-test", map[string]string{"SUPABRIDGE_MANAGEMENT_API_URL": stack.ManagementURL()}, nil)
	f := fixtureFor(t, a)
	acct := f.projectAccount(t, p)
	stack.Faults().ResetCounts()
	fails(t, f.do(t, req{method: "GET", path: base + "/users", query: q(acct)}), 403, bridge.EFORBIDDEN, "private or reserved address")
	if n := stack.Faults().Count(faults.Match{Server: p.ServerName()}); n != 0 {
		t.Errorf("the project received %d requests", n)
	}
}

// TestRevokedKeyMarksTheAccount: a project that rejects the account's key
// answers 401, the account is marked for reconnection, and later requests
// are refused without reaching Supabase.
func TestRevokedKeyMarksTheAccount(t *testing.T) {
	p := newProject(t, "revoked")
	f := newFixture(t)
	acct := f.projectAccount(t, p)
	ok(t, f.do(t, req{method: "GET", path: base + "/roles", query: q(acct)}), 200, nil)
	stack.Faults().FailNext(faults.Match{Server: p.ServerName(), Path: "/rest/v1/roles"}, 401,
		`{"message":"Invalid API key","hint":"Double check your Supabase `+"`anon`"+` or `+"`service_role`"+` API key."}`, 1)
	e := fails(t, f.do(t, req{method: "GET", path: base + "/roles", query: q(acct)}), 401, bridge.ENEEDSREAUTH, "Invalid API key")
	if !e.RemoteError {
		t.Errorf("envelope = %+v", e)
	}
	stored, err := f.a.Store.GetAccount(context.Background(), "production", acct.ID)
	if err != nil || stored.Status != bridge.StatusNeedsReauth {
		t.Fatalf("account after a rejected key: %+v, %v", stored, err)
	}
	stack.Faults().ResetCounts()
	fails(t, f.do(t, req{method: "GET", path: base + "/roles", query: q(acct)}), 401, bridge.ENEEDSREAUTH, "reconnected")
	if n := stack.Faults().Count(faults.Match{Server: p.ServerName()}); n != 0 {
		t.Errorf("%d calls reached the project after the account was marked", n)
	}
}
