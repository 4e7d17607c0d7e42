package userdir_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/supabridge/supabridge/shared/directory"
	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/supabase"
)

// userToken signs an access token for userID with the project's JWT
// secret, as Auth would issue one at sign-in.
func userToken(t *testing.T, p *localsupabase.Project, userID string) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": userID, "role": "authenticated", "aud": "authenticated", "iss": p.APIURL + "/auth/v1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "aal": "aal1", "session_id": "s-" + userID,
	}).SignedString([]byte(p.JWTSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// readAs reads a table through the Data API as the user the token names,
// with the project's publishable key, as the customer's app would.
func readAs(t *testing.T, p *localsupabase.Project, token, table, column string) []string {
	t.Helper()
	c, err := supabase.NewProjectClient(p.APIURL, p.PublishableKey)
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.NewRequest(context.Background(), "GET", "rest/v1/"+table+"?select="+column+"&order="+column, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	var rows []map[string]any
	if _, err := c.Do(req, &rows); err != nil {
		t.Fatalf("read %s as a user: %v", table, err)
	}
	var out []string
	for _, r := range rows {
		b, _ := json.Marshal(r[column])
		var s string
		if json.Unmarshal(b, &s) != nil {
			s = string(b)
		}
		out = append(out, s)
	}
	return out
}

// TestRowLevelSecurity: a user created through the unified API with role
// editor in organization A, reading as themselves, sees exactly A's rows
// under the shipped policies, and may write there; a user of B sees none of
// A's.
func TestRowLevelSecurity(t *testing.T) {
	p := newProject(t, "rls")
	f := newFixture(t)
	acct := f.projectAccount(t, p)
	orgA, orgB, editor, viewer := f.seedDirectory(t, acct)
	sql(t, p, `insert into public.documents (organization_id, title) values ($1, 'a-1'), ($1, 'a-2'), ($2, 'b-1')`, orgA.ID, orgB.ID)

	var ed, other directory.User
	ok(t, f.do(t, req{method: "POST", path: base + "/users", query: q(acct), body: map[string]any{
		"email": "editor@a.example", "password": "a long password 1", "is_email_verified": true,
		"roles": []map[string]string{{"id": editor.ID, "organization_id": orgA.ID}},
	}}), 201, &ed)
	ok(t, f.do(t, req{method: "POST", path: base + "/users", query: q(acct), body: map[string]any{
		"email": "viewer@b.example", "roles": []map[string]string{{"id": viewer.ID, "organization_id": orgB.ID}},
	}}), 201, &other)
	wantRoles(t, ed, "editor@Acme")

	edTok, otherTok := userToken(t, p, ed.ID), userToken(t, p, other.ID)
	if got := readAs(t, p, edTok, "documents", "title"); !slices.Equal(got, []string{"a-1", "a-2"}) {
		t.Errorf("the editor of A reads documents %v, want exactly A's", got)
	}
	if got := readAs(t, p, edTok, "organizations", "name"); !slices.Equal(got, []string{"Acme"}) {
		t.Errorf("the editor of A reads organizations %v", got)
	}
	if got := readAs(t, p, otherTok, "documents", "title"); !slices.Equal(got, []string{"b-1"}) {
		t.Errorf("the user of B reads documents %v, want only B's", got)
	}
	if got := readAs(t, p, userToken(t, p, "00000000-0000-4000-8000-000000000000"), "documents", "title"); len(got) != 0 {
		t.Errorf("a user without assignments reads %v", got)
	}

	// The editor may add to A, not to B; the viewer of B may not add at all.
	insert := func(token, org string) int {
		c, _ := supabase.NewProjectClient(p.APIURL, p.PublishableKey)
		req, _ := c.NewRequest(context.Background(), "POST", "rest/v1/documents", map[string]string{"organization_id": org, "title": "new"})
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req, nil)
		if resp == nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	if s := insert(edTok, orgA.ID); s != http.StatusCreated {
		t.Errorf("the editor adding to A: %d", s)
	}
	if s := insert(edTok, orgB.ID); s != http.StatusForbidden {
		t.Errorf("the editor adding to B: %d, want 403", s)
	}
	if s := insert(otherTok, orgB.ID); s != http.StatusForbidden {
		t.Errorf("the viewer adding to B: %d, want 403", s)
	}

	// Moving the user to B through the API moves what they see.
	ok(t, f.do(t, req{method: "PATCH", path: base + "/users/" + ed.ID, query: q(acct), body: map[string]any{
		"roles": []map[string]string{{"id": viewer.ID, "organization_id": orgB.ID}},
	}}), 200, nil)
	if got := readAs(t, p, edTok, "documents", "title"); !slices.Equal(got, []string{"b-1"}) {
		t.Errorf("after the move the user reads %v", got)
	}
}
