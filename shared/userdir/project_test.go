package userdir_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/directory"
)

// roleNames lists a user's roles as "role@organization" names.
func roleNames(u directory.User) []string {
	var out []string
	for _, r := range u.Roles {
		org := ""
		if r.Organization != nil {
			org = r.Organization.Name
		}
		out = append(out, r.Name+"@"+org)
	}
	slices.Sort(out)
	return out
}

func wantRoles(t *testing.T, u directory.User, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := roleNames(u); !slices.Equal(got, want) {
		t.Errorf("roles = %v, want %v", got, want)
	}
}

// seedDirectory creates two organizations and the roles editor and viewer
// through the API.
func (f *fixture) seedDirectory(t *testing.T, acct *bridge.Account) (orgA, orgB, editor, viewer directory.Organization) {
	t.Helper()
	var a, b directory.Organization
	ok(t, f.do(t, req{method: "POST", path: base + "/organizations", query: q(acct), body: map[string]string{"name": "Acme"}}), 201, &a)
	ok(t, f.do(t, req{method: "POST", path: base + "/organizations", query: q(acct), body: map[string]string{"name": "Globex"}}), 201, &b)
	var e, v directory.Role
	ok(t, f.do(t, req{method: "POST", path: base + "/roles", query: q(acct), body: map[string]string{"name": "editor", "description": "Writes documents"}}), 201, &e)
	ok(t, f.do(t, req{method: "POST", path: base + "/roles", query: q(acct), body: map[string]string{"name": "viewer"}}), 201, &v)
	return a, b, directory.Organization{ID: e.ID, Name: e.Name}, directory.Organization{ID: v.ID, Name: v.Name}
}

