package link_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/link"
	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/localsupabase/faults"
)

// startOAuth posts the "Sign in with Supabase" form and returns the
// authorize URL it redirects to.
func (e *env) startOAuth(tok string) *url.URL {
	e.t.Helper()
	resp, body := e.submit(tok, "/connect/oauth", nil)
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("start OAuth: %d %s", resp.StatusCode, body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(u.String(), stack.ManagementURL()+"/v1/oauth/authorize?") {
		e.t.Fatalf("start OAuth redirected to %s", resp.Header.Get("Location"))
	}
	return u
}

// approve answers the stand-in's consent page as the user would, and
// returns the callback URL Supabase sends the browser to.
func (e *env) approve(authorize *url.URL, decision string) *url.URL {
	e.t.Helper()
	form := url.Values{"decision": {decision}}
	for k, v := range authorize.Query() {
		form[k] = v
	}
	resp, err := noRedirects.PostForm(stack.ManagementURL()+"/v1/oauth/authorize", form)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	u, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(u.String(), e.srv.URL+"/connect/oauth/callback?") {
		e.t.Fatalf("consent answered %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return u
}

func (e *env) get(u string) (*http.Response, string) {
	e.t.Helper()
	resp, err := noRedirects.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, b.String()
}

// withParam returns u with one query parameter replaced.
func withParam(u *url.URL, k, v string) string {
	c := *u
	q := c.Query()
	q.Set(k, v)
	c.RawQuery = q.Encode()
	return c.String()
}

func TestOAuthLink(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend, envOptions{})
			redirect := "http://127.0.0.1:3000/linked"
			tr := e.linkToken(map[string]any{"tenant_id": "acme", "redirect_uri": redirect})
			authorize := e.startOAuth(tr.LinkToken)
			q := authorize.Query()
			if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("client_id") != stack.OAuthClient().ID ||
				q.Get("redirect_uri") != e.srv.URL+"/connect/oauth/callback" || q.Get("response_type") != "code" {
				t.Fatalf("authorize request %v", q)
			}
			callback := e.approve(authorize, "approve")
			resp, body := e.get(callback.String())
			id := redirectResult(t, resp, body, redirect).Get("integrated_account_id")
			a := e.account(link.LocalEnvironment, id)
			org := stack.Organization()
			if a.Status != bridge.StatusActive || a.AuthMethod != bridge.AuthOAuth || a.OrganizationSlug != org.Slug || a.OrganizationName != org.Name {
				t.Errorf("account %+v", a)
			}
			c := e.credential(link.LocalEnvironment, id)
			if !strings.HasPrefix(c.AccessToken.Reveal(), "sbp_oauth_") || c.RefreshToken.IsZero() || c.Expiry.Before(time.Now().Add(23*time.Hour)) {
				t.Errorf("credential method %s, expiry %v", c.Method, c.Expiry)
			}
			if !a.TokenExpiresAt.Equal(c.Expiry) {
				t.Errorf("token_expires_at %v, credential expiry %v", a.TokenExpiresAt, c.Expiry)
			}
			assertEvents(t, e, id, bridge.EventAccountCreated, bridge.EventAccountActive)

			// The same callback again: the state is spent.
			mark := e.writes.mark()
			resp, body = e.get(callback.String())
			assertStatus(t, "reused state", resp.StatusCode, http.StatusBadRequest, body)
			assertContains(t, "reused state", body, "already used or is not valid")
			e.assertNothingStored(mark, link.LocalEnvironment, 1)
		})
	}
}

