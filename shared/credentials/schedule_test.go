package credentials_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/credentials"
	"github.com/supabridge/supabridge/shared/events/eventstest"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/localsupabase/faults"
)

// TestScheduledRun: a run refreshes exactly the due accounts, never more
// than Concurrency at once, leaves healthy and key accounts alone, and two
// processes running it at once still refresh each account once; a second
// run finds nothing to do.
func TestScheduledRun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sh *eventstest.Shared) {
		w := newWorld(t, sh)
		a, b := w.process(), w.process()
		ctx := context.Background()
		var due []*bridge.Account
		for range 8 {
			due = append(due, w.link(a, "due"))
		}
		// Healthy accounts are linked 23 hours later, so when the first
		// batch is 10 minutes from expiry they have almost a day left.
		clock.Advance(23 * time.Hour)
		var healthy []*bridge.Account
		for range 3 {
			healthy = append(healthy, w.link(a, "healthy"))
		}
		key := &bridge.Account{ID: bridge.NewID(), Environment: testEnv, TenantID: "key", Status: bridge.StatusActive, AuthMethod: bridge.AuthAPIKey}
		if err := a.mgr.Save(ctx, key, bridge.Credential{APIKey: "sb_secret_0123456789abcdefghij"}); err != nil {
			t.Fatal(err)
		}
		if err := a.Store.CreateAccount(ctx, key); err != nil {
			t.Fatal(err)
		}
		before := map[string]int64{}
		for _, x := range append(healthy, key) {
			before[x.ID] = storedAccount(t, a, x).Version
		}
		clock.Advance(50 * time.Minute)
		stack.Faults().ResetCounts()
		stack.Faults().AddLatency(faults.Match{Server: localsupabase.ManagementServer, Route: "POST /v1/oauth/token"}, 100*time.Millisecond, 0)
		a.mgr.Concurrency, b.mgr.Concurrency = 3, 3

		var wg sync.WaitGroup
		results := make([]credentials.RunResult, 2)
		for i, p := range []*proc{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if results[i], err = p.mgr.RefreshDue(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := tokenCalls(); n != len(due) {
			t.Errorf("%d token calls for %d due accounts", n, len(due))
		}
		if got := results[0].Refreshed + results[1].Refreshed; got != len(due) {
			t.Errorf("runs report %+v and %+v; want %d refreshed in total", results[0], results[1], len(due))
		}
		// Both processes share one tap: at most 3 each at once.
		if m := w.tap.maxInFlight(); m > 6 || m < 2 {
			t.Errorf("%d token requests in flight at once; want 2..6 (two runs of at most 3)", m)
		}
		for _, x := range due {
			c := storedCredential(t, a, x)
			rec := storedAccount(t, a, x)
			if c.Generation != 2 || !rec.NextRefreshAt.After(clock.Now().Add(23*time.Hour)) {
				t.Errorf("due account: generation %d, next refresh %v", c.Generation, rec.NextRefreshAt)
			}
		}
		for _, x := range append(healthy, key) {
			if v := storedAccount(t, a, x).Version; v != before[x.ID] {
				t.Errorf("account %s (%s) was written by the run", x.ID, x.TenantID)
			}
		}
		again, err := a.mgr.RefreshDue(ctx)
		if err != nil || again.Due != 0 || tokenCalls() != len(due) {
			t.Errorf("second run: %+v, %v, %d token calls", again, err, tokenCalls())
		}
		w.scanWorld(nil)
	})
}