func TestProjectPlaneRoundTrips(t *testing.T) {
	p := newProject(t, "crud")
	f := newFixture(t)
	acct := f.projectAccount(t, p)

	// Organizations: create, get, update, list.
	orgA, orgB, editor, viewer := f.seedDirectory(t, acct)
	var got directory.Organization
	ok(t, f.do(t, req{method: "GET", path: base + "/organizations/" + orgA.ID, query: q(acct)}), 200, &got)
	if got.Name != "Acme" || got.CreatedAt == nil || len(got.RemoteData) == 0 {
		t.Errorf("organization = %+v", got)
	}
	ok(t, f.do(t, req{method: "PATCH", path: base + "/organizations/" + orgA.ID, query: q(acct), body: map[string]string{"name": "Acme Inc"}}), 200, &got)
	if got.Name != "Acme Inc" || got.UpdatedAt == nil || !got.UpdatedAt.After(*got.CreatedAt) {
		t.Errorf("updated organization = %+v", got)
	}
	var orgs list[directory.Organization]
	ok(t, f.do(t, req{method: "GET", path: base + "/organizations", query: q(acct, "limit", "1")}), 200, &orgs)
	if orgs.ResultCount != 1 || orgs.NextCursor == nil || orgs.PrevCursor != nil {
		t.Fatalf("first organization page = %+v", orgs)
	}
	first := orgs.Result[0].ID
	ok(t, f.do(t, req{method: "GET", path: base + "/organizations", query: q(acct, "limit", "1", "next_cursor", *orgs.NextCursor)}), 200, &orgs)
	if orgs.ResultCount != 1 || orgs.Result[0].ID == first {
		t.Fatalf("second organization page = %+v", orgs)
	}
	if ids := []string{first, orgs.Result[0].ID}; !slices.Contains(ids, orgA.ID) || !slices.Contains(ids, orgB.ID) {
		t.Errorf("pages hold %v, want both organizations", ids)
	}

	// Roles: get, update, list with remote_query passed to the Data API.
	var role directory.Role
	ok(t, f.do(t, req{method: "PATCH", path: base + "/roles/" + viewer.ID, query: q(acct), body: map[string]string{"description": "Reads documents"}}), 200, &role)
	if role.Name != "viewer" || role.Description != "Reads documents" {
		t.Errorf("updated role = %+v", role)
	}
	var roles list[directory.Role]
	ok(t, f.do(t, req{method: "GET", path: base + "/roles", query: q(acct, "remote_query[name]", "eq.editor", "ignore_remote_data", "true")}), 200, &roles)
	if roles.ResultCount != 1 || roles.Result[0].ID != editor.ID || roles.Result[0].RemoteData != nil {
		t.Errorf("roles filtered upstream = %+v", roles)
	}

	// Users: create with a profile and two role assignments.
	var u directory.User
	ok(t, f.do(t, req{method: "POST", path: base + "/users", query: q(acct), body: map[string]any{
		"email": "ada@example.com", "password": "correct horse battery", "first_name": "Ada", "last_name": "Lovelace",
		"avatar": "https://example.com/ada.png", "is_email_verified": true, "phone": "+15551234567",
		"roles": []map[string]string{{"id": editor.ID, "organization_id": orgA.ID}, {"id": viewer.ID, "organization_id": orgB.ID}},
	}}), 201, &u)
	if u.Name != "Ada Lovelace" || u.FirstName != "Ada" || u.Avatar != "https://example.com/ada.png" || u.Status != directory.StatusActive ||
		len(u.Emails) != 1 || u.Emails[0].Email != "ada@example.com" || !u.Emails[0].IsPrimary ||
		len(u.Phones) != 1 || u.Phones[0].Number != "+15551234567" || u.IsEmailVerified == nil || !*u.IsEmailVerified {
		t.Errorf("created user = %+v", u)
	}
	wantRoles(t, u, "editor@Acme Inc", "viewer@Globex")
	if len(u.Organizations) != 2 {
		t.Errorf("organizations = %+v", u.Organizations)
	}
	if strings.Contains(string(u.RemoteData), "correct horse") {
		t.Error("the password reached remote_data")
	}
	if n := count(t, p, "select count(*) from public.profiles where id = $1 and first_name = 'Ada' and avatar_url is not null", u.ID); n != 1 {
		t.Errorf("profile rows = %d", n)
	}

	// Get, and list with filters.
	var g directory.User
	ok(t, f.do(t, req{method: "GET", path: base + "/users/" + u.ID, query: q(acct)}), 200, &g)
	if g.ID != u.ID || g.Is2FAEnabled == nil || *g.Is2FAEnabled || g.Name != "Ada Lovelace" {
		t.Errorf("got user = %+v", g)
	}
	wantRoles(t, g, "editor@Acme Inc", "viewer@Globex")
	var users list[directory.User]
	for _, tt := range []struct {
		kv   []string
		want int
	}{
		{[]string{"email", "ADA@example.com"}, 1},
		{[]string{"email", "nobody@example.com"}, 0},
		{[]string{"role_id", editor.ID}, 1},
		{[]string{"organization_id", orgB.ID}, 1},
		{[]string{"role_id", viewer.ID, "organization_id", orgB.ID}, 1},
		{[]string{"status", "inactive"}, 0},
		{[]string{"updated_after", "2000-01-01T00:00:00Z"}, 1},
		{[]string{"updated_after", "2999-01-01T00:00:00Z"}, 0},
	} {
		ok(t, f.do(t, req{method: "GET", path: base + "/users", query: q(acct, tt.kv...)}), 200, &users)
		if users.ResultCount != tt.want {
			t.Errorf("users %v: %d results, want %d", tt.kv, users.ResultCount, tt.want)
		}
	}

	// Update: names, ban, and replace the role assignments.
	ok(t, f.do(t, req{method: "PATCH", path: base + "/users/" + u.ID, query: q(acct), body: map[string]any{
		"name": "Augusta Ada King", "status": "inactive", "user_metadata": map[string]any{"team": "analytics"},
		"roles": []map[string]string{{"id": viewer.ID, "organization_id": orgA.ID}},
	}}), 200, &g)
	if g.Name != "Augusta Ada King" || g.Status != directory.StatusInactive {
		t.Errorf("updated user = %+v", g)
	}
	wantRoles(t, g, "viewer@Acme Inc")
	if n := count(t, p, "select count(*) from public.user_roles where user_id = $1", u.ID); n != 1 {
		t.Errorf("role assignments after replace = %d, want 1", n)
	}
	ok(t, f.do(t, req{method: "PATCH", path: base + "/users/" + u.ID, query: q(acct), body: map[string]any{"status": "active"}}), 200, &g)
	if g.Status != directory.StatusActive {
		t.Errorf("status after lifting the ban = %s", g.Status)
	}

	// Role assignments: create, get, list by user, delete.
	var ra directory.RoleAssignment
	ok(t, f.do(t, req{method: "POST", path: base + "/role_assignments", query: q(acct), body: map[string]string{
		"user_id": u.ID, "role_id": editor.ID, "organization_id": orgB.ID}}), 201, &ra)
	if ra.UserID != u.ID || ra.RoleID != editor.ID || ra.OrganizationID != orgB.ID {
		t.Errorf("assignment = %+v", ra)
	}
	ok(t, f.do(t, req{method: "GET", path: base + "/role_assignments/" + ra.ID, query: q(acct)}), 200, &ra)
	var ras list[directory.RoleAssignment]
	ok(t, f.do(t, req{method: "GET", path: base + "/role_assignments", query: q(acct, "user_id", u.ID)}), 200, &ras)
	if ras.ResultCount != 2 {
		t.Errorf("assignments of the user = %+v", ras)
	}
	fails(t, f.do(t, req{method: "POST", path: base + "/role_assignments", query: q(acct), body: map[string]string{
		"user_id": u.ID, "role_id": editor.ID, "organization_id": orgB.ID}}), 409, bridge.ECONFLICT, "23505")
	ok(t, f.do(t, req{method: "DELETE", path: base + "/role_assignments/" + ra.ID, query: q(acct)}), 200, nil)
	fails(t, f.do(t, req{method: "GET", path: base + "/role_assignments/" + ra.ID, query: q(acct)}), 404, bridge.ENOTFOUND, "not found")

	// Delete the user: the assignments and the profile go with it.
	var del map[string]string
	ok(t, f.do(t, req{method: "DELETE", path: base + "/users/" + u.ID, query: q(acct)}), 200, &del)
	if del["id"] != u.ID {
		t.Errorf("delete answered %v", del)
	}
	if n := count(t, p, "select count(*) from public.user_roles where user_id = $1", u.ID); n != 0 {
		t.Errorf("role assignments left after deleting the user: %d", n)
	}
	if n := count(t, p, "select count(*) from auth.users where id = $1", u.ID); n != 0 {
		t.Error("the Auth user still exists")
	}
	e := fails(t, f.do(t, req{method: "GET", path: base + "/users/" + u.ID, query: q(acct)}), 404, bridge.ENOTFOUND, "user_not_found")
	if !e.RemoteError || len(e.RawResponse) == 0 {
		t.Errorf("a 404 from Auth should be a remote error with its body: %+v", e)
	}

	// Delete a role: its assignments cascade in the default schema.
	ok(t, f.do(t, req{method: "DELETE", path: base + "/roles/" + viewer.ID, query: q(acct)}), 200, nil)
	fails(t, f.do(t, req{method: "GET", path: base + "/roles/" + viewer.ID, query: q(acct)}), 404, bridge.ENOTFOUND, "not found")
}

