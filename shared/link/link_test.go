package link_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/link"
	"github.com/supabridge/supabridge/shared/store"
)

func assertStatus(t *testing.T, what string, got, want int, body any) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d: %s", what, got, want, body)
	}
}

func assertContains(t *testing.T, what, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%s does not contain %q:\n%s", what, sub, s)
	}
}

func assertEvents(t *testing.T, e *env, id string, want ...string) {
	t.Helper()
	got := e.events.types(id)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events of %s: %v, want %v", id, got, want)
	}
}

// redirectResult parses a redirect to redirect_uri.
func redirectResult(t *testing.T, resp *http.Response, body, redirectURI string) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want 303 to %s:\n%s", resp.StatusCode, redirectURI, body)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, redirectURI) {
		t.Fatalf("redirect to %s, want %s…", loc, redirectURI)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestCreateLinkToken(t *testing.T) {
	e := newEnv(t, "sqlite", envOptions{allowPrivate: true})
	ctx := context.Background()
	err := e.app.Store.PutEnvironmentSettings(ctx, &store.EnvironmentSettings{Environment: "production",
		RedirectURIs: []string{"https://app.example.com/linked", "https://app.example.com/callbacks/*"}})
	if err != nil {
		t.Fatal(err)
	}
	existing := &bridge.Account{ID: bridge.NewID(), Environment: "production", TenantID: "acme", Status: bridge.StatusNeedsReauth, AuthMethod: bridge.AuthAPIKey}
	if err := e.app.Store.CreateAccount(ctx, existing); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		key    string
		body   map[string]any
		status int
		want   string
	}{
		{"minimal", e.prodKey, map[string]any{"tenant_id": "acme"}, 201, `"link_url"`},
		{"tenant required", e.prodKey, map[string]any{}, 400, `tenant_id is required`},
		{"tenant shape", e.prodKey, map[string]any{"tenant_id": "acme corp/1"}, 400, `tenant_id must be`},
		{"tenant too long", e.prodKey, map[string]any{"tenant_id": strings.Repeat("a", 257)}, 400, `tenant_id must be`},
		{"tenant punctuation", e.prodKey, map[string]any{"tenant_id": "user@acme.example:+-_1"}, 201, `"link_token"`},
		{"redirect exact", e.prodKey, map[string]any{"tenant_id": "acme", "redirect_uri": "https://app.example.com/linked"}, 201, `"link_token"`},
		{"redirect exact only", e.prodKey, map[string]any{"tenant_id": "acme", "redirect_uri": "https://app.example.com/linked/more"}, 400, `allowlist`},
		{"redirect prefix", e.prodKey, map[string]any{"tenant_id": "acme", "redirect_uri": "https://app.example.com/callbacks/supabase?x=1"}, 201, `"link_token"`},
		{"redirect look-alike host", e.prodKey, map[string]any{"tenant_id": "acme", "redirect_uri": "https://app.example.com.evil.test/callbacks/"}, 400, `allowlist`},
		{"redirect off the allowlist", e.prodKey, map[string]any{"tenant_id": "acme", "redirect_uri": "https://evil.test/cb"}, 400, `allowlist`},
		{"redirect loopback not in production", e.prodKey, map[string]any{"tenant_id": "acme", "redirect_uri": "http://127.0.0.1:3000/cb"}, 400, `allowlist`},
		{"redirect loopback in local", e.key, map[string]any{"tenant_id": "acme", "redirect_uri": "http://127.0.0.1:3000/cb"}, 201, `"link_token"`},
		{"redirect localhost in local", e.key, map[string]any{"tenant_id": "acme", "redirect_uri": "http://localhost:5173/done"}, 201, `"link_token"`},
		{"redirect other host in local", e.key, map[string]any{"tenant_id": "acme", "redirect_uri": "https://evil.test/cb"}, 400, `allowlist`},
		{"redirect javascript", e.key, map[string]any{"tenant_id": "acme", "redirect_uri": "javascript:alert(1)"}, 400, `redirect_uri must`},
		{"redirect http public", e.key, map[string]any{"tenant_id": "acme", "redirect_uri": "http://app.example.com/cb"}, 400, `https`},
		{"redirect with credentials", e.key, map[string]any{"tenant_id": "acme", "redirect_uri": "http://user:pw@127.0.0.1/cb"}, 400, `credentials`},
		{"methods subset", e.prodKey, map[string]any{"tenant_id": "acme", "methods": []string{"api_key"}}, 201, `"link_token"`},
		{"methods unknown", e.prodKey, map[string]any{"tenant_id": "acme", "methods": []string{"password"}}, 400, `methods may contain only`},
		{"methods twice", e.prodKey, map[string]any{"tenant_id": "acme", "methods": []string{"oauth", "oauth"}}, 400, `twice`},
		{"methods empty", e.prodKey, map[string]any{"tenant_id": "acme", "methods": []string{}}, 400, `at least one`},
		{"context object", e.prodKey, map[string]any{"tenant_id": "acme", "context": map[string]any{"plan": "pro"}}, 201, `"link_token"`},
		{"context not an object", e.prodKey, map[string]any{"tenant_id": "acme", "context": []int{1}}, 400, `context must be a JSON object`},
		{"context too large", e.prodKey, map[string]any{"tenant_id": "acme", "context": map[string]any{"x": strings.Repeat("a", link.MaxContext)}}, 400, `at most`},
		{"reconnect", e.prodKey, map[string]any{"integrated_account_id": existing.ID}, 201, `"link_token"`},
		{"reconnect wrong tenant", e.prodKey, map[string]any{"integrated_account_id": existing.ID, "tenant_id": "other"}, 400, `does not match`},
		{"reconnect unknown", e.prodKey, map[string]any{"integrated_account_id": bridge.NewID()}, 404, `not found`},
		{"reconnect other environment", e.key, map[string]any{"integrated_account_id": existing.ID}, 404, `not found`},
		{"unknown field", e.prodKey, map[string]any{"tenant_id": "acme", "scopes": []string{"x"}}, 400, `not recognised`},
		{"no key", "", map[string]any{"tenant_id": "acme"}, 401, `unauthorized`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mark := e.writes.mark()
			status, body := e.api(tc.key, http.MethodPost, "/link-tokens", tc.body)
			assertStatus(t, "POST /link-tokens", status, tc.status, string(body))
			assertContains(t, "response", string(body), tc.want)
			if w := e.writes.since(mark); tc.status != http.StatusCreated && len(w) > 0 {
				t.Errorf("a refused link token wrote %v", w)
			}
		})
	}

	t.Run("only the hash is stored", func(t *testing.T) {
		before := time.Now()
		tr := e.linkTokenWith(e.prodKey, map[string]any{"tenant_id": "acme", "context": map[string]any{"plan": "pro"}})
		if d := tr.ExpiresAt.Sub(before); d < 29*time.Minute || d > 31*time.Minute {
			t.Errorf("expires_at %v is not 30 minutes away", tr.ExpiresAt)
		}
		u, err := url.Parse(tr.LinkURL)
		if err != nil || u.Query().Get("link_token") != tr.LinkToken || !strings.HasPrefix(tr.LinkURL, e.srv.URL+"/connect?") {
			t.Errorf("link_url %s does not open the connect page with the token", tr.LinkURL)
		}
		found := false
		for _, w := range e.writes.since(0) {
			pk := strings.TrimPrefix(w, "store ")
			if !strings.HasPrefix(pk, "LINK#") {
				continue
			}
			it, err := e.app.Store.Backend().Get(ctx, pk, "L")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(it.Data), tr.LinkToken) || strings.Contains(string(it.Data), strings.SplitN(tr.LinkToken, "_", 3)[2]) {
				t.Fatalf("link session %s stores the token itself", pk)
			}
			found = true
		}
		if !found {
			t.Fatal("no link session was written")
		}
	})
}

