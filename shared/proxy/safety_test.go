package proxy_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/supabridge/supabridge/shared/access"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/proxy"
)

// TestPathEscapes sends request lines exactly as written: none may leave
// its API prefix, and none reaches Supabase.
func TestPathEscapes(t *testing.T) {
	w := newWorld(t)
	a := w.keyAccount(stack.Project(), stack.Project().SecretKey)
	for _, tt := range []struct {
		target string
		status int
	}{
		{"/proxy/rest/v1/../../v1/projects", 400},
		{"/proxy/rest/v1/./px_books", 400},
		{"/proxy/rest/v1/px_books/..", 400},
		{"/proxy/rest/v1/%2e%2e/%2e%2e/v1/projects", 400},
		{"/proxy/rest/v1/%2E%2E/px_books", 400},
		{"/proxy/rest/v1/.%2e/px_books", 400},
		{"/proxy/rest/v1/px_books%2f..%2f..%2fv1", 400},
		{"/proxy/rest/v1/px_books%2F..", 400},
		{"/proxy/rest/v1/%252e%252e/%252e%252e/v1/projects", 400},
		{"/proxy/rest/v1/%252f", 400},
		{"/proxy/storage/v1/object/a%5c..%5c..%5cv1", 400},
		{`/proxy/storage/v1/object/a\..\..\v1`, 400},
		{"/proxy/storage/v1/object/a%255cb", 400},
		{"/proxy/rest/v1//px_books", 400},
		{"/proxy//evil.example.com/rest/v1/px_books", 400},
		{"/proxy/https://evil.example.com/rest/v1/px_books", 400},
		{"/proxy/https:%2F%2Fevil.example.com/rest/v1", 400},
		{"/proxy/http:evil.example.com", 400},
		{"/proxy/rest/v1/px%00books", 400},
		{"/proxy/rest/v1/px%0d%0aX-Injected:%201", 400},
		{"/proxy/rest/v1/%zz", 400},
		{"/proxy/rest/v1/" + strings.Repeat("a", 5000), 400},
		{"/proxy/", 404},
		{"/proxy/v1", 404},
		{"/proxy/v1/", 404},
		{"/proxy/pg/v1/query", 404},
		{"/proxy/rest/v2/px_books", 404},
		{"/proxy/realtime/v1/websocket", 404},
		{"/proxy/rest", 404},
		{"/elsewhere/rest/v1/px_books", 404},
		{"http://evil.example.com/proxy/rest/v1/px_books?select=id&id=eq.1", 200}, // absolute-form: the host is ignored
	} {
		t.Run(tt.target, func(t *testing.T) {
			resetPlatform(t)
			r := w.rawCall(tt.target, map[string]string{proxy.HeaderAccount: a.ID})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			calls := upstreamCalls()
			if tt.status == 200 {
				if string(r.body) != `[{"id":1}]` || calls != 1 {
					t.Errorf("absolute-form request: %s, %d upstream calls", r.body, calls)
				}
				return
			}
			if calls != 0 {
				t.Errorf("%d upstream calls for a refused path", calls)
			}
		})
	}
}

