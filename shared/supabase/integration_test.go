package supabase_test

// Integration tests against the local Supabase stand-in: real PostgreSQL
// behind the stand-in's gateway, Auth, Data API and Management API.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/localsupabase/faults"
	"github.com/supabridge/supabridge/shared/supabase"
)

const redirectURI = "https://app.example/callback"

var (
	stack *localsupabase.Stack

	// seenErrors collects every error the integration tests provoke, so
	// TestIntegration_NoCredentialsInErrors can scan them all.
	errMu      sync.Mutex
	seenErrors []error
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	st, err := localsupabase.Start(ctx, localsupabase.Config{OAuthAutoApprove: true, OAuthRedirectURIs: []string{redirectURI}})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start local Supabase:", err)
		os.Exit(1)
	}
	stack = st
	code := m.Run()
	_ = st.Close()
	os.Exit(code)
}

var uniqueN struct {
	sync.Mutex
	n int
}

// unique returns prefix made unique within this process, so tests can run
// again (-count) against the same stand-in.
func unique(prefix string) string {
	uniqueN.Lock()
	defer uniqueN.Unlock()
	uniqueN.n++
	return fmt.Sprintf("%s%dx%d", prefix, uniqueN.n, time.Now().UnixNano()%1e6)
}

// record keeps err for the credential scan and returns it.
func record(err error) error {
	if err != nil {
		errMu.Lock()
		seenErrors = append(seenErrors, err)
		errMu.Unlock()
	}
	return err
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// apiError asserts err is an *APIError with that status and code.
func apiError(t *testing.T, err error, status int, code string) *supabase.APIError {
	t.Helper()
	record(err)
	var ae *supabase.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %T %v is not an *APIError", err, err)
	}
	if ae.StatusCode != status || ae.Code != code {
		t.Fatalf("error = %d %q (%v), want %d %q", ae.StatusCode, ae.Code, err, status, code)
	}
	return ae
}

func patClient(t *testing.T) *supabase.Client {
	t.Helper()
	c, err := supabase.NewPersonalAccessTokenClient(stack.ManagementURL(), stack.AccessToken())
	must(t, err)
	return c
}

func projectClient(t *testing.T, key string) *supabase.Client {
	t.Helper()
	c, err := supabase.NewProjectClient(stack.Project().APIURL, key)
	must(t, err)
	return c
}

// sql runs statements on the default project through the Management API.
func sql(t *testing.T, query string) {
	t.Helper()
	_, err := patClient(t).Management.RunQuery(context.Background(), stack.Project().Ref, &supabase.QueryRequest{Query: query}, nil)
	must(t, err)
}