func TestKeyLinks(t *testing.T) {
	p := stack.Project()
	kinds := []struct {
		name        string
		key         string
		kind        bridge.KeyKind
		bypassesRLS bool
	}{
		{"secret", p.SecretKey, bridge.KeySecret, true},
		{"publishable", p.PublishableKey, bridge.KeyPublishable, false},
		{"legacy service_role", p.ServiceRoleKey, bridge.KeyLegacyServiceRole, true},
		{"legacy anon", p.AnonKey, bridge.KeyLegacyAnon, false},
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend, envOptions{allowPrivate: true})
			for _, k := range kinds {
				t.Run(k.name, func(t *testing.T) {
					redirect := "http://127.0.0.1:3000/linked"
					tr := e.linkToken(map[string]any{"tenant_id": "tenant-" + strings.ReplaceAll(k.name, " ", "-"), "redirect_uri": redirect, "context": map[string]any{"plan": "pro"}})
					resp, body := e.submit(tr.LinkToken, "/connect/api-key", url.Values{"project_url": {p.APIURL}, "api_key": {k.key}})
					id := redirectResult(t, resp, body, redirect).Get("integrated_account_id")
					a := e.account(link.LocalEnvironment, id)
					if a.Status != bridge.StatusActive || a.AuthMethod != bridge.AuthAPIKey || a.KeyKind != k.kind ||
						a.BypassesRLS != k.bypassesRLS || a.ProjectURL != p.APIURL || a.LastError != "" {
						t.Errorf("account %+v", a)
					}
					if string(a.Context) != `{"plan":"pro"}` {
						t.Errorf("context %s, want the link's", a.Context)
					}
					if k.kind == bridge.KeyLegacyAnon && a.ProjectRef != p.Ref {
						t.Errorf("project ref %q, want %q from the key", a.ProjectRef, p.Ref)
					}
					if c := e.credential(link.LocalEnvironment, id); c.APIKey.Reveal() != k.key || c.Method != bridge.AuthAPIKey {
						t.Error("the vault does not hold the linked key")
					}
					assertEvents(t, e, id, bridge.EventAccountCreated, bridge.EventAccountActive)
				})
			}
		})
	}
}

