package localsupabase_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/localsupabase/faults"
)

// TestStartIsFast holds the promise other packages rely on: a stack on an
// existing cluster is up well under two seconds.
func TestStartIsFast(t *testing.T) {
	start := time.Now()
	st := newStack(t, localsupabase.Config{})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Start took %v", d)
	}
	env := strings.Join(st.Env(), "\n")
	p := st.Project()
	for _, want := range []string{"API_URL=" + p.APIURL, "DB_URL=" + p.DBURL, "JWT_SECRET=" + p.JWTSecret, "ANON_KEY=" + p.AnonKey,
		"SERVICE_ROLE_KEY=" + p.ServiceRoleKey, "PUBLISHABLE_KEY=" + p.PublishableKey, "SECRET_KEY=" + p.SecretKey,
		"PROJECT_REF=" + p.Ref, "MANAGEMENT_API_URL=" + st.ManagementURL(), "ORG_SLUG=" + st.Organization().Slug,
		"OAUTH_CLIENT_ID=" + st.OAuthClient().ID, "OAUTH_CLIENT_SECRET=" + st.OAuthClient().Secret, "ACCESS_TOKEN=" + st.AccessToken()} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("Env lacks %s", want)
		}
	}
	if !strings.HasPrefix(p.PublishableKey, "sb_publishable_") || !strings.HasPrefix(p.SecretKey, "sb_secret_") || !strings.HasPrefix(st.AccessToken(), "sbp_") {
		t.Error("key prefixes")
	}
}

func TestGatewayKeyMapping(t *testing.T) {
	st := newStack(t, localsupabase.Config{})
	p := st.Project()
	tests := []struct {
		key, role string
	}{
		{p.AnonKey, "anon"}, {p.PublishableKey, "anon"}, {p.ServiceRoleKey, "service_role"}, {p.SecretKey, "service_role"},
	}
	for _, tt := range tests {
		jwt, ok := p.ResolveAPIKey(tt.key)
		if !ok || !strings.Contains(jwtPayload(t, jwt), `"role":"`+tt.role+`"`) || !strings.Contains(jwtPayload(t, jwt), `"ref":"`+p.Ref+`"`) {
			t.Errorf("ResolveAPIKey(%.20s…) = %v, payload %s", tt.key, ok, jwtPayload(t, jwt))
		}
	}
	for _, bad := range []string{"", "sb_secret_x", p.AnonKey + "x"} {
		if _, ok := p.ResolveAPIKey(bad); ok {
			t.Errorf("ResolveAPIKey(%q) accepted", bad)
		}
	}
	c := newClient(t, st)
	r := c.do("GET", p.APIURL+"/nowhere", nil, "apikey", p.AnonKey)
	wantStatus(t, r, 404)
	wantJSON(t, r, `{"message":"no Route matched with those values"}`)
	r = c.do("OPTIONS", p.APIURL+"/auth/v1/admin/users", nil, "Origin", "http://localhost:3000", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "apikey, authorization")
	wantStatus(t, r, 200)
	wantHeader(t, r, "Access-Control-Allow-Headers", "apikey, authorization")
}

