package localsupabase_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/localsupabase"
)

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

const redirectURI = "https://app.example.com/oauth/callback"

// authorize runs the OAuth code flow with PKCE and returns the code and
// verifier.
func authorize(t *testing.T, c *client, st *localsupabase.Stack, org string) (code, verifier string) {
	t.Helper()
	verifier = "verifier-" + strings.Repeat("x", 40)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {st.OAuthClient().ID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"state": {"st-1"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	if org != "" {
		q.Set("organization_slug", org)
	}
	r := c.do("GET", st.ManagementURL()+"/v1/oauth/authorize?"+q.Encode(), nil)
	if r.status == http.StatusOK {
		// The consent page: submit its form as the Authorize button does.
		if !strings.Contains(string(r.body), `value="approve">Authorize</button>`) {
			t.Fatalf("consent page without an Authorize button: %s", r.body)
		}
		form := url.Values{"decision": {"approve"}}
		for k := range q {
			form.Set(k, q.Get(k))
		}
		r = c.do("POST", st.ManagementURL()+"/v1/oauth/authorize", form)
	}
	wantStatus(t, r, http.StatusFound)
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirectURI+"?") || loc.Query().Get("state") != "st-1" {
		t.Fatalf("redirect %q", r.header.Get("Location"))
	}
	return loc.Query().Get("code"), verifier
}

func exchange(t *testing.T, c *client, st *localsupabase.Stack, form url.Values, basic bool) *response {
	t.Helper()
	cl := st.OAuthClient()
	var headers []string
	if basic {
		headers = []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(cl.ID)+":"+url.QueryEscape(cl.Secret)))}
	} else {
		form.Set("client_id", cl.ID)
		form.Set("client_secret", cl.Secret)
	}
	return c.do("POST", st.ManagementURL()+"/v1/oauth/token", form, headers...)
}

func TestOAuthFlow(t *testing.T) {
	for _, auto := range []bool{false, true} {
		t.Run(map[bool]string{false: "consent page", true: "auto approve"}[auto], func(t *testing.T) {
			st := newStack(t, localsupabase.Config{OAuthAutoApprove: auto, OAuthRedirectURIs: []string{redirectURI}})
			c := newClient(t, st)
			other := st.AddOrganization("Other Org")
			code, verifier := authorize(t, c, st, "")

			wantStatus(t, exchange(t, c, st, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {"wrong"}}, true), 400)
			// A failed attempt burns the code too.
			wantStatus(t, exchange(t, c, st, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}, true), 400)

			code, verifier = authorize(t, c, st, st.Organization().Slug)
			r := exchange(t, c, st, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}, true)
			wantStatus(t, r, http.StatusCreated)
			var tok tokenResponse
			r.json(t, &tok)
			if !strings.HasPrefix(tok.AccessToken, "sbp_oauth_") || tok.TokenType != "Bearer" || tok.ExpiresIn != 86400 || tok.RefreshToken == "" {
				t.Fatalf("token response %s", r.body)
			}
			wantStatus(t, exchange(t, c, st, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}, true), 400)

			// The grant covers one organization.
			r = c.do("GET", st.ManagementURL()+"/v1/organizations", nil, "Authorization", "Bearer "+tok.AccessToken)
			wantStatus(t, r, 200)
			wantJSON(t, r, `[{"id":"`+st.Organization().Slug+`","slug":"`+st.Organization().Slug+`","name":"Local Organization"}]`)
			wantStatus(t, c.do("GET", st.ManagementURL()+"/v1/organizations/"+other.Slug+"/members", nil, "Authorization", "Bearer "+tok.AccessToken), 403)
			wantStatus(t, c.do("GET", st.ManagementURL()+"/v1/organizations/"+other.Slug+"/members", nil, "Authorization", "Bearer "+st.AccessToken()), 200)

			// Refresh rotates both tokens; the old ones die at once.
			r = exchange(t, c, st, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, false)
			wantStatus(t, r, http.StatusCreated)
			var tok2 tokenResponse
			r.json(t, &tok2)
			if tok2.AccessToken == tok.AccessToken || tok2.RefreshToken == tok.RefreshToken {
				t.Fatal("refresh did not rotate both tokens")
			}
			wantStatus(t, c.do("GET", st.ManagementURL()+"/v1/projects", nil, "Authorization", "Bearer "+tok.AccessToken), 401)
			wantStatus(t, c.do("GET", st.ManagementURL()+"/v1/projects", nil, "Authorization", "Bearer "+tok2.AccessToken), 200)
			r = exchange(t, c, st, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, true)
			wantStatus(t, r, 404)
			wantJSON(t, r, `{"message":"No such refresh token found"}`)

			// Revocation ends the grant.
			cl := st.OAuthClient()
			wantStatus(t, c.do("POST", st.ManagementURL()+"/v1/oauth/revoke", map[string]string{"client_id": cl.ID, "client_secret": "wrong", "refresh_token": tok2.RefreshToken}), 401)
			wantStatus(t, c.do("POST", st.ManagementURL()+"/v1/oauth/revoke", map[string]string{"client_id": cl.ID, "client_secret": cl.Secret, "refresh_token": tok2.RefreshToken}), 204)
			wantStatus(t, c.do("GET", st.ManagementURL()+"/v1/projects", nil, "Authorization", "Bearer "+tok2.AccessToken), 401)
			wantStatus(t, exchange(t, c, st, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok2.RefreshToken}}, true), 404)
		})
	}
}