func TestAccessTokenLink(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend, envOptions{})
			tr := e.linkToken(map[string]any{"tenant_id": "acme", "methods": []string{"access_token"}})
			status, page, _ := e.page(tr.LinkToken, nil)
			assertStatus(t, "page", status, 200, page)
			if strings.Contains(page, `action="/connect/api-key"`) || strings.Contains(page, `action="/connect/oauth"`) {
				t.Error("the page offers methods the link does not allow")
			}
			resp, body := e.submit(tr.LinkToken, "/connect/access-token", url.Values{"access_token": {stack.AccessToken()}})
			assertStatus(t, "submit", resp.StatusCode, 200, body)
			assertContains(t, "result page", body, "Your Supabase account is connected")
			a := onlyAccount(t, e, link.LocalEnvironment)
			org := stack.Organization()
			if a.Status != bridge.StatusActive || a.AuthMethod != bridge.AuthAccessToken || a.OrganizationSlug != org.Slug || a.OrganizationName != org.Name {
				t.Errorf("account %+v", a)
			}
			if c := e.credential(link.LocalEnvironment, a.ID); c.PersonalAccessToken.Reveal() != stack.AccessToken() {
				t.Error("the vault does not hold the token")
			}
			// The API key form is not offered, so posting it is refused.
			tr2 := e.linkToken(map[string]any{"tenant_id": "acme", "methods": []string{"access_token"}})
			resp, body = e.submit(tr2.LinkToken, "/connect/api-key", url.Values{"project_url": {stack.Project().APIURL}, "api_key": {stack.Project().SecretKey}})
			assertStatus(t, "disallowed method", resp.StatusCode, 403, body)
		})
	}
}

func onlyAccount(t *testing.T, e *env, envName string) *bridge.Account {
	t.Helper()
	accs, _, err := e.app.Store.ListAccounts(context.Background(), bridge.AccountFilter{Environment: envName})
	if err != nil || len(accs) != 1 {
		t.Fatalf("accounts: %d (%v), want 1", len(accs), err)
	}
	return accs[0]
}