// TestScheduledRunOutcomes: a run counts transient failures and revoked
// grants, and a budget that has run out starts nothing.
func TestScheduledRunOutcomes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sh *eventstest.Shared) {
		w := newWorld(t, sh)
		p := w.process()
		flaky, revoked := w.link(p, "flaky"), w.link(p, "revoked")
		if st := refreshDirectly(t, storedCredential(t, p, revoked).RefreshToken.Reveal()); st != http.StatusCreated {
			t.Fatal(st)
		}
		clock.Advance(24*time.Hour - 5*time.Minute)
		stack.FailTokenEndpoint(http.StatusServiceUnavailable, 1)
		p.mgr.Concurrency = 1
		res, err := p.mgr.RefreshDue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// Concurrency 1 and the refresh index's order (flaky was linked
		// first) make the 503 hit the flaky account.
		if res.Due != 2 || res.Failed != 1 || res.NeedsReauth != 1 || res.Refreshed != 0 {
			t.Errorf("run: %+v", res)
		}
		if rec := storedAccount(t, p, flaky); rec.Status != bridge.StatusActive || rec.RefreshFailures != 1 || !rec.NextRefreshAt.After(clock.Now()) {
			t.Errorf("flaky account: status %s failures %d next %v", rec.Status, rec.RefreshFailures, rec.NextRefreshAt)
		}
		if rec := storedAccount(t, p, revoked); rec.Status != bridge.StatusNeedsReauth {
			t.Errorf("revoked account: status %s", rec.Status)
		}
		wantEvents(t, p, revoked, bridge.EventAccountAuthenticationError, 1)
		wantEvents(t, p, flaky, bridge.EventAccountAuthenticationError, 0)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		clock.Advance(time.Hour)
		if res, err := p.mgr.RefreshDue(ctx); err != nil || !res.Truncated || res.Due != 0 {
			t.Errorf("run without budget: %+v, %v", res, err)
		}
	})
}

// TestRefreshRoute: POST /integrated-accounts/{id}/refresh forces a
// refresh and answers with the account; other environments' accounts are
// 404, key accounts and revoked grants 422, no key 401.
func TestRefreshRoute(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sh *eventstest.Shared) {
		w := newWorld(t, sh)
		p := w.process()
		ctx := context.Background()
		key, secret, err := bridge.NewAPIKey(testEnv, "test", clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		otherKey, otherSecret, _ := bridge.NewAPIKey("other", "test", clock.Now())
		for _, k := range []*bridge.APIKey{key, otherKey} {
			if err := p.Store.CreateAPIKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		w.secrets.add(secret.Reveal(), otherSecret.Reveal())
		p.app.Auth = &httpapi.Authenticator{Keys: p.Store}
		rt := httpapi.NewRouter()
		(&credentials.Handler{Accounts: p.Store, Auth: p.app.Auth, Manager: p.mgr}).Register(rt)
		srv := httptest.NewServer(p.app.Serve(rt))
		defer srv.Close()

		oauthAcct := w.link(p, "route")
		keyAcct := &bridge.Account{ID: bridge.NewID(), Environment: testEnv, TenantID: "k", Status: bridge.StatusActive, AuthMethod: bridge.AuthAPIKey}
		if err := p.Store.CreateAccount(ctx, keyAcct); err != nil {
			t.Fatal(err)
		}
		revoked := w.link(p, "gone")
		if st := refreshDirectly(t, storedCredential(t, p, revoked).RefreshToken.Reveal()); st != http.StatusCreated {
			t.Fatal(st)
		}
		responses := map[string]string{}
		cases := []struct {
			name, key, id string
			status        int
			contains      string
		}{
			{"refreshes", secret.Reveal(), oauthAcct.ID, 200, `"last_refreshed_at"`},
			{"other environment", otherSecret.Reveal(), oauthAcct.ID, 404, `"not_found"`},
			{"unknown id", secret.Reveal(), "not-an-id", 404, `"not_found"`},
			{"key account", secret.Reveal(), keyAcct.ID, 422, `"authentication_method":"api_key"`},
			{"revoked grant", secret.Reveal(), revoked.ID, 422, `"status":"needs_reauth"`},
			{"revoked again", secret.Reveal(), revoked.ID, 422, `reconnected`},
			{"no key", "", oauthAcct.ID, 401, `"unauthorized"`},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/integrated-accounts/"+tc.id+"/refresh", nil)
				if tc.key != "" {
					req.Header.Set("Authorization", "Bearer "+tc.key)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body bytes.Buffer
				_, _ = body.ReadFrom(resp.Body)
				responses[tc.name] = body.String()
				if resp.StatusCode != tc.status || !strings.Contains(body.String(), tc.contains) {
					t.Errorf("got %d %s, want %d containing %s", resp.StatusCode, body.String(), tc.status, tc.contains)
				}
			})
		}
		var view bridge.AccountView
		if err := json.Unmarshal([]byte(responses["refreshes"]), &view); err != nil || view.LastRefreshedAt == nil {
			t.Fatalf("refresh response %s", responses["refreshes"])
		}
		if c := storedCredential(t, p, oauthAcct); c.Generation != 2 {
			t.Errorf("forced refresh left generation %d", c.Generation)
		}
		wantEvents(t, p, revoked, bridge.EventAccountAuthenticationError, 1)
		w.scanWorld(responses)
	})
}
