package link_test

import (
	"context"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/link"
)

// newBrowser starts a headless Chromium with a fresh profile. A missing
// Chromium fails the test: CI installs it (.ci/run), and so must a
// developer.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := "/usr/bin/chromium"
	if _, err := exec.LookPath(path); err != nil {
		p, err := exec.LookPath("chromium")
		if err != nil {
			t.Fatal("Chromium is not installed: apt-get install -y chromium (CI installs it in .ci/run)")
		}
		path = p
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// operatorApp is the operator's own web app: a landing page for redirects
// and a page that links with sdk.js, on another origin than Supabridge.
func operatorApp(t *testing.T, bridgeURL string) *httptest.Server {
	t.Helper()
	page := template.Must(template.New("app").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Operator app</title>
<script src="{{.}}/connect/sdk.js"></script></head>
<body>
<button id="connect" type="button">Connect Supabase</button>
<output id="out"></output>
<script>
document.getElementById("connect").addEventListener("click", function () {
  var tok = new URLSearchParams(window.location.search).get("t");
  Supabridge.connect(tok, { baseUrl: "{{.}}" }).then(function (r) {
    window.linkResult = r;
  }, function (err) {
    window.linkError = err.reason;
  });
});
</script>
</body></html>`))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, bridgeURL)
	})
	mux.HandleFunc("GET /linked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>Linked</title><h1 id="landed">Back in the app</h1>`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// landedAccount waits for the browser to reach the app's landing page and
// returns the account ID it carries.
func landedAccount(t *testing.T, ctx context.Context, app string) string {
	t.Helper()
	do(t, ctx, chromedp.WaitVisible(chromedp.ID("landed")))
	loc := run(t, ctx, chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, app+"/linked?") {
		t.Fatalf("landed on %s", loc)
	}
	id := u.Query().Get("integrated_account_id")
	if id == "" {
		t.Fatalf("landed without an account: %s", loc)
	}
	return id
}

func TestBrowserKeyLink(t *testing.T) {
	p := stack.Project()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend, envOptions{allowPrivate: true})
			app := operatorApp(t, e.srv.URL)
			ctx := newBrowser(t)
			tr := e.linkToken(map[string]any{"tenant_id": "acme", "redirect_uri": app.URL + "/linked"})
			wrong := e.secret("wrong key", "sb_secret_"+strings.Repeat("w", 22)+"_wrongkey")

			// A wrong key first: the error summary takes focus, the field is
			// marked, the URL stays, and the key is not echoed.
			do(t, ctx,
				chromedp.Navigate(tr.LinkURL),
				chromedp.WaitVisible(chromedp.ID("project_url")),
				chromedp.SendKeys(chromedp.ID("project_url"), p.APIURL),
				chromedp.SendKeys(chromedp.ID("api_key"), wrong),
				chromedp.Click(chromedp.ID("api_key-submit")),
				chromedp.WaitVisible(chromedp.ID("error-summary")),
			)
			if got := run(t, ctx, chromedp.Evaluate[string]("document.activeElement.id")); got != "error-summary" {
				t.Errorf("focus is on %q, want the error summary", got)
			}
			if v := run(t, ctx, chromedp.Value(chromedp.ID("api_key"))); v != "" {
				t.Error("the submitted key was put back into the page")
			}
			if v := run(t, ctx, chromedp.Value(chromedp.ID("project_url"))); v != p.APIURL {
				t.Errorf("project URL %q was not kept", v)
			}
			if html := run(t, ctx, chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, wrong) {
				t.Error("the page shows the submitted key")
			}
			if inv := run(t, ctx, chromedp.AttributeValue(chromedp.ID("api_key"), "aria-invalid")); inv.Value != "true" {
				t.Error("the key field is not marked invalid")
			}

			do(t, ctx,
				chromedp.SendKeys(chromedp.ID("api_key"), p.SecretKey),
				chromedp.Click(chromedp.ID("api_key-submit")),
			)
			id := landedAccount(t, ctx, app.URL)
			a := e.account(link.LocalEnvironment, id)
			if a.Status != bridge.StatusActive || a.KeyKind != bridge.KeySecret {
				t.Errorf("account %+v", a)
			}
		})
	}
}

// The page works without JavaScript: forms, errors and redirects are
// plain HTML.
func TestBrowserLinkWithoutJavaScript(t *testing.T) {
	e := newEnv(t, "sqlite", envOptions{allowPrivate: true})
	app := operatorApp(t, e.srv.URL)
	ctx := newBrowser(t)
	do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	tr := e.linkToken(map[string]any{"tenant_id": "acme", "redirect_uri": app.URL + "/linked", "methods": []string{"access_token"}})
	do(t, ctx,
		chromedp.Navigate(tr.LinkURL),
		chromedp.WaitVisible(chromedp.ID("access_token")),
		chromedp.SendKeys(chromedp.ID("access_token"), stack.AccessToken()),
		chromedp.Click(chromedp.ID("access_token-submit")),
	)
	id := landedAccount(t, ctx, app.URL)
	if a := e.account(link.LocalEnvironment, id); a.AuthMethod != bridge.AuthAccessToken || a.Status != bridge.StatusActive {
		t.Errorf("account %+v", a)
	}
}