func TestReconnect(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend, envOptions{allowPrivate: true})
			p := stack.Project()
			tr := e.linkToken(map[string]any{"tenant_id": "acme", "context": map[string]any{"crm": "42"}})
			resp, body := e.submit(tr.LinkToken, "/connect/api-key", url.Values{"project_url": {p.APIURL}, "api_key": {p.AnonKey}})
			assertStatus(t, "link", resp.StatusCode, 200, body)
			a := onlyAccount(t, e, link.LocalEnvironment)

			// The key stops working: the account needs reauthorization.
			a.Status, a.LastError = bridge.StatusNeedsReauth, "The project rejected the key."
			if err := e.app.Store.UpdateAccount(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			tr = e.linkToken(map[string]any{"integrated_account_id": a.ID})
			status, page, _ := e.page(tr.LinkToken, nil)
			assertStatus(t, "page", status, 200, page)
			assertContains(t, "page", page, "Reconnect your Supabase account")
			resp, body = e.submit(tr.LinkToken, "/connect/api-key", url.Values{"project_url": {p.APIURL}, "api_key": {p.SecretKey}})
			assertStatus(t, "reconnect", resp.StatusCode, 200, body)
			b := onlyAccount(t, e, link.LocalEnvironment)
			if b.ID != a.ID || b.Status != bridge.StatusActive || b.LastError != "" || b.KeyKind != bridge.KeySecret || !b.BypassesRLS || b.TenantID != "acme" {
				t.Errorf("reconnected account %+v", b)
			}
			if string(b.Context) != `{"crm":"42"}` {
				t.Errorf("context %s, want the first link's kept", b.Context)
			}
			if c := e.credential(link.LocalEnvironment, a.ID); c.APIKey.Reveal() != p.SecretKey {
				t.Error("the vault still holds the old key")
			}
			assertEvents(t, e, a.ID, bridge.EventAccountCreated, bridge.EventAccountActive, bridge.EventAccountReactivated, bridge.EventAccountActive)
		})
	}
}

func TestLinkTokenSingleUse(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend, envOptions{allowPrivate: true})
			p := stack.Project()
			redirect := "http://localhost:3000/done"
			tr := e.linkToken(map[string]any{"tenant_id": "acme", "redirect_uri": redirect})
			_, _, csrf := e.page(tr.LinkToken, nil)
			form := url.Values{"link_token": {tr.LinkToken}, "csrf_token": {csrf}, "project_url": {p.APIURL}, "api_key": {p.SecretKey}}

			const n = 8
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				linked   []string
				rejected int
			)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := noRedirects.PostForm(e.srv.URL+"/connect/api-key", form)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					loc, _ := url.Parse(resp.Header.Get("Location"))
					q := loc.Query()
					mu.Lock()
					defer mu.Unlock()
					switch {
					case q.Get("integrated_account_id") != "":
						linked = append(linked, q.Get("integrated_account_id"))
					case q.Get("error") == "invalid_token":
						rejected++
					default:
						t.Errorf("unexpected answer %d %s", resp.StatusCode, resp.Header.Get("Location"))
					}
				}()
			}
			wg.Wait()
			if len(linked) != 1 || rejected != n-1 {
				t.Fatalf("%d uses linked, %d rejected; want exactly 1 and %d", len(linked), rejected, n-1)
			}
			if c := e.accountCount(link.LocalEnvironment); c != 1 {
				t.Fatalf("%d accounts, want 1", c)
			}

			// Used: the page sends the user back with an error.
			resp, err := noRedirects.Get(tr.LinkURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			q := redirectResult(t, resp, "", redirect)
			if q.Get("error") != "invalid_token" || !strings.Contains(q.Get("error_description"), "already used") {
				t.Errorf("reused token: %v", q)
			}

			// Expired: 31 minutes later an unused token is refused.
			tr2 := e.linkToken(map[string]any{"tenant_id": "acme"})
			e.clock.Advance(31 * time.Minute)
			mark, before := e.writes.mark(), e.accountCount(link.LocalEnvironment)
			status, body, _ := e.page(tr2.LinkToken, nil)
			assertStatus(t, "expired page", status, http.StatusGone, body)
			assertContains(t, "expired page", body, "expired")
			resp2, body2 := e.post("/connect/api-key", url.Values{"link_token": {tr2.LinkToken}, "csrf_token": {csrf}, "project_url": {p.APIURL}, "api_key": {p.SecretKey}})
			assertStatus(t, "expired submit", resp2.StatusCode, http.StatusGone, body2)
			e.assertNothingStored(mark, link.LocalEnvironment, before)

			// Unknown and malformed tokens.
			for _, tok := range []string{"", "nope", link.TokenPrefix + strings.Repeat("0", 32) + "_" + strings.Repeat("A", 43)} {
				status, body, _ := e.page(tok, nil)
				assertStatus(t, "unknown token", status, http.StatusNotFound, body)
			}
		})
	}
}