func TestProjectUserStatuses(t *testing.T) {
	p := newProject(t, "statuses")
	f := newFixture(t)
	acct := f.projectAccount(t, p)
	create := func(body map[string]any, kv ...string) directory.User {
		t.Helper()
		var u directory.User
		ok(t, f.do(t, req{method: "POST", path: base + "/users", query: q(acct, kv...), body: body}), 201, &u)
		return u
	}
	confirmed := create(map[string]any{"email": "on@example.com", "is_email_verified": true})
	unconfirmed := create(map[string]any{"email": "pending@example.com"})
	invited := create(map[string]any{"email": "guest@example.com", "name": "Grace Hopper"}, "invite", "true")
	soft := create(map[string]any{"email": "gone@example.com", "is_email_verified": true})
	sql(t, p, "update auth.users set deleted_at = now() where id = $1", soft.ID)
	banned := create(map[string]any{"email": "banned@example.com", "is_email_verified": true})
	ok(t, f.do(t, req{method: "PATCH", path: base + "/users/" + banned.ID, query: q(acct), body: map[string]any{"status": "inactive"}}), 200, nil)

	want := map[string]directory.Status{
		confirmed.ID: directory.StatusActive, unconfirmed.ID: directory.StatusInvited, invited.ID: directory.StatusInvited,
		soft.ID: directory.StatusDeleted, banned.ID: directory.StatusInactive,
	}
	var users list[directory.User]
	ok(t, f.do(t, req{method: "GET", path: base + "/users", query: q(acct)}), 200, &users)
	if users.ResultCount != len(want) {
		t.Fatalf("listed %d users, want %d", users.ResultCount, len(want))
	}
	for _, u := range users.Result {
		if u.Status != want[u.ID] {
			t.Errorf("%v: status %s, want %s", u.Emails, u.Status, want[u.ID])
		}
		if u.Is2FAEnabled != nil {
			t.Errorf("%s: is_2fa_enabled = %v in a list; Auth's list does not load factors", u.ID, *u.Is2FAEnabled)
		}
	}
	for _, s := range []directory.Status{directory.StatusInvited, directory.StatusDeleted} {
		ok(t, f.do(t, req{method: "GET", path: base + "/users", query: q(acct, "status", string(s))}), 200, &users)
		for _, u := range users.Result {
			if want[u.ID] != s {
				t.Errorf("status=%s listed %s (%s)", s, u.ID, u.Status)
			}
		}
		if users.ResultCount != 2-boolInt(s == directory.StatusDeleted) {
			t.Errorf("status=%s: %d users", s, users.ResultCount)
		}
	}
	if invited.Name != "Grace Hopper" || invited.FirstName != "Grace" || invited.LastName != "Hopper" {
		t.Errorf("invited user's names = %+v", invited)
	}
	// invite=true takes only what an invitation can carry.
	fails(t, f.do(t, req{method: "POST", path: base + "/users", query: q(acct, "invite", "true"), body: map[string]any{"email": "x@example.com", "password": "secret-1234"}}),
		422, bridge.EUNPROCESSABLE, "invitation")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestProjectPlaneThroughAnOrganizationAccount(t *testing.T) {
	p := newProject(t, "through-org")
	f := newFixture(t)
	acct := f.orgAccount(t, "production")
	var u directory.User
	ok(t, f.do(t, req{method: "POST", path: base + "/users", query: q(acct, "project_ref", p.Ref), body: map[string]any{"email": "org-made@example.com"}}), 201, &u)
	var users list[directory.User]
	ok(t, f.do(t, req{method: "GET", path: base + "/users", query: q(acct, "project_ref", p.Ref)}), 200, &users)
	if users.ResultCount != 1 || users.Result[0].ID != u.ID {
		t.Errorf("the project's users through the organization account = %+v", users)
	}
	fails(t, f.do(t, req{method: "GET", path: base + "/users", query: q(acct, "project_ref", "notaprojectref")}), 400, bridge.EINVALID, "project ref")
}

// TestUsersWithoutTheKeysetFunction: a project whose schema lacks
// directory_auth_users still lists its users (through Auth's admin list),
// and a cursor issued while it had the function asks to start again.
func TestUsersWithoutTheKeysetFunction(t *testing.T) {
	p := newProject(t, "no-keyset")
	seedUsers(t, p, 30)
	f := newFixture(t)
	acct := f.projectAccount(t, p)
	var page list[directory.User]
	ok(t, f.do(t, req{method: "GET", path: base + "/users", query: q(acct, "limit", "10")}), 200, &page)
	sql(t, p, "drop function public.directory_auth_users(uuid, integer, text, text); notify pgrst, 'reload schema'")
	fails(t, f.do(t, req{method: "GET", path: base + "/users", query: q(acct, "limit", "10", "next_cursor", *page.NextCursor)}), 400, bridge.EINVALID, "start the listing again")
	seen := map[string]bool{}
	cursor := ""
	for {
		qv := q(acct, "limit", "7")
		if cursor != "" {
			qv.Set("next_cursor", cursor)
		}
		ok(t, f.do(t, req{method: "GET", path: base + "/users", query: qv}), 200, &page)
		for _, u := range page.Result {
			if seen[u.ID] {
				t.Fatalf("%s twice", u.ID)
			}
			seen[u.ID] = true
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if len(seen) != 30 {
		t.Errorf("listed %d users, want 30", len(seen))
	}
}