func TestOAuthRejections(t *testing.T) {
	st := newStack(t, localsupabase.Config{OAuthAutoApprove: true, OAuthRedirectURIs: []string{redirectURI}})
	c := newClient(t, st)
	cl := st.OAuthClient()
	tests := []struct {
		name  string
		query url.Values
	}{
		{"unknown client", url.Values{"client_id": {"00000000-0000-4000-8000-000000000000"}, "redirect_uri": {redirectURI}, "response_type": {"code"}}},
		{"unregistered redirect", url.Values{"client_id": {cl.ID}, "redirect_uri": {"https://evil.example.com/cb"}, "response_type": {"code"}}},
		{"response type token", url.Values{"client_id": {cl.ID}, "redirect_uri": {redirectURI}, "response_type": {"token"}}},
		{"not a member", url.Values{"client_id": {cl.ID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "organization_slug": {"nosuchorg"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do("GET", st.ManagementURL()+"/v1/oauth/authorize?"+tt.query.Encode(), nil)
			wantStatus(t, r, 400)
			if r.header.Get("Location") != "" {
				t.Error("an invalid request must not redirect")
			}
		})
	}
	st.AddRedirectURI("https://other.example.com/cb")
	r := c.do("GET", st.ManagementURL()+"/v1/oauth/authorize?"+url.Values{"client_id": {cl.ID}, "redirect_uri": {"https://other.example.com/cb"}, "response_type": {"code"}}.Encode(), nil)
	wantStatus(t, r, http.StatusFound)

	bad := []struct {
		name   string
		form   url.Values
		header []string
		status int
	}{
		{"no client auth", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, nil, 401},
		{"wrong secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {cl.ID}, "client_secret": {"nope"}}, nil, 401},
		{"unknown field", url.Values{"grant_type": {"refresh_token"}, "bogus": {"1"}, "client_id": {cl.ID}, "client_secret": {cl.Secret}}, nil, 400},
		{"bad grant type", url.Values{"grant_type": {"password"}, "client_id": {cl.ID}, "client_secret": {cl.Secret}}, nil, 400},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, c.do("POST", st.ManagementURL()+"/v1/oauth/token", tt.form, tt.header...), tt.status)
		})
	}
	wantStatus(t, c.do("POST", st.ManagementURL()+"/v1/oauth/token", `{"grant_type":"refresh_token"}`, "Content-Type", "application/json"), 400)
}