func TestLinkFailuresStoreNothing(t *testing.T) {
	p := stack.Project()
	cases := []struct {
		name       string
		private    bool
		path       string
		fields     url.Values
		tamperCSRF bool
		status     int
		want       string
	}{
		{"wrong key for the project", true, "/connect/api-key", url.Values{"project_url": {p.APIURL}, "api_key": {"sb_secret_" + strings.Repeat("x", 22) + "_notreal1"}}, false, 422, "The project rejected this key"},
		{"forged legacy key", true, "/connect/api-key", url.Values{"project_url": {p.APIURL}, "api_key": {forgedServiceRole(p.Ref)}}, false, 422, "The project rejected this key"},
		{"not a key", true, "/connect/api-key", url.Values{"project_url": {p.APIURL}, "api_key": {"hunter2-password"}}, false, 422, "not a Supabase project API key"},
		{"private project in production", false, "/connect/api-key", url.Values{"project_url": {"https://10.1.2.3"}, "api_key": {p.SecretKey}}, false, 422, "private or reserved network address"},
		{"loopback project in production", false, "/connect/api-key", url.Values{"project_url": {strings.Replace(p.APIURL, "http://", "https://", 1)}, "api_key": {p.SecretKey}}, false, 422, "private or reserved network address"},
		{"metadata address in production", false, "/connect/api-key", url.Values{"project_url": {"https://169.254.169.254"}, "api_key": {p.SecretKey}}, false, 422, "private or reserved network address"},
		{"localhost name in production", false, "/connect/api-key", url.Values{"project_url": {"https://localhost"}, "api_key": {p.SecretKey}}, false, 422, "private or reserved network address"},
		{"http project in production", false, "/connect/api-key", url.Values{"project_url": {p.APIURL}, "api_key": {p.SecretKey}}, false, 422, "must start with https://"},
		{"project URL with credentials", true, "/connect/api-key", url.Values{"project_url": {"http://user:pw@127.0.0.1:1"}, "api_key": {p.SecretKey}}, false, 422, "must not contain a user name"},
		{"nothing listens", true, "/connect/api-key", url.Values{"project_url": {"http://127.0.0.1:1"}, "api_key": {p.SecretKey}}, false, 422, "could not be reached"},
		{"wrong access token", true, "/connect/access-token", url.Values{"access_token": {"sbp_" + strings.Repeat("0", 40)}}, false, 422, "Supabase rejected this access token"},
		{"oauth token as PAT", true, "/connect/access-token", url.Values{"access_token": {"sbp_oauth_" + strings.Repeat("0", 40)}}, false, 422, "OAuth access token"},
		{"bad CSRF token", true, "/connect/api-key", url.Values{"project_url": {p.APIURL}, "api_key": {p.SecretKey}}, true, 403, "could not be verified"},
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			envs := map[bool]*env{true: newEnv(t, backend, envOptions{allowPrivate: true}), false: newEnv(t, backend, envOptions{})}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					e := envs[tc.private]
					for k, v := range tc.fields {
						if k != "project_url" {
							e.secret(tc.name+" "+k, v[0])
						}
					}
					tr := e.linkToken(map[string]any{"tenant_id": "acme"})
					status, page, csrf := e.page(tr.LinkToken, nil)
					assertStatus(t, "page", status, 200, page)
					if tc.tamperCSRF {
						csrf = csrf[:len(csrf)-2] + "AA"
					}
					form := url.Values{"link_token": {tr.LinkToken}, "csrf_token": {csrf}}
					for k, v := range tc.fields {
						form[k] = v
					}
					mark, before := e.writes.mark(), e.accountCount(link.LocalEnvironment)
					resp, body := e.post(tc.path, form)
					assertStatus(t, "submit", resp.StatusCode, tc.status, body)
					assertContains(t, "answer", body, tc.want)
					if tc.status == 422 {
						assertContains(t, "answer", body, `role="alert"`)
						assertContains(t, "answer", body, `aria-invalid="true"`)
					}
					e.assertNothingStored(mark, link.LocalEnvironment, before)
					// The link is still usable after a validation error.
					if tc.status == 422 {
						if s, b, _ := e.page(tr.LinkToken, nil); s != 200 {
							t.Errorf("page after a failed attempt: %d %s", s, b)
						}
					}
				})
			}
		})
	}
}