func TestOAuthFailuresStoreNothing(t *testing.T) {
	redirect := "http://127.0.0.1:3000/linked"
	cases := []struct {
		name string
		// run drives the flow and returns the answer to check.
		run    func(e *env, tok string, mark *int) (*http.Response, string)
		status int
		// either a page text or a redirect error code
		want string
	}{
		{"tampered state", func(e *env, tok string, mark *int) (*http.Response, string) {
			cb := e.approve(e.startOAuth(tok), "approve")
			state := cb.Query().Get("state")
			flipped := state[:40] + string(rune('A'+(state[40]-'A'+1)%26)) + state[41:]
			return e.get(withParam(cb, "state", flipped))
		}, 400, "already used or is not valid"},
		{"tampered popup origin in state", func(e *env, tok string, mark *int) (*http.Response, string) {
			cb := e.approve(e.startOAuth(tok), "approve")
			return e.get(withParam(cb, "state", cb.Query().Get("state")+".aHR0cHM6Ly9ldmlsLnRlc3Q"))
		}, 400, "already used or is not valid"},
		{"unknown state", func(e *env, tok string, mark *int) (*http.Response, string) {
			cb := e.approve(e.startOAuth(tok), "approve")
			return e.get(withParam(cb, "state", "not-a-state"))
		}, 400, "not valid"},
		{"state of an older start", func(e *env, tok string, mark *int) (*http.Response, string) {
			first := e.approve(e.startOAuth(tok), "approve")
			e.startOAuth(tok)
			return e.get(first.String())
		}, 400, "already used or is not valid"},
		{"expired state", func(e *env, tok string, mark *int) (*http.Response, string) {
			cb := e.approve(e.startOAuth(tok), "approve")
			e.clock.Advance(link.StateLifetime + time.Second)
			return e.get(cb.String())
		}, 303, "expired_state"},
		{"wrong PKCE verifier", func(e *env, tok string, mark *int) (*http.Response, string) {
			// A code issued for another link's challenge, injected into this
			// link's callback: the exchange sends this state's verifier.
			other := e.linkToken(map[string]any{"tenant_id": "other", "redirect_uri": redirect})
			stolen := e.approve(e.startOAuth(other.LinkToken), "approve")
			own := e.approve(e.startOAuth(tok), "approve")
			return e.get(withParam(own, "code", stolen.Query().Get("code")))
		}, 303, "oauth_error"},
		{"invented code", func(e *env, tok string, mark *int) (*http.Response, string) {
			cb := e.approve(e.startOAuth(tok), "approve")
			return e.get(withParam(cb, "code", "0123456789abcdef"))
		}, 303, "oauth_error"},
		{"user denies", func(e *env, tok string, mark *int) (*http.Response, string) {
			return e.get(e.approve(e.startOAuth(tok), "deny").String())
		}, 303, "access_denied"},
		{"link token used meanwhile", func(e *env, tok string, mark *int) (*http.Response, string) {
			cb := e.approve(e.startOAuth(tok), "approve")
			p := stack.Project()
			_, _, csrf := e.page(tok, nil)
			resp, body := e.post("/connect/api-key", url.Values{"link_token": {tok}, "csrf_token": {csrf}, "project_url": {p.APIURL}, "api_key": {p.SecretKey}})
			if resp.StatusCode != http.StatusSeeOther {
				e.t.Fatalf("key link: %d %s", resp.StatusCode, body)
			}
			*mark = e.writes.mark()
			return e.get(cb.String())
		}, 303, "invalid_token"},
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend, envOptions{allowPrivate: true})
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					tr := e.linkToken(map[string]any{"tenant_id": "acme", "redirect_uri": redirect})
					mark, before := e.writes.mark(), e.accountCount(link.LocalEnvironment)
					resp, body := tc.run(e, tr.LinkToken, &mark)
					if tc.name == "link token used meanwhile" {
						before++ // the key link in between
					}
					assertStatus(t, tc.name, resp.StatusCode, tc.status, body)
					if tc.status == http.StatusSeeOther {
						if q := redirectResult(t, resp, body, redirect); q.Get("error") != tc.want || q.Get("error_description") == "" {
							t.Errorf("redirect query %v, want error=%s", q, tc.want)
						}
					} else {
						assertContains(t, "page", body, tc.want)
					}
					e.assertNothingStored(mark, link.LocalEnvironment, before)
				})
			}
		})
	}
}

// A grant whose organization cannot be read is stored (it is a real grant)
// but says validation_error, and the app hears about it.
func TestOAuthOrganizationUnreadable(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend, envOptions{})
			redirect := "http://127.0.0.1:3000/linked"
			tr := e.linkToken(map[string]any{"tenant_id": "acme", "redirect_uri": redirect})
			callback := e.approve(e.startOAuth(tr.LinkToken), "approve")
			rule := stack.Faults().FailNext(faults.Match{Server: localsupabase.ManagementServer, Route: "GET /v1/organizations"}, http.StatusInternalServerError, "", 1)
			t.Cleanup(func() { stack.Faults().Remove(rule) })
			resp, body := e.get(callback.String())
			q := redirectResult(t, resp, body, redirect)
			if q.Get("error") != "validation_error" || q.Get("integrated_account_id") == "" {
				t.Fatalf("redirect query %v", q)
			}
			a := e.account(link.LocalEnvironment, q.Get("integrated_account_id"))
			if a.Status != bridge.StatusValidationError || a.LastError == "" || a.AuthMethod != bridge.AuthOAuth {
				t.Errorf("account %+v", a)
			}
			if c := e.credential(link.LocalEnvironment, a.ID); c.RefreshToken.IsZero() {
				t.Error("the grant was not kept")
			}
			assertEvents(t, e, a.ID, bridge.EventAccountCreated)
		})
	}
}