func TestIntegration_Management(t *testing.T) {
	ctx := context.Background()
	c := patClient(t)
	p := stack.Project()
	org := stack.Organization()

	orgs, resp, err := c.Management.ListOrganizations(ctx)
	must(t, err)
	if !slices.ContainsFunc(orgs, func(o *supabase.Organization) bool { return o.Slug == org.Slug && o.Name == org.Name }) {
		t.Errorf("organizations %v lack %v", orgs, org)
	}
	if resp.Rate.Limit == 0 || resp.Rate.Reset == 0 {
		t.Errorf("rate = %+v, want the X-RateLimit headers parsed", resp.Rate)
	}

	od, _, err := c.Management.GetOrganization(ctx, org.Slug)
	must(t, err)
	equal(t, "org name", od.Name, org.Name)

	_, err = stack.AddMember(org.Slug, localsupabase.Member{UserName: "dev", Email: "dev@example.com", RoleName: "developer"})
	must(t, err)
	members, _, err := c.Management.ListMembers(ctx, org.Slug)
	must(t, err)
	if !slices.ContainsFunc(members, func(m *supabase.Member) bool { return m.Email == "dev@example.com" && m.RoleName == "developer" }) {
		t.Errorf("members %v lack the added developer", members)
	}

	projects, _, err := c.Management.ListProjects(ctx)
	must(t, err)
	if !slices.ContainsFunc(projects, func(x *supabase.Project) bool { return x.Ref == p.Ref }) {
		t.Errorf("projects lack %s", p.Ref)
	}
	got, _, err := c.Management.GetProject(ctx, p.Ref)
	must(t, err)
	equal(t, "status", got.Status, "ACTIVE_HEALTHY")
	if got.Database == nil || got.Database.Host == "" {
		t.Errorf("project database = %+v", got.Database)
	}

	health, _, err := c.Management.GetProjectHealth(ctx, p.Ref, []string{"auth", "db"}, &supabase.ProjectHealthOptions{TimeoutMS: 2000})
	must(t, err)
	equal(t, "health items", len(health), 2)
	for _, h := range health {
		equal(t, h.Name+" status", h.Status, "ACTIVE_HEALTHY")
	}
	_, _, err = c.Management.GetProjectHealth(ctx, p.Ref, []string{"nonsense"}, nil)
	apiError(t, err, 400, "")

	keys, _, err := c.Management.ListAPIKeys(ctx, p.Ref, &supabase.ListAPIKeysOptions{Reveal: true})
	must(t, err)
	byValue := map[string]*supabase.APIKey{}
	for _, k := range keys {
		byValue[k.APIKey] = k
	}
	for key, kind := range map[string]supabase.KeyKind{p.AnonKey: supabase.KeyLegacy, p.ServiceRoleKey: supabase.KeyLegacy,
		p.PublishableKey: supabase.KeyPublishable, p.SecretKey: supabase.KeySecret} {
		k := byValue[key]
		if k == nil {
			t.Errorf("revealed keys lack a %s key", kind)
			continue
		}
		equal(t, "type", k.Type, kind)
		info, err := supabase.ClassifyKey(k.APIKey)
		must(t, err)
		equal(t, "classified kind", info.Kind, kind)
	}
	masked, _, err := c.Management.ListAPIKeys(ctx, p.Ref, nil)
	must(t, err)
	for _, k := range masked {
		if k.Type == supabase.KeySecret && k.APIKey == p.SecretKey {
			t.Error("the secret key was listed unmasked without reveal")
		}
	}

	var rows []map[string]any
	_, err = c.Management.RunQuery(ctx, p.Ref, &supabase.QueryRequest{Query: "select $1::int + 1 as n", Parameters: []any{"41"}, ReadOnly: true}, &rows)
	must(t, err)
	if len(rows) != 1 || fmt.Sprint(rows[0]["n"]) != "42" {
		t.Errorf("query rows = %v", rows)
	}
	_, err = c.Management.RunQuery(ctx, p.Ref, &supabase.QueryRequest{Query: "select * from no_such_table"}, nil)
	ae := apiError(t, err, 400, "")
	if !strings.Contains(ae.Message, "no_such_table") {
		t.Errorf("message = %q", ae.Message)
	}

	_, _, err = c.Management.GetProject(ctx, "zzzzzzzzzzzzzzzzzzzz")
	apiError(t, err, 404, "")
}