func TestBrowserOAuthLink(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend, envOptions{})
			app := operatorApp(t, e.srv.URL)
			ctx := newBrowser(t)
			tr := e.linkToken(map[string]any{"tenant_id": "acme", "redirect_uri": app.URL + "/linked"})
			do(t, ctx,
				chromedp.Navigate(tr.LinkURL),
				chromedp.Click(chromedp.ID("oauth")),
				chromedp.WaitVisible(chromedp.CSS(`button[value="approve"]`)),
				chromedp.Click(chromedp.CSS(`button[value="approve"]`)),
			)
			id := landedAccount(t, ctx, app.URL)
			a := e.account(link.LocalEnvironment, id)
			if a.Status != bridge.StatusActive || a.AuthMethod != bridge.AuthOAuth || a.OrganizationSlug != stack.Organization().Slug {
				t.Errorf("account %+v", a)
			}
		})
	}
}

// popup clicks the app's connect button and returns the popup sdk.js
// opened.
func popup(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	ch := chromedp.WaitNewTarget(ctx, func(info *target.Info) bool { return info.OpenerID != "" })
	do(t, ctx, chromedp.Click(chromedp.ID("connect")))
	var id target.ID
	select {
	case id = <-ch:
	case <-ctx.Done():
		t.Fatal("no popup opened")
	}
	pctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
	t.Cleanup(cancel)
	return pctx
}

func TestBrowserSDK(t *testing.T) {
	p := stack.Project()
	flows := []struct {
		name string
		// in the popup
		link func(t *testing.T, pctx context.Context)
	}{
		{"key", func(t *testing.T, pctx context.Context) {
			do(t, pctx,
				chromedp.WaitVisible(chromedp.ID("project_url")),
				chromedp.SendKeys(chromedp.ID("project_url"), p.APIURL),
				chromedp.SendKeys(chromedp.ID("api_key"), p.PublishableKey),
				chromedp.Click(chromedp.ID("api_key-submit")),
			)
		}},
		{"oauth", func(t *testing.T, pctx context.Context) {
			do(t, pctx,
				chromedp.WaitVisible(chromedp.ID("oauth")),
				chromedp.Click(chromedp.ID("oauth")),
				chromedp.WaitVisible(chromedp.CSS(`button[value="approve"]`)),
				chromedp.Click(chromedp.CSS(`button[value="approve"]`)),
			)
		}},
	}
	for _, backend := range backends {
		for _, f := range flows {
			t.Run(backend+"/"+f.name, func(t *testing.T) {
				e := newEnv(t, backend, envOptions{allowPrivate: true})
				app := operatorApp(t, e.srv.URL)
				ctx := newBrowser(t)
				tr := e.linkToken(map[string]any{"tenant_id": "acme"})
				do(t, ctx, chromedp.Navigate(app.URL+"/app?t="+url.QueryEscape(tr.LinkToken)), chromedp.WaitVisible(chromedp.ID("connect")))
				pctx := popup(t, ctx)
				f.link(t, pctx)
				id := run(t, ctx, chromedp.Poll[string]("window.linkResult && window.linkResult.integrated_account_id",
					chromedp.WithPollingTimeout(30*time.Second)))
				a := e.account(link.LocalEnvironment, id)
				if a.Status != bridge.StatusActive {
					t.Errorf("account %+v", a)
				}
			})
		}
	}

	t.Run("closed", func(t *testing.T) {
		e := newEnv(t, "sqlite", envOptions{allowPrivate: true})
		app := operatorApp(t, e.srv.URL)
		ctx := newBrowser(t)
		tr := e.linkToken(map[string]any{"tenant_id": "acme"})
		do(t, ctx, chromedp.Navigate(app.URL+"/app?t="+url.QueryEscape(tr.LinkToken)), chromedp.WaitVisible(chromedp.ID("connect")))
		pctx := popup(t, ctx)
		do(t, pctx, chromedp.WaitVisible(chromedp.ID("api_key")), chromedp.Evaluate[chromedp.Void]("window.close()"))
		reason := run(t, ctx, chromedp.Poll[string]("window.linkError", chromedp.WithPollingTimeout(20*time.Second)))
		if reason != "closed" {
			t.Errorf("rejected with %q, want closed", reason)
		}
	})

	t.Run("used token", func(t *testing.T) {
		e := newEnv(t, "sqlite", envOptions{allowPrivate: true})
		app := operatorApp(t, e.srv.URL)
		ctx := newBrowser(t)
		tr := e.linkToken(map[string]any{"tenant_id": "acme"})
		resp, body := e.submit(tr.LinkToken, "/connect/access-token", url.Values{"access_token": {stack.AccessToken()}})
		assertStatus(t, "link", resp.StatusCode, 200, body)
		do(t, ctx, chromedp.Navigate(app.URL+"/app?t="+url.QueryEscape(tr.LinkToken)), chromedp.WaitVisible(chromedp.ID("connect")))
		popup(t, ctx)
		reason := run(t, ctx, chromedp.Poll[string]("window.linkError", chromedp.WithPollingTimeout(20*time.Second)))
		if reason != "invalid_token" {
			t.Errorf("rejected with %q, want invalid_token", reason)
		}
	})
}