func TestOAuthAccessTokenLifetime(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	st := newStack(t, localsupabase.Config{OAuthAutoApprove: true, OAuthRedirectURIs: []string{redirectURI}, AccessTokenLifetime: time.Minute, Now: clock})
	c := newClient(t, st)
	code, verifier := authorize(t, c, st, "")
	r := exchange(t, c, st, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}, false)
	wantStatus(t, r, 201)
	var tok tokenResponse
	r.json(t, &tok)
	if tok.ExpiresIn != 60 {
		t.Errorf("expires_in %d, want 60", tok.ExpiresIn)
	}
	wantStatus(t, c.do("GET", st.ManagementURL()+"/v1/projects", nil, "Authorization", "Bearer "+tok.AccessToken), 200)
	mu.Lock()
	now = now.Add(61 * time.Second)
	mu.Unlock()
	wantStatus(t, c.do("GET", st.ManagementURL()+"/v1/projects", nil, "Authorization", "Bearer "+tok.AccessToken), 401)
	wantStatus(t, exchange(t, c, st, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, true), 201)
}

func TestManagementOrganizations(t *testing.T) {
	st := newStack(t, localsupabase.Config{})
	c := newClient(t, st)
	pat := []string{"Authorization", "Bearer " + st.AccessToken()}
	org := st.Organization()
	m, err := st.AddMember(org.Slug, localsupabase.Member{UserName: "dev2", Email: "dev2@example.com", RoleName: "developer", MFAEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddMember(org.Slug, m); err == nil {
		t.Error("adding the same member twice succeeded")
	}
	r := c.do("GET", st.ManagementURL()+"/v1/organizations/"+org.Slug, nil, pat...)
	wantStatus(t, r, 200)
	wantJSON(t, r, `{"id":"`+org.Slug+`","name":"Local Organization","plan":"free","opt_in_tags":[],"allowed_release_channels":["ga"]}`)
	r = c.do("GET", st.ManagementURL()+"/v1/organizations/"+org.Slug+"/members", nil, pat...)
	wantStatus(t, r, 200)
	u := st.User()
	wantJSON(t, r, `[{"user_id":"`+u.UserID+`","user_name":"local-developer","email":"developer@example.com","role_name":"owner","mfa_enabled":false},
		{"user_id":"`+m.UserID+`","user_name":"dev2","email":"dev2@example.com","role_name":"developer","mfa_enabled":true}]`)
	wantStatus(t, c.do("GET", st.ManagementURL()+"/v1/organizations/nosuchorg", nil, pat...), 404)
	wantStatus(t, c.do("GET", st.ManagementURL()+"/v1/organizations", nil), 401)
	wantStatus(t, c.do("GET", st.ManagementURL()+"/v1/organizations", nil, "Authorization", "Bearer sbp_0000"), 401)
	r = c.do("GET", st.ManagementURL()+"/v1/nothing", nil, pat...)
	wantStatus(t, r, 404)
	wantJSON(t, r, `{"message":"Cannot GET /v1/nothing","error":"Not Found","statusCode":404}`)
}

func TestManagementProjects(t *testing.T) {
	st := newStack(t, localsupabase.Config{ProjectReadyDelay: 300 * time.Millisecond})
	c := newClient(t, st)
	pat := []string{"Authorization", "Bearer " + st.AccessToken()}
	org := st.Organization()
	base := st.ManagementURL()

	r := c.do("POST", base+"/v1/projects", map[string]any{"name": "beta", "organization_slug": org.Slug, "db_pass": "pw", "region": "eu-west-1"}, pat...)
	wantStatus(t, r, 201)
	var created struct {
		Ref, Status, Region, OrganizationSlug string `json:"-"`
	}
	var m map[string]any
	r.json(t, &m)
	created.Ref, created.Status = m["ref"].(string), m["status"].(string)
	if created.Status != "COMING_UP" || len(created.Ref) != 20 || m["region"] != "eu-west-1" {
		t.Fatalf("created %s", r.body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r = c.do("GET", base+"/v1/projects/"+created.Ref, nil, pat...)
		wantStatus(t, r, 200)
		r.json(t, &m)
		if m["status"] == "ACTIVE_HEALTHY" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("project still %v", m["status"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	p, ok := st.ProjectByRef(created.Ref)
	if !ok {
		t.Fatal("created project unknown to the Go API")
	}
	// A real, bootstrapped database with its own listener.
	ac := newClient(t, st)
	wantStatus(t, ac.do("GET", p.APIURL+"/auth/v1/admin/users", nil, "apikey", p.SecretKey), 200)
	if p.APIURL == st.Project().APIURL || p.DBURL == st.Project().DBURL {
		t.Error("new project shares the default project's listener or database")
	}

	st.AddProject(t.Context(), org.Slug, "alpha")
	for _, tt := range []struct {
		query string
		names []string
		count int
	}{
		{"", []string{"Local Project", "alpha", "beta"}, 3},
		{"?limit=1&offset=1", []string{"alpha"}, 3},
		{"?sort=name_desc&limit=2", []string{"beta", "alpha"}, 3},
		{"?search=ALP", []string{"alpha"}, 1},
		{"?offset=10", []string{}, 3},
	} {
		r = c.do("GET", base+"/v1/organizations/"+org.Slug+"/projects"+tt.query, nil, pat...)
		wantStatus(t, r, 200)
		var page struct {
			Projects []struct {
				Name string `json:"name"`
			} `json:"projects"`
			Pagination struct{ Count, Limit, Offset int } `json:"pagination"`
		}
		r.json(t, &page)
		var names []string
		for _, p := range page.Projects {
			names = append(names, p.Name)
		}
		if strings.Join(names, ",") != strings.Join(tt.names, ",") || page.Pagination.Count != tt.count {
			t.Errorf("%s: names %v count %d, want %v %d", tt.query, names, page.Pagination.Count, tt.names, tt.count)
		}
	}
	wantStatus(t, c.do("GET", base+"/v1/organizations/"+org.Slug+"/projects?limit=101", nil, pat...), 400)

	for _, body := range []map[string]any{
		{"name": "x", "organization_slug": org.Slug},
		{"name": "x", "organization_slug": org.Slug, "db_pass": "p", "extra": 1},
		{"name": "x", "organization_slug": org.Slug, "db_pass": "p", "region": "mars-1"},
	} {
		wantStatus(t, c.do("POST", base+"/v1/projects", body, pat...), 400)
	}
	wantStatus(t, c.do("POST", base+"/v1/projects", map[string]any{"name": "x", "organization_slug": "nosuchorg", "db_pass": "p"}, pat...), 404)

	r = c.do("GET", base+"/v1/projects", nil, pat...)
	wantStatus(t, r, 200)
	var list []map[string]any
	r.json(t, &list)
	if len(list) != 3 {
		t.Errorf("%d projects listed, want 3", len(list))
	}
}

func TestManagementProjectDetails(t *testing.T) {
	st := newStack(t, localsupabase.Config{})
	c := newClient(t, st)
	pat := []string{"Authorization", "Bearer " + st.AccessToken()}
	p := st.Project()
	base := st.ManagementURL() + "/v1/projects/" + p.Ref

	r := c.do("GET", base+"/health?services=auth,db&services=rest", nil, pat...)
	wantStatus(t, r, 200)
	var health []struct {
		Name, Status string
		Healthy      bool
	}
	r.json(t, &health)
	if len(health) != 3 || health[0].Status != "ACTIVE_HEALTHY" || health[1].Status != "ACTIVE_HEALTHY" {
		t.Errorf("health %s", r.body)
	}
	wantStatus(t, c.do("GET", base+"/health", nil, pat...), 400)

	for _, reveal := range []string{"", "?reveal=true"} {
		r = c.do("GET", base+"/api-keys"+reveal, nil, pat...)
		wantStatus(t, r, 200)
		var keys []struct {
			Name, Type, APIKey string `json:"-"`
		}
		var raw []map[string]any
		r.json(t, &raw)
		_ = keys
		got := map[string]string{}
		for _, k := range raw {
			got[k["type"].(string)+"/"+k["name"].(string)] = k["api_key"].(string)
		}
		if got["legacy/anon"] != p.AnonKey || got["legacy/service_role"] != p.ServiceRoleKey || got["publishable/default"] != p.PublishableKey {
			t.Errorf("keys %v", got)
		}
		if (got["secret/default"] == p.SecretKey) != (reveal != "") {
			t.Errorf("reveal=%q: secret key shown %v", reveal, got["secret/default"] == p.SecretKey)
		}
	}

	r = c.do("POST", base+"/database/query", map[string]any{"query": "create table t (id int8, n int, j jsonb, s text); insert into t values (1, 2, '{\"a\":1}', 'x'); select * from t"}, pat...)
	wantStatus(t, r, 201)
	wantJSON(t, r, `[{"id":"1","n":2,"j":{"a":1},"s":"x"}]`)
	r = c.do("POST", base+"/database/query", map[string]any{"query": "select $1::int + 1 as v", "parameters": []any{41}}, pat...)
	wantStatus(t, r, 201)
	wantJSON(t, r, `[{"v":42}]`)
	r = c.do("POST", base+"/database/query", map[string]any{"query": "insert into t values (2)", "read_only": true}, pat...)
	wantStatus(t, r, 400)
	r = c.do("POST", base+"/database/query", map[string]any{"query": "select * from nope"}, pat...)
	wantStatus(t, r, 400)
	if !strings.Contains(string(r.body), "Failed to run sql query: ERROR:  42P01") {
		t.Errorf("sql error body %s", r.body)
	}
	wantStatus(t, c.do("POST", base+"/database/query", map[string]any{"query": ""}, pat...), 400)
	wantStatus(t, c.do("GET", st.ManagementURL()+"/v1/projects/abcdefghijklmnopqrst", nil, pat...), 404)
}

func TestManagementRateLimit(t *testing.T) {
	st := newStack(t, localsupabase.Config{RateLimit: 3})
	c := newClient(t, st)
	pat := []string{"Authorization", "Bearer " + st.AccessToken()}
	for i := 2; i >= 0; i-- {
		r := c.do("GET", st.ManagementURL()+"/v1/organizations", nil, pat...)
		wantStatus(t, r, 200)
		wantHeader(t, r, "X-RateLimit-Limit", "3")
		wantHeader(t, r, "X-RateLimit-Remaining", string(rune('0'+i)))
		if reset := r.header.Get("X-RateLimit-Reset"); reset != "60" && reset != "59" {
			t.Errorf("X-RateLimit-Reset %q", reset)
		}
	}
	r := c.do("GET", st.ManagementURL()+"/v1/organizations", nil, pat...)
	wantStatus(t, r, 429)
	wantHeader(t, r, "X-RateLimit-Remaining", "0")
	// Another endpoint has its own budget.
	wantStatus(t, c.do("GET", st.ManagementURL()+"/v1/projects", nil, pat...), 200)
}

// TestAuthorizeFromGo: the Go shortcut for the user's consent checks the
// request as the endpoint does and issues a code the token endpoint takes.
func TestAuthorizeFromGo(t *testing.T) {
	st := newStack(t, localsupabase.Config{OAuthRedirectURIs: []string{redirectURI}})
	c := newClient(t, st)
	cl := st.OAuthClient()
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {cl.ID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	code, err := st.Authorize(st.ManagementURL() + "/v1/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	r := exchange(t, c, st, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}, true)
	wantStatus(t, r, http.StatusCreated)

	bad := url.Values{"client_id": {"no-such-client"}, "redirect_uri": {redirectURI}, "response_type": {"code"}}
	if _, err := st.Authorize(st.ManagementURL() + "/v1/oauth/authorize?" + bad.Encode()); err == nil {
		t.Error("an unknown client was authorized")
	}
	q.Set("redirect_uri", "https://elsewhere.example/cb")
	if _, err := st.Authorize(st.ManagementURL() + "/v1/oauth/authorize?" + q.Encode()); err == nil {
		t.Error("an unregistered redirect URI was authorized")
	}
}