// TestIntegration_ManagementProjects creates a project through the API and
// walks the organization's projects one per page.
func TestIntegration_ManagementProjects(t *testing.T) {
	ctx := context.Background()
	c := patClient(t)
	org := stack.AddOrganization("Paging Org")
	var created []string
	for i := range 3 {
		p, resp, err := c.Management.CreateProject(ctx, &supabase.CreateProjectRequest{
			Name: fmt.Sprintf("proj-%d", i), OrganizationSlug: org.Slug, DBPass: "correct-horse-battery-staple",
			RegionSelection: &supabase.RegionSelection{Type: "specific", Code: "eu-west-1"}})
		must(t, err)
		equal(t, "status code", resp.StatusCode, http.StatusCreated)
		equal(t, "organization", p.OrganizationSlug, org.Slug)
		created = append(created, p.Ref)
	}
	// Provisioning runs in the background; wait for every project.
	deadline := time.Now().Add(60 * time.Second)
	for _, ref := range created {
		for {
			p, _, err := c.Management.GetProject(ctx, ref)
			must(t, err)
			if p.Status == "ACTIVE_HEALTHY" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("project %s still %s", ref, p.Status)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	page, resp, err := c.Management.ListOrganizationProjects(ctx, org.Slug, &supabase.ListOrganizationProjectsOptions{Limit: 1})
	must(t, err)
	equal(t, "page size", len(page), 1)
	equal(t, "total", resp.Total, int64(3))
	equal(t, "next offset", resp.NextOffset, 1)

	opts := &supabase.ListOrganizationProjectsOptions{Limit: 1, Sort: "name_desc"}
	var names []string
	for p, err := range c.Management.ListOrganizationProjectsIter(ctx, org.Slug, opts) {
		must(t, err)
		names = append(names, p.Name)
	}
	equal(t, "names", strings.Join(names, ","), "proj-2,proj-1,proj-0")
	equal(t, "opts offset untouched", opts.Offset, 0)
}

// TestIntegration_OAuth links through the stand-in's OAuth server with
// golang.org/x/oauth2 (PKCE, Basic client auth) and uses the grant's token
// source.
func TestIntegration_OAuth(t *testing.T) {
	ctx := context.Background()
	oc := stack.OAuthClient()
	cfg := &oauth2.Config{
		ClientID: oc.ID, ClientSecret: oc.Secret, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: stack.ManagementURL() + "/v1/oauth/authorize",
			TokenURL: stack.ManagementURL() + "/v1/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	verifier := oauth2.GenerateVerifier()
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	must(t, err)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	must(t, err)
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("authorize answered %d %s", resp.StatusCode, loc)
	}
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	must(t, err)

	c, err := supabase.NewManagementClient(stack.ManagementURL(), cfg.TokenSource(ctx, tok))
	must(t, err)
	orgs, _, err := c.Management.ListOrganizations(ctx)
	must(t, err)
	equal(t, "orgs of the grant", len(orgs), 1)

	// A revoked or unknown token is a 401 the caller can recognise.
	bad, err := supabase.NewManagementClient(stack.ManagementURL(), supabase.StaticToken("sbp_oauth_not_a_real_token_0000"))
	must(t, err)
	_, _, err = bad.Management.ListOrganizations(ctx)
	apiError(t, err, 401, "")
}

func TestIntegration_Auth(t *testing.T) {
	ctx := context.Background()
	p := stack.Project()
	c := projectClient(t, p.SecretKey)
	ann, invitee := unique("ann")+"@example.com", unique("invitee")+"@example.com"

	h, _, err := c.Auth.Health(ctx)
	must(t, err)
	equal(t, "name", h.Name, "GoTrue")
	s, _, err := c.Auth.Settings(ctx)
	must(t, err)
	equal(t, "email provider", s.External["email"], true)

	u, _, err := c.Auth.CreateUser(ctx, &supabase.AdminUserAttributes{Email: strings.ToUpper(ann[:1]) + ann[1:], Password: "pw-123456",
		EmailConfirm: true, UserMetadata: map[string]any{"full_name": "Ann", "nick": "a"}})
	must(t, err)
	equal(t, "email lower-cased", u.Email, ann)
	if u.EmailConfirmedAt == nil {
		t.Error("email not confirmed")
	}
	got, _, err := c.Auth.GetUser(ctx, u.ID)
	must(t, err)
	equal(t, "identities", len(got.Identities), 1)

	up, _, err := c.Auth.UpdateUser(ctx, u.ID, &supabase.AdminUserAttributes{BanDuration: "24h", UserMetadata: map[string]any{"nick": nil}})
	must(t, err)
	if up.BannedUntil == nil || up.UserMetadata["nick"] != nil || up.UserMetadata["full_name"] != "Ann" {
		t.Errorf("updated user = %+v", up)
	}

	_, _, err = c.Auth.CreateUser(ctx, &supabase.AdminUserAttributes{Email: ann})
	apiError(t, err, 422, "email_exists")
	_, _, err = c.Auth.UpdateUser(ctx, u.ID, &supabase.AdminUserAttributes{Password: "x"})
	ae := apiError(t, err, 422, "weak_password")
	if ae.Details == "" {
		t.Error("weak password reasons missing")
	}
	_, _, err = c.Auth.GetUser(ctx, "not-a-uuid")
	apiError(t, err, 404, "validation_failed")

	inv, _, err := c.Auth.InviteUser(ctx, invitee, &supabase.InviteOptions{Data: map[string]any{"org": "a"}, RedirectTo: "https://app.example/welcome"})
	must(t, err)
	if inv.InvitedAt == nil || inv.UserMetadata["org"] != "a" {
		t.Errorf("invited user = %+v", inv)
	}
	link, _, err := c.Auth.GenerateLink(ctx, &supabase.GenerateLinkRequest{Type: "recovery", Email: ann, RedirectTo: "https://app.example/reset"})
	must(t, err)
	equal(t, "link user", link.ID, u.ID)
	equal(t, "verification type", link.VerificationType, "recovery")
	if !strings.Contains(link.ActionLink, "redirect_to=") || link.EmailOTP == "" {
		t.Errorf("link = %+v", link)
	}
	_, _, err = c.Auth.GenerateLink(ctx, &supabase.GenerateLinkRequest{Type: "recovery", Email: "nobody@example.com"})
	apiError(t, err, 404, "user_not_found")

	_, err = c.Auth.DeleteUser(ctx, inv.ID, true)
	must(t, err)
	soft, _, err := c.Auth.GetUser(ctx, inv.ID)
	must(t, err)
	if soft.DeletedAt == nil {
		t.Error("soft-deleted user has no deleted_at")
	}
	_, err = c.Auth.DeleteUser(ctx, u.ID, false)
	must(t, err)
	_, _, err = c.Auth.GetUser(ctx, u.ID)
	apiError(t, err, 404, "user_not_found")
}

// TestIntegration_AuthLegacyErrors sends a request without the API version
// header, as raw clients do, and gets GoTrue's legacy error shape.
func TestIntegration_AuthLegacyErrors(t *testing.T) {
	ctx := context.Background()
	c := projectClient(t, stack.Project().SecretKey)
	email := unique("legacy") + "@example.com"
	_, _, err := c.Auth.CreateUser(ctx, &supabase.AdminUserAttributes{Email: email})
	must(t, err)
	req, err := c.NewRequest(ctx, "POST", "auth/v1/admin/users", map[string]string{"email": email})
	must(t, err)
	_, err = c.Do(req, nil)
	ae := apiError(t, err, 422, "email_exists")
	if !strings.Contains(string(ae.Body), `"error_code":"email_exists"`) || !strings.Contains(string(ae.Body), `"msg"`) {
		t.Errorf("body %s is not the legacy shape", ae.Body)
	}
	equal(t, "message", ae.Message, "A user with this email address has already been registered")
}

// TestIntegration_KeyKinds calls as each of the project's four keys:
// all may read settings; only the service-role kinds may list users.
func TestIntegration_KeyKinds(t *testing.T) {
	ctx := context.Background()
	p := stack.Project()
	for _, key := range []string{p.AnonKey, p.ServiceRoleKey, p.PublishableKey, p.SecretKey} {
		info, err := supabase.ClassifyKey(key)
		must(t, err)
		t.Run(string(info.Kind)+"/"+info.Role, func(t *testing.T) {
			c := projectClient(t, key)
			_, _, err := c.Auth.Settings(ctx)
			must(t, err)
			_, _, err = c.Auth.ListUsers(ctx, &supabase.ListUsersOptions{PerPage: 1})
			if info.BypassesRLS {
				must(t, err)
			} else {
				apiError(t, err, 403, "not_admin")
			}
		})
	}
	c := projectClient(t, "sb_secret_wrongwrongwrongwrongwr_wrongwro")
	_, _, err := c.Auth.Settings(ctx)
	ae := apiError(t, err, 401, "")
	equal(t, "gateway message", ae.Message, "Invalid API key")
	if ae.Hint == "" {
		t.Error("gateway hint missing")
	}
}

// TestIntegration_ListUsersIter pages through 150 users, 7 at a time.
func TestIntegration_ListUsersIter(t *testing.T) {
	ctx := context.Background()
	prefix := unique("bulk")
	sql(t, `insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at, is_sso_user, is_anonymous)
		select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated', '`+prefix+`' || g || '@example.com',
		'{}', '{}', now() - g * interval '1 second', now(), false, false from generate_series(1, 150) g`)
	c := projectClient(t, stack.Project().ServiceRoleKey)
	first, resp, err := c.Auth.ListUsers(ctx, &supabase.ListUsersOptions{PerPage: 7, Filter: prefix})
	must(t, err)
	equal(t, "first page", len(first), 7)
	equal(t, "total", resp.Total, int64(150))
	equal(t, "next", resp.NextPage, 2)
	equal(t, "last", resp.LastPage, 22)

	opts := &supabase.ListUsersOptions{PerPage: 7, Filter: prefix, Sort: "created_at asc"}
	seen := map[string]bool{}
	var prev time.Time
	for u, err := range c.Auth.ListUsersIter(ctx, opts) {
		must(t, err)
		if seen[u.Email] {
			t.Fatalf("%s seen twice", u.Email)
		}
		seen[u.Email] = true
		if u.CreatedAt.Before(prev) {
			t.Fatalf("not ascending at %s", u.Email)
		}
		prev = u.CreatedAt
	}
	equal(t, "users", len(seen), 150)
	equal(t, "opts page untouched", opts.Page, 0)
}

func TestIntegration_REST(t *testing.T) {
	ctx := context.Background()
	sql(t, `drop table if exists people cascade;
		create table people (id int primary key, name text not null, org text, tags text[] not null default '{}');
		create or replace function people_in(o text) returns setof people language sql stable as $$ select * from people where org = o $$;
		create or replace function add(a int, b int) returns int language sql immutable as $$ select a + b $$;
		notify pgrst, 'reload schema';`)
	c := projectClient(t, stack.Project().SecretKey)

	type person struct {
		ID   int      `json:"id"`
		Name string   `json:"name"`
		Org  *string  `json:"org"`
		Tags []string `json:"tags"`
	}
	// Rows with different keys insert together (columns= is their union).
	batch := make([]map[string]any, 0, 2500)
	orgs := []string{"a,b", `say "hi"`, "(x)", `back\slash`, "plain"}
	for i := range 2500 {
		r := map[string]any{"id": i, "name": fmt.Sprintf("n%04d", i)}
		if i%2 == 0 {
			r["org"] = orgs[(i/2)%len(orgs)]
		}
		batch = append(batch, r)
	}
	resp, err := c.REST.Insert(ctx, "people", batch, &supabase.InsertOptions{Count: supabase.CountExact}, nil)
	must(t, err)
	equal(t, "insert status", resp.StatusCode, http.StatusCreated)
	equal(t, "inserted count", resp.Total, int64(2500))

	n, _, err := c.REST.Count(ctx, "people", &supabase.SelectOptions{Filters: []supabase.Filter{supabase.Is("org", supabase.IsNull)}})
	must(t, err)
	equal(t, "null orgs", n, int64(1250))

	// Values with PostgREST's reserved characters survive in.(…) and or().
	var tricky []person
	resp, err = c.REST.Select(ctx, "people", &supabase.SelectOptions{
		Columns: []string{"id", "name", "org", "tags"},
		Filters: []supabase.Filter{supabase.In("org", "a,b", `say "hi"`, "(x)", `back\slash`)},
		Order:   []supabase.Order{{Column: "id"}}, Limit: 10, Count: supabase.CountExact,
	}, &tricky)
	must(t, err)
	equal(t, "tricky total", resp.Total, int64(1000))
	equal(t, "page", len(tricky), 10)
	equal(t, "next offset", resp.NextOffset, 10)
	equal(t, "first org", *tricky[0].Org, "a,b")

	var either []person
	_, err = c.REST.Select(ctx, "people", &supabase.SelectOptions{
		Filters: []supabase.Filter{supabase.Or(supabase.Eq("org", "(x)"), supabase.Eq("org", `back\slash`)), supabase.Lt("id", 40)},
		Order:   []supabase.Order{{Column: "id", Desc: true}},
	}, &either)
	must(t, err)
	for _, p := range either {
		if p.Org == nil || (*p.Org != "(x)" && *p.Org != `back\slash`) {
			t.Errorf("or() matched %+v", p)
		}
	}
	equal(t, "or() matches", len(either), 8)

	var ranged []person
	resp, err = c.REST.Select(ctx, "people", &supabase.SelectOptions{Order: []supabase.Order{{Column: "id"}}, Offset: 5, Limit: 3, UseRange: true}, &ranged)
	must(t, err)
	equal(t, "range first", ranged[0].ID, 5)
	equal(t, "range next", resp.NextOffset, 8)

	// Every row exactly once across 25 pages.
	opts := &supabase.SelectOptions{Columns: []string{"id"}, Order: []supabase.Order{{Column: "id"}}, Limit: 100}
	i := 0
	for p, err := range supabase.SelectIter[person](ctx, c.REST, "people", opts) {
		must(t, err)
		if p.ID != i {
			t.Fatalf("row %d has id %d", i, p.ID)
		}
		i++
	}
	equal(t, "iterated rows", i, 2500)
	equal(t, "opts offset untouched", opts.Offset, 0)

	stream, err := c.REST.SelectStream(ctx, "people", &supabase.SelectOptions{Filters: []supabase.Filter{supabase.Eq("id", 7)}, Columns: []string{"id", "name"}})
	must(t, err)
	raw, err := io.ReadAll(stream.Body)
	stream.Body.Close()
	must(t, err)
	equal(t, "raw rows", string(raw), `[{"id":7,"name":"n0007"}]`)

	var upserted []person
	_, err = c.REST.Upsert(ctx, "people", []person{{ID: 1, Name: "one", Tags: []string{"x,y", "z"}}, {ID: 5000, Name: "new", Tags: []string{}}},
		&supabase.InsertOptions{Return: supabase.ReturnRepresentation, OnConflict: []string{"id"}}, &upserted)
	must(t, err)
	equal(t, "upserted", len(upserted), 2)
	_, err = c.REST.Insert(ctx, "people", []map[string]any{{"id": 1, "name": "ignored"}}, &supabase.InsertOptions{Resolution: supabase.IgnoreDuplicates}, nil)
	must(t, err)
	var one []person
	_, err = c.REST.Select(ctx, "people", &supabase.SelectOptions{Filters: []supabase.Filter{supabase.Eq("id", 1), supabase.Contains("tags", "x,y")}}, &one)
	must(t, err)
	if len(one) != 1 || one[0].Name != "one" {
		t.Errorf("after upserts: %+v", one)
	}

	var updated []person
	resp, err = c.REST.Update(ctx, "people", map[string]any{"name": "renamed"}, &supabase.UpdateOptions{
		Filters: []supabase.Filter{supabase.Gte("id", 10), supabase.Lt("id", 13)}, Return: supabase.ReturnRepresentation, Count: supabase.CountExact}, &updated)
	must(t, err)
	equal(t, "updated", len(updated), 3)
	equal(t, "update count", resp.Total, int64(3))

	resp, err = c.REST.Delete(ctx, "people", &supabase.UpdateOptions{Filters: []supabase.Filter{supabase.Gte("id", 2000)}, Count: supabase.CountExact}, nil)
	must(t, err)
	equal(t, "deleted", resp.Total, int64(501))

	var sum int
	_, err = c.REST.RPC(ctx, "add", map[string]int{"a": 2, "b": 3}, nil, &sum)
	must(t, err)
	equal(t, "rpc sum", sum, 5)
	var inOrg []person
	resp, err = c.REST.RPC(ctx, "people_in", map[string]any{"o": "plain"}, &supabase.RPCOptions{Get: true,
		SelectOptions: supabase.SelectOptions{Filters: []supabase.Filter{supabase.Lt("id", 100)}, Order: []supabase.Order{{Column: "id"}}, Limit: 3}}, &inOrg)
	must(t, err)
	equal(t, "rpc rows", len(inOrg), 3)
	equal(t, "rpc first", inOrg[0].ID, 8)

	// PostgREST's own errors.
	_, err = c.REST.Select(ctx, "peple", nil, nil)
	apiError(t, err, 404, "PGRST205")
	_, err = c.REST.Insert(ctx, "people", map[string]any{"id": 1, "name": "dup"}, nil, nil)
	ae := apiError(t, err, 409, "23505")
	if ae.Details == "" {
		t.Error("duplicate key details missing")
	}
	_, err = c.REST.Select(ctx, "people", &supabase.SelectOptions{Schema: "private"}, nil)
	apiError(t, err, 406, "PGRST106")
	_, err = c.REST.RPC(ctx, "nope", nil, nil, nil)
	apiError(t, err, 404, "PGRST202")
}

// TestIntegration_Faults uses the stand-in's fault injection: 429 bursts on
// both surfaces and forced statuses.
func TestIntegration_Faults(t *testing.T) {
	ctx := context.Background()
	p := stack.Project()
	in := stack.Faults()
	t.Cleanup(in.Clear)

	mc := patClient(t)
	in.RateLimitNext(faults.Match{Server: localsupabase.ManagementServer, Route: "GET /v1/organizations"}, 2)
	for range 2 {
		_, _, err := mc.Management.ListOrganizations(ctx)
		record(err)
		var rl *supabase.RateLimitError
		if !errors.As(err, &rl) {
			t.Fatalf("error %T %v is not a *RateLimitError", err, err)
		}
		if rl.RetryAfter <= 0 || rl.Rate.Remaining != 0 {
			t.Errorf("RetryAfter = %s, rate = %+v", rl.RetryAfter, rl.Rate)
		}
		equal(t, "management 429 message", rl.Message, "ThrottlerException: Too Many Requests")
	}
	_, _, err := mc.Management.ListOrganizations(ctx)
	must(t, err)

	pc := projectClient(t, p.SecretKey)
	in.RateLimitNext(faults.Match{Server: p.ServerName(), Path: "/auth/v1/*"}, 1)
	_, _, err = pc.Auth.ListUsers(ctx, nil)
	record(err)
	var rl *supabase.RateLimitError
	if !errors.As(err, &rl) || rl.Code != "over_request_rate_limit" {
		t.Fatalf("auth 429: %v", err)
	}

	in.FailNext(faults.Match{Server: p.ServerName(), Path: "/rest/v1/*"}, 503, `{"code":"PGRST001","details":null,"hint":null,"message":"Database client error. Retrying the connection."}`, 1)
	_, err = pc.REST.Select(ctx, "people", nil, nil)
	apiError(t, err, 503, "PGRST001")

	in.FailNext(faults.Match{Server: localsupabase.ManagementServer}, 500, "", 1)
	_, _, err = mc.Management.ListProjects(ctx)
	ae := apiError(t, err, 500, "")
	equal(t, "default fault message", ae.Message, "Internal Server Error")

	// A body that echoes credentials is scrubbed.
	in.FailNext(faults.Match{Server: p.ServerName()}, 400, `{"message":"bad key `+p.SecretKey+`","hint":"token `+stack.AccessToken()+`"}`, 1)
	_, _, err = pc.Auth.Health(ctx)
	apiError(t, err, 400, "")

	// net/http retries a GET once when a reused connection dies before
	// answering, so drop twice.
	in.DropNext(faults.Match{Server: p.ServerName()}, 2)
	_, _, err = pc.Auth.Health(ctx)
	if record(err) == nil {
		t.Error("a dropped connection did not fail")
	}
}

// TestIntegration_NoCredentialsInErrors runs last (tests run in source
// order) and scans every error the integration tests saw.
func TestIntegration_NoCredentialsInErrors(t *testing.T) {
	p := stack.Project()
	oc := stack.OAuthClient()
	secrets := []string{p.AnonKey, p.ServiceRoleKey, p.PublishableKey, p.SecretKey, p.JWTSecret, stack.AccessToken(), oc.Secret}
	errMu.Lock()
	defer errMu.Unlock()
	if len(seenErrors) < 20 {
		t.Fatalf("only %d errors recorded; the scan would prove little", len(seenErrors))
	}
	for _, err := range seenErrors {
		texts := []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
		var ae *supabase.APIError
		if errors.As(err, &ae) {
			texts = append(texts, string(ae.Body), ae.URL, ae.Message, ae.Hint, ae.Details)
		}
		for _, s := range texts {
			for _, sec := range secrets {
				if strings.Contains(s, sec) {
					t.Errorf("error text contains a credential: %.200s", s)
				}
			}
		}
	}
}
