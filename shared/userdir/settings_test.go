package userdir_test

import (
	"net/http"
	"testing"

	"github.com/supabridge/supabridge/shared/bridge"
)

type settingsBody struct {
	AccountID string `json:"integrated_account_id"`
	Directory struct {
		Schema            string `json:"schema"`
		AuthUsersFunction string `json:"auth_users_function"`
		Organizations     struct {
			Table   string            `json:"table"`
			Columns map[string]string `json:"columns"`
		} `json:"organizations"`
	} `json:"directory"`
}

// TestDirectorySettings: an operator points an account at a project whose
// organizations table has another name, through the settings route, and
// the directory then reads it.
func TestDirectorySettings(t *testing.T) {
	f := newFixture(t)
	p := newProject(t, "settings")
	sql(t, p, `alter table public.organizations rename to teams`)
	sql(t, p, `insert into public.teams (name) values ('Blue team')`)
	acct := f.projectAccount(t, p)
	path := base + "/settings"

	var got settingsBody
	ok(t, f.do(t, req{method: http.MethodGet, path: path, query: q(acct)}), http.StatusOK, &got)
	if got.AccountID != acct.ID || got.Directory.Organizations.Table != "organizations" || got.Directory.Schema != "public" {
		t.Fatalf("default settings = %+v", got)
	}
	// Before the mapping names the renamed table, the mismatch is reported
	// as the account's configuration problem, not as a server error.
	fails(t, f.do(t, req{method: http.MethodGet, path: base + "/organizations", query: q(acct)}), http.StatusUnprocessableEntity, bridge.EUNPROCESSABLE, "directory settings")

	ok(t, f.do(t, req{method: http.MethodPut, path: path, query: q(acct), body: map[string]any{
		"organizations": map[string]any{"table": "teams"},
	}}), http.StatusOK, &got)
	if got.Directory.Organizations.Table != "teams" || got.Directory.Organizations.Columns["name"] != "name" {
		t.Fatalf("settings after PUT = %+v", got)
	}
	var orgs list[map[string]any]
	ok(t, f.do(t, req{method: http.MethodGet, path: base + "/organizations", query: q(acct)}), http.StatusOK, &orgs)
	if len(orgs.Result) != 1 || orgs.Result[0]["name"] != "Blue team" {
		t.Fatalf("organizations through the mapping = %+v", orgs.Result)
	}
	ok(t, f.do(t, req{method: http.MethodGet, path: path, query: q(acct)}), http.StatusOK, &got)
	if got.Directory.Organizations.Table != "teams" {
		t.Errorf("settings do not persist: %+v", got)
	}

	for _, tt := range []struct {
		name   string
		body   any
		status int
		code   string
		want   string
	}{
		{"not an identifier", map[string]any{"organizations": map[string]any{"table": "teams; drop table x"}}, 422, bridge.EUNPROCESSABLE, "not a plain identifier"},
		{"unknown field", map[string]any{"roles": map[string]any{"columns": map[string]any{"colour": "c"}}}, 422, bridge.EUNPROCESSABLE, `has no field "colour"`},
		{"required column removed", map[string]any{"user_roles": map[string]any{"columns": map[string]any{"user_id": ""}}}, 422, bridge.EUNPROCESSABLE, "user_id is required"},
		{"not an object", `["teams"]`, 400, bridge.EINVALID, "JSON object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fails(t, f.do(t, req{method: http.MethodPut, path: path, query: q(acct), body: tt.body}), tt.status, tt.code, tt.want)
		})
	}
	// A refused mapping leaves the stored one alone.
	ok(t, f.do(t, req{method: http.MethodGet, path: path, query: q(acct)}), http.StatusOK, &got)
	if got.Directory.Organizations.Table != "teams" {
		t.Errorf("a refused PUT changed the settings: %+v", got)
	}

	fails(t, f.do(t, req{method: http.MethodGet, path: path, query: q(acct), key: f.other}), http.StatusNotFound, bridge.ENOTFOUND, "not found")
	fails(t, f.do(t, req{method: http.MethodGet, path: path}), http.StatusBadRequest, bridge.EINVALID, "integrated_account_id is required")
}
