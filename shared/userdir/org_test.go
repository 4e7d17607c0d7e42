package userdir_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/directory"
	"github.com/supabridge/supabridge/shared/localsupabase"
)

func TestOrganizationPlane(t *testing.T) {
	f := newFixture(t)
	acct := f.orgAccount(t, "production")
	o := stack.Organization()
	dev, err := stack.AddMember(o.Slug, localsupabase.Member{UserName: "grace", Email: "grace@example.com", RoleName: "developer", MFAEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	owner := stack.User()

	var orgs list[directory.Organization]
	ok(t, f.do(t, req{method: "GET", path: base + "/organizations", query: q(acct)}), 200, &orgs)
	if orgs.ResultCount != 1 || orgs.Result[0].ID != o.Slug || orgs.Result[0].Name != o.Name || len(orgs.Result[0].RemoteData) == 0 {
		t.Errorf("organizations = %+v", orgs)
	}
	var org directory.Organization
	ok(t, f.do(t, req{method: "GET", path: base + "/organizations/" + o.Slug, query: q(acct)}), 200, &org)
	if org.ID != o.Slug {
		t.Errorf("organization = %+v", org)
	}
	fails(t, f.do(t, req{method: "GET", path: base + "/organizations/someone-elses", query: q(acct)}), 404, bridge.ENOTFOUND, "not one this account reaches")

	var users list[directory.User]
	ok(t, f.do(t, req{method: "GET", path: base + "/users", query: q(acct)}), 200, &users)
	byID := map[string]directory.User{}
	for _, u := range users.Result {
		byID[u.ID] = u
	}
	g, ok1 := byID[dev.UserID]
	if !ok1 || g.Username != "grace" || g.Emails[0].Email != "grace@example.com" || g.Is2FAEnabled == nil || !*g.Is2FAEnabled ||
		len(g.Roles) != 1 || g.Roles[0].ID != "developer" || g.Roles[0].Organization == nil || g.Roles[0].Organization.ID != o.Slug ||
		g.Status != directory.StatusActive {
		t.Errorf("member grace = %+v", g)
	}
	if u, ok := byID[owner.UserID]; !ok || u.Roles[0].ID != "owner" {
		t.Errorf("the owner is missing or wrong: %+v", u)
	}
	ok(t, f.do(t, req{method: "GET", path: base + "/users", query: q(acct, "role_id", "developer")}), 200, &users)
	for _, u := range users.Result {
		if u.Roles[0].ID != "developer" {
			t.Errorf("role_id=developer listed %s", u.Roles[0].ID)
		}
	}
	var one directory.User
	ok(t, f.do(t, req{method: "GET", path: base + "/users/" + dev.UserID, query: q(acct, "exclude_fields[]", "remote_data", "exclude_fields[]", "phones")}), 200, &one)
	if one.ID != dev.UserID || one.RemoteData != nil || one.Phones != nil {
		t.Errorf("user with exclusions = %+v", one)
	}

	// Paging over members, one per page.
	seen := map[string]bool{}
	cursor := ""
	for {
		qv := q(acct, "limit", "1")
		if cursor != "" {
			qv.Set("next_cursor", cursor)
		}
		var page list[directory.User]
		ok(t, f.do(t, req{method: "GET", path: base + "/users", query: qv}), 200, &page)
		for _, u := range page.Result {
			if seen[u.ID] {
				t.Fatalf("user %s repeated", u.ID)
			}
			seen[u.ID] = true
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if len(seen) != len(stack.Members(o.Slug)) {
		t.Errorf("paged %d members, the organization has %d", len(seen), len(stack.Members(o.Slug)))
	}

	var roles list[directory.Role]
	ok(t, f.do(t, req{method: "GET", path: base + "/roles", query: q(acct)}), 200, &roles)
	var names []string
	for _, r := range roles.Result {
		names = append(names, r.ID)
	}
	if strings.Join(names, ",") != "administrator,developer,owner,read-only" {
		t.Errorf("roles = %v", names)
	}
	fails(t, f.do(t, req{method: "GET", path: base + "/roles/superuser", query: q(acct)}), 404, bridge.ENOTFOUND, "owner, administrator")

	var ras list[directory.RoleAssignment]
	ok(t, f.do(t, req{method: "GET", path: base + "/role_assignments", query: q(acct, "user_id", dev.UserID)}), 200, &ras)
	if ras.ResultCount != 1 || ras.Result[0].RoleID != "developer" || ras.Result[0].OrganizationID != o.Slug {
		t.Fatalf("assignments = %+v", ras)
	}
	var ra directory.RoleAssignment
	ok(t, f.do(t, req{method: "GET", path: base + "/role_assignments/" + ras.Result[0].ID, query: q(acct)}), 200, &ra)

	// What the Management API does not offer answers 405, naming why.
	for _, tt := range []struct {
		method, path string
		body         any
		want         string
	}{
		{"POST", "/users", map[string]any{"email": "x@example.com"}, "invite"},
		{"PATCH", "/users/" + dev.UserID, map[string]any{"name": "x"}, "Management API"},
		{"DELETE", "/users/" + dev.UserID, nil, "Management API"},
		{"POST", "/roles", map[string]any{"name": "x"}, "fixed by Supabase"},
		{"PATCH", "/roles/owner", map[string]any{"name": "x"}, "fixed by Supabase"},
		{"DELETE", "/roles/owner", nil, "fixed by Supabase"},
		{"POST", "/organizations", map[string]any{"name": "x"}, "create or rename"},
		{"PATCH", "/organizations/" + o.Slug, map[string]any{"name": "x"}, "create or rename"},
		{"POST", "/role_assignments", map[string]any{"user_id": "u", "role_id": "owner", "organization_id": o.Slug}, "member's role"},
		{"DELETE", "/role_assignments/" + ra.ID, nil, "member's role"},
		// Refused before the body is read: even a malformed one.
		{"POST", "/roles", "{not json", "fixed by Supabase"},
	} {
		r := f.do(t, req{method: tt.method, path: base + tt.path, query: q(acct), body: tt.body})
		fails(t, r, http.StatusMethodNotAllowed, bridge.ENOTSUPPORTED, tt.want)
		if r.header.Get("Allow") != "GET" {
			t.Errorf("%s %s: Allow = %q", tt.method, tt.path, r.header.Get("Allow"))
		}
	}
	// Filters and parameters the Management API cannot honour.
	fails(t, f.do(t, req{method: "GET", path: base + "/users", query: q(acct, "updated_after", "2026-01-01T00:00:00Z")}), 400, bridge.EINVALID, "no update times")
	fails(t, f.do(t, req{method: "GET", path: base + "/roles", query: q(acct, "remote_query[x]", "1")}), 400, bridge.EINVALID, "remote_query")
}