// TestRefusals: what a caller sends that Supabridge refuses gets a 4xx in
// the envelope, never a 5xx, and nothing reaches Supabase.
func TestRefusals(t *testing.T) {
	w := newWorld(t)
	p := stack.Project()
	key := w.keyAccount(p, p.SecretKey)
	org := w.patAccount()
	foreign := w.save(&bridge.Account{Environment: "other", AuthMethod: bridge.AuthAPIKey, ProjectRef: p.Ref, ProjectURL: p.APIURL, KeyKind: bridge.KeySecret},
		bridge.Credential{Method: bridge.AuthAPIKey, APIKey: bridge.Secret(p.SecretKey)})
	big := strings.Repeat("x", proxy.MaxRequestBody+1)
	for _, tt := range []struct {
		name   string
		req    request
		status int
		code   string
	}{
		{"no operator key", request{path: "rest/v1/px_books", account: key.ID, noKey: true}, 401, bridge.EUNAUTHORIZED},
		{"unknown operator key", request{path: "rest/v1/px_books", account: key.ID, header: http.Header{"Authorization": {"Bearer sbk_unknownUnknownUnknownUnknownUnknown000000"}}}, 401, bridge.EUNAUTHORIZED},
		{"a Supabase key instead of the operator's", request{path: "rest/v1/px_books", account: key.ID, header: http.Header{"Apikey": {p.SecretKey}, "Authorization": {"Bearer " + p.SecretKey}}}, 401, bridge.EUNAUTHORIZED},
		{"two different operator keys", request{path: "rest/v1/px_books", account: key.ID, header: http.Header{"Apikey": {"sbk_other"}, "Authorization": {"Bearer " + w.key}}}, 400, bridge.EINVALID},
		{"no account", request{path: "rest/v1/px_books"}, 400, bridge.EINVALID},
		{"two different accounts", request{path: "rest/v1/px_books?integrated_account_id=" + org.ID, account: key.ID}, 400, bridge.EINVALID},
		{"unknown account", request{path: "rest/v1/px_books", account: bridge.NewID()}, 404, bridge.ENOTFOUND},
		{"malformed account", request{path: "rest/v1/px_books", account: "../../etc"}, 404, bridge.ENOTFOUND},
		{"another environment's account", request{path: "rest/v1/px_books", account: foreign.ID}, 404, bridge.ENOTFOUND},
		{"Management API with a project key", request{path: "v1/organizations", account: key.ID}, 422, bridge.EUNPROCESSABLE},
		{"another project with a project key", request{path: "rest/v1/px_books", account: key.ID, ref: orgProject.Ref}, 400, bridge.EINVALID},
		{"organization account without a project ref", request{path: "rest/v1/px_books", account: org.ID}, 400, bridge.EINVALID},
		{"malformed project ref", request{path: "rest/v1/px_books", account: org.ID, ref: "../x"}, 400, bridge.EINVALID},
		{"body over the limit", request{method: http.MethodPost, path: "rest/v1/px_items", account: key.ID, body: strings.NewReader(big)}, 413, bridge.ETOOLARGE},
		{"body of unknown length over the limit", request{method: http.MethodPost, path: "rest/v1/px_items", account: key.ID,
			body: io.MultiReader(strings.NewReader(big))}, 413, bridge.ETOOLARGE},
		{"unified on a write", request{method: http.MethodPost, path: "rest/v1/px_items?response_format=unified", account: key.ID, body: strings.NewReader(`{}`)}, 400, bridge.EINVALID},
		{"unified outside the Data API", request{path: "auth/v1/admin/users?response_format=unified", account: key.ID}, 400, bridge.EINVALID},
		{"unknown response format", request{path: "rest/v1/px_books?response_format=csv", account: key.ID}, 400, bridge.EINVALID},
		{"forged cursor", request{path: "rest/v1/px_books?response_format=unified&next_cursor=eyJvIjo1fQ.AAAA", account: key.ID}, 400, bridge.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resetPlatform(t)
			wantEnvelope(t, w.call(tt.req), tt.status, tt.code)
			// A body of unknown length streams upstream as it arrives until
			// it passes the limit: the upstream sees that request cut short.
			streams := strings.Contains(tt.name, "unknown length")
			if n := upstreamCalls(); n != 0 && !streams {
				t.Errorf("%d upstream calls", n)
			}
		})
	}
	t.Run("organization account and a project outside it", func(t *testing.T) {
		wantEnvelope(t, w.call(request{path: "rest/v1/px_books", account: org.ID, ref: "zzzzzzzzzzzzzzzzzzzz"}), 404, bridge.ENOTFOUND)
	})
}