// forgedServiceRole is a service_role JWT for ref signed with the wrong
// secret: its claims look right, only the project can tell.
func forgedServiceRole(ref string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "HS256", "typ": "JWT"}) + "." +
		enc(map[string]any{"iss": "supabase", "ref": ref, "role": "service_role", "exp": time.Now().Add(time.Hour).Unix()}) +
		".c2lnbmF0dXJlLW5vdC12YWxpZC1mb3ItdGhpcy1wcm9qZWN0"
}

func TestPageHeadersAndAssets(t *testing.T) {
	e := newEnv(t, "sqlite", envOptions{allowPrivate: true})
	tr := e.linkToken(map[string]any{"tenant_id": "acme", "redirect_uri": "http://localhost:3000/done"})
	resp, body := e.get(tr.LinkURL)
	assertStatus(t, "page", resp.StatusCode, 200, body)
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'",
		"form-action 'self' " + stack.ManagementURL() + " http://localhost:3000"} {
		assertContains(t, "CSP", csp, want)
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline code: %s", csp)
	}
	for k, want := range map[string]string{
		"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
		"X-Frame-Options": "DENY", "Content-Type": "text/html; charset=utf-8",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	for _, want := range []string{`<html lang="en">`, `<label for="project_url">`, `<label for="api_key">`, `<label for="access_token">`, `<h1>`, `<h2 id="oauth-heading">`} {
		assertContains(t, "page", body, want)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
		t.Error("the connect page carries inline script or style")
	}

	for _, a := range []struct{ path, ctype, contains string }{
		{"/connect/sdk.js", "text/javascript; charset=utf-8", "Supabridge.connect = connect"},
		{"/connect/connect.css", "text/css; charset=utf-8", ":focus-visible"},
	} {
		resp, body := e.get(e.srv.URL + a.path)
		assertStatus(t, a.path, resp.StatusCode, 200, body)
		if resp.Header.Get("Content-Type") != a.ctype || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") || resp.Header.Get("ETag") == "" {
			t.Errorf("%s headers %v", a.path, resp.Header)
		}
		assertContains(t, a.path, body, a.contains)
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+a.path, nil)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		again, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		again.Body.Close()
		assertStatus(t, a.path+" revalidated", again.StatusCode, http.StatusNotModified, "")
	}

	// A popup may report only to an allowed origin.
	status, body, _ := e.page(tr.LinkToken, url.Values{"mode": {"popup"}, "origin": {"https://evil.test"}})
	assertStatus(t, "popup for another origin", status, http.StatusForbidden, body)
	status, body, _ = e.page(tr.LinkToken, url.Values{"mode": {"popup"}, "origin": {"http://127.0.0.1:5173"}})
	assertStatus(t, "popup for a local origin", status, http.StatusOK, body)
	assertContains(t, "popup page", body, `name="origin" value="http://127.0.0.1:5173"`)
}

// The scan finds what it looks for.
func TestLeakScan(t *testing.T) {
	secrets := map[string]string{"secret key": "sb_secret_abcdefghijklmnopqrstuv_12345678", "short": "abc"}
	tok := link.TokenPrefix + strings.Repeat("0", 32) + "_" + strings.Repeat("A", 43)
	got := leaks(secrets, map[string]string{
		"logs":      `{"msg":"x","token":"` + tok + `"}`,
		"responses": "HTTP/1.1 200\n...sb_secret_abcdefghijklmnopqrstuv_12345678...",
		"events":    `{"payload":{"context":{}}} abc`,
	})
	want := []string{"a link token appears in the logs", "the secret key appears in the responses"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("leaks = %q, want %q", got, want)
	}
}