func jwtPayload(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64RawURL(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStackFaults(t *testing.T) {
	st := newStack(t, localsupabase.Config{OAuthAutoApprove: true, OAuthRedirectURIs: []string{redirectURI}})
	c := newClient(t, st)
	p := st.Project()
	in := st.Faults()

	// A failing token endpoint, then "exactly one token call" per client.
	st.FailTokenEndpoint(http.StatusInternalServerError, 1)
	code, verifier := authorize(t, c, st, "")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	wantStatus(t, exchange(t, c, st, form, true), 500)
	in.ResetCounts()
	code, verifier = authorize(t, c, st, "")
	form = url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	wantStatus(t, exchange(t, c, st, form, true), 201)
	tokenCalls := faults.Match{Server: localsupabase.ManagementServer, Route: "POST /v1/oauth/token"}
	if n := in.Count(tokenCalls); n != 1 {
		t.Errorf("token calls %d, want 1", n)
	}
	tokenCalls.Credential = st.OAuthClient().ID
	if n := in.Count(tokenCalls); n != 1 {
		t.Errorf("token calls by the client %d, want 1", n)
	}

	// Route labels are the Management API's patterns.
	pat := []string{"Authorization", "Bearer " + st.AccessToken()}
	c.do("GET", st.ManagementURL()+"/v1/projects/"+p.Ref, nil, pat...)
	c.do("GET", st.ManagementURL()+"/v1/projects/"+p.Ref, nil, pat...)
	if n := in.Count(faults.Match{Route: "GET /v1/projects/{ref}", Credential: st.AccessToken()}); n != 2 {
		t.Errorf("project reads by the PAT %d, want 2", n)
	}

	// Forced statuses and 429 bursts on a project's API.
	in.FailNext(faults.Match{Server: p.ServerName(), Method: "GET", Path: "/auth/v1/health"}, 503, "", 2)
	for i := 0; i < 2; i++ {
		wantStatus(t, c.do("GET", p.APIURL+"/auth/v1/health", nil, "apikey", p.AnonKey), 503)
	}
	wantStatus(t, c.do("GET", p.APIURL+"/auth/v1/health", nil, "apikey", p.AnonKey), 200)
	in.RateLimitNext(faults.Match{Server: p.ServerName()}, 1)
	r := c.do("GET", p.APIURL+"/auth/v1/health", nil, "apikey", p.AnonKey)
	wantStatus(t, r, 429)
	wantJSON(t, r, `{"code":429,"error_code":"over_request_rate_limit","msg":"Request rate limit reached"}`)
	in.RateLimitNext(faults.Match{Server: localsupabase.ManagementServer}, 1)
	r = c.do("GET", st.ManagementURL()+"/v1/organizations", nil, pat...)
	wantStatus(t, r, 429)
	wantHeader(t, r, "X-RateLimit-Remaining", "0")

	// Latency.
	in.AddLatency(faults.Match{Server: localsupabase.ManagementServer, Route: "GET /v1/organizations"}, 200*time.Millisecond, 1)
	start := time.Now()
	wantStatus(t, c.do("GET", st.ManagementURL()+"/v1/organizations", nil, pat...), 200)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("latency fault: request took %v", d)
	}

	// Dropped connections.
	in.DropNext(faults.Match{Server: localsupabase.ManagementServer, Method: "POST"}, 1)
	if _, err := http.Post(st.ManagementURL()+"/v1/oauth/token", "application/x-www-form-urlencoded", strings.NewReader("grant_type=refresh_token")); err == nil {
		t.Error("dropped connection answered")
	}

	// The HTTP controls, including Realtime's mounted beside them.
	admin := newClient(t, st)
	r = admin.do("POST", st.AdminURL()+"/faults", map[string]any{"match": map[string]string{"server": p.ServerName(), "path": "/auth/v1/settings"}, "kind": "status", "status": 418, "count": 1})
	wantStatus(t, r, 201)
	wantStatus(t, c.do("GET", p.APIURL+"/auth/v1/settings", nil, "apikey", p.AnonKey), 418)
	r = admin.do("GET", st.AdminURL()+"/count?server="+url.QueryEscape(p.ServerName())+"&path=/auth/v1/settings", nil)
	wantJSON(t, r, `{"count":1}`)
	wantStatus(t, admin.do("GET", st.AdminURL()+"/realtime/", nil), 200)
	wantStatus(t, admin.do("GET", st.AdminURL()+"/realtime-"+p.Ref+"/counters", nil), 200)
}

func TestSeveralProjectsAndOrganizations(t *testing.T) {
	st := newStack(t, localsupabase.Config{})
	org := st.AddOrganization("Second")
	p2, err := st.AddProject(t.Context(), org.Slug, "second project")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddProject(t.Context(), "nosuchorg", "x"); err == nil {
		t.Error("AddProject into an unknown organization succeeded")
	}
	c := newClient(t, st)
	a := &authAdmin{client: c, p: p2, key: p2.SecretKey}
	a.createUser(t, map[string]any{"email": "only-in-p2@example.com"})
	r := c.do("GET", st.Project().APIURL+"/auth/v1/admin/users", nil, "apikey", st.Project().SecretKey)
	wantHeader(t, r, "X-Total-Count", "0")
	// Keys of one project are invalid on another.
	wantStatus(t, c.do("GET", p2.APIURL+"/auth/v1/health", nil, "apikey", st.Project().AnonKey), 401)
	if p2.Status() != "ACTIVE_HEALTHY" || len(st.Projects()) != 2 || len(st.Organizations()) != 2 {
		t.Errorf("status %s, %d projects, %d orgs", p2.Status(), len(st.Projects()), len(st.Organizations()))
	}
}

// TestDataAPIMounted checks the gateway's /rest/v1 route reaches the Data
// API with the key's role: RLS filters anon, the secret key bypasses it.
func TestDataAPIMounted(t *testing.T) {
	st := newStack(t, localsupabase.Config{})
	p := st.Project()
	conn := pgConnect(t, p.DBURL)
	if _, err := conn.Exec(t.Context(), `CREATE TABLE public.notes (id int PRIMARY KEY, body text);
		ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
		CREATE POLICY public_rows ON public.notes FOR SELECT TO anon USING (id = 1);
		INSERT INTO public.notes VALUES (1, 'public'), (2, 'private');`); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, st)
	tests := []struct{ key, want string }{
		{p.PublishableKey, `[{"id":1,"body":"public"}]`},
		{p.AnonKey, `[{"id":1,"body":"public"}]`},
		{p.SecretKey, `[{"id":1,"body":"public"},{"id":2,"body":"private"}]`},
		{p.ServiceRoleKey, `[{"id":1,"body":"public"},{"id":2,"body":"private"}]`},
	}
	for _, tt := range tests {
		r := c.do("GET", p.APIURL+"/rest/v1/notes?select=id,body&order=id", nil, "apikey", tt.key)
		wantStatus(t, r, 200)
		wantJSON(t, r, tt.want)
	}
	wantStatus(t, c.do("GET", p.APIURL+"/rest/v1/notes", nil), 401)
	r := c.do("GET", p.APIURL+"/rest/v1/notes?select=id&apikey="+url.QueryEscape(p.SecretKey), nil)
	wantStatus(t, r, 200)
}