// TestHeaders: what the upstream receives and what the caller gets back.
func TestHeaders(t *testing.T) {
	up := newTestUpstream(t, "sb_secret_headersHeaders_00000000")
	w := newWorld(t)
	a := w.keyAccountAt("abcdefghijklmnopqrst", up.URL, up.key)
	for _, tt := range []struct {
		name     string
		path     string
		header   http.Header
		wantAuth string
	}{
		{"as supabase-js sends its key", "storage/v1/object/list/bucket?prefix=a%20b&integrated_account_id=" + a.ID,
			http.Header{"Apikey": {w.key}, "Authorization": {"Bearer " + w.key}}, "Bearer " + up.key},
		{"key in apikey only", "rest/v1/px_books?select=id&apikey=" + w.key, http.Header{"Apikey": {w.key}}, "Bearer " + up.key},
		{"a user's token", "rest/v1/px_books", http.Header{"Apikey": {w.key}, "Authorization": {"Bearer user.jwt.token"}}, "Bearer user.jwt.token"},
		{"a Supabase key as bearer is replaced", "rest/v1/px_books", http.Header{"Apikey": {w.key}, "Authorization": {"Bearer sb_secret_someoneElse"}}, "Bearer " + up.key},
		{"Edge Functions get an opaque key as apikey only", "functions/v1/hello", nil, ""},
		{"GraphQL", "graphql/v1", nil, "Bearer " + up.key},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{
				"Cookie":          {"session=operator"},
				"Connection":      {"X-Hop"},
				"X-Hop":           {"must not pass"},
				"X-Forwarded-For": {"10.0.0.1"},
				"Prefer":          {"count=exact", "return=representation"},
			}
			for k, v := range tt.header {
				h[k] = v
			}
			id := a.ID
			if strings.Contains(tt.path, "integrated_account_id") {
				id = ""
			}
			r := w.call(request{method: http.MethodPost, path: tt.path, account: id, ref: "abcdefghijklmnopqrst", header: h, body: strings.NewReader(`{"q":1}`)})
			wantRemote(t, r, http.StatusTeapot)
			got, uri := up.lastSeen()
			if got.Get("Apikey") != up.key || got.Get("Authorization") != tt.wantAuth {
				t.Errorf("upstream got apikey %q, Authorization %q", got.Get("Apikey"), got.Get("Authorization"))
			}
			for k, v := range got {
				if strings.Contains(strings.Join(v, " "), w.key) {
					t.Errorf("the operator key reached the upstream in %s", k)
				}
			}
			for _, k := range []string{"Cookie", "X-Hop", "X-Forwarded-For", proxy.HeaderAccount, proxy.HeaderProjectRef} {
				if got.Get(k) != "" {
					t.Errorf("upstream got %s: %q", k, got.Get(k))
				}
			}
			if p := got.Values("Prefer"); len(p) != 1 || p[0] != "count=exact, return=representation" {
				t.Errorf("Prefer = %q, want the values on one line", p)
			}
			if strings.Contains(uri, "integrated_account_id") || strings.Contains(uri, "apikey") {
				t.Errorf("upstream request URI %s carries the proxy's parameters", uri)
			}
			if strings.Contains(tt.path, "prefix=") && !strings.HasSuffix(uri, "?prefix=a%20b") {
				t.Errorf("query not passed as sent: %s", uri)
			}
			if r.header.Get("Content-Range") != "0-0/1" || r.header.Get("X-Ratelimit-Remaining") != "41" || r.header.Get("Set-Cookie") == "" {
				t.Errorf("upstream headers lost: %v", r.header)
			}
			if r.header.Get("X-Upstream-Hop") != "" || r.header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("hop-by-hop or CORS headers passed: %v", r.header)
			}
			var body struct{ Body string }
			if err := json.Unmarshal(r.body, &body); err != nil || body.Body != `{"q":1}` {
				t.Errorf("body %s", r.body)
			}
		})
	}
}

// TestRedirectReturned: an upstream redirect reaches the caller; the proxy
// never follows it with the account's credentials.
func TestRedirectReturned(t *testing.T) {
	up := newTestUpstream(t, "sb_secret_redirectRedirect_00000000")
	w := newWorld(t)
	a := w.keyAccountAt("abcdefghijklmnopqrst", up.URL, up.key)
	req, _ := http.NewRequest(http.MethodGet, w.srv.URL+"/proxy/storage/v1/redirect", nil)
	req.Header.Set("Authorization", "Bearer "+w.key)
	req.Header.Set(proxy.HeaderAccount, a.ID)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://elsewhere.example.com/object" || resp.Header.Get(proxy.HeaderRemote) != "true" {
		t.Errorf("got %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := up.count("/storage/v1/redirect"); n != 1 {
		t.Errorf("upstream calls = %d", n)
	}
}

// TestNeedsReauthBeforeAnyCall: an account marked needs_reauth is refused
// before any upstream call, even with its project key still in memory.
func TestNeedsReauthBeforeAnyCall(t *testing.T) {
	w := newWorld(t)
	a := w.oauthAccount()
	wantRemote(t, w.call(request{path: "rest/v1/px_books?select=id&limit=1", account: a.ID, ref: orgProject.Ref}), http.StatusOK)
	if _, err := w.mgr.MarkNeedsReauth(context.Background(), a, "revoked in a test"); err != nil {
		t.Fatal(err)
	}
	// The account record is read again (as after the cache's TTL); the
	// project key is still in memory.
	w.h.Access.(*access.Resolver).Forget(a)
	resetPlatform(t)
	wantEnvelope(t, w.call(request{path: "rest/v1/px_books?select=id&limit=1", account: a.ID, ref: orgProject.Ref}), http.StatusUnauthorized, bridge.ENEEDSREAUTH)
	if n := upstreamCalls(); n != 0 {
		t.Errorf("%d upstream calls", n)
	}
}

// TestBehindRouter: the routes Register adds serve every method through
// the bundle's router, as the local runner mounts them.
func TestBehindRouter(t *testing.T) {
	w := newWorld(t)
	a := w.keyAccount(stack.Project(), stack.Project().SecretKey)
	rt := httpapi.NewRouter()
	w.h.Register(rt)
	srv := httptest.NewServer(httpapi.Serve(rt, httpapi.Options{Logger: w.app.Logger, MaxBody: -1}))
	defer srv.Close()
	for _, m := range proxy.Methods {
		// A filter that matches no row: DELETE and PATCH change nothing.
		req, _ := http.NewRequest(m, srv.URL+"/proxy/rest/v1/px_items?select=id&slug=eq.never-a-slug", nil)
		req.Header.Set("Authorization", "Bearer "+w.key)
		req.Header.Set(proxy.HeaderAccount, a.ID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// PostgREST answers each method in its own way; what matters is
		// that the answer is its own.
		if resp.Header.Get(proxy.HeaderRemote) != "true" || resp.StatusCode >= 500 {
			t.Errorf("%s through the router: %d, remote %q", m, resp.StatusCode, resp.Header.Get(proxy.HeaderRemote))
		}
	}
}

// TestPrivateUpstreamRefused: outside the sandbox, an account whose host
// resolves to a private address is never dialled.
func TestPrivateUpstreamRefused(t *testing.T) {
	up := newTestUpstream(t, "sb_secret_privatePrivate_00000000")
	w := newWorld(t)
	w.h.Transport = proxy.NewTransport(false)
	a := w.keyAccountAt("abcdefghijklmnopqrst", up.URL, up.key)
	wantEnvelope(t, w.call(request{path: "storage/v1/bucket", account: a.ID}), http.StatusForbidden, bridge.EFORBIDDEN)
	if n := up.count("/storage/v1/bucket"); n != 0 {
		t.Errorf("the private upstream was called %d times", n)
	}
}
