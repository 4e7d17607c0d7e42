package credentials_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/credentials"
	"github.com/supabridge/supabridge/shared/events/eventstest"
	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/localsupabase/faults"
	"github.com/supabridge/supabridge/shared/vault"
)

// TestConcurrentCallsRefreshOnce: 100 API calls on an account whose access
// token has expired, split across two processes (separate store clients,
// vault caches and managers), make exactly one token request; all 100
// succeed, and the vault holds the newest refresh token.
func TestConcurrentCallsRefreshOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sh *eventstest.Shared) {
		w := newWorld(t, sh)
		a, b := w.process(), w.process()
		acct := w.link(a, "tenant-1")
		before := storedCredential(t, a, acct)

		// Both processes have the credential warm; then it expires.
		for _, p := range []*proc{a, b} {
			if _, err := p.mgr.Credential(context.Background(), acct); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(25 * time.Hour)
		stack.Faults().ResetCounts()
		// Latency widens the window in which the processes overlap.
		stack.Faults().AddLatency(faults.Match{Server: localsupabase.ManagementServer, Route: "POST /v1/oauth/token"}, 200*time.Millisecond, 0)

		var ok atomic.Int32
		var errs sync.Map
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 100 {
			p := []*proc{a, b}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				view := *acct // each call holds its own copy, as each request would
				cred, err := p.mgr.Credential(ctx, &view)
				if err != nil {
					errs.Store(i, err.Error())
					return
				}
				status, err := callAPI(ctx, p.app.HTTP, cred.AccessToken)
				if err == nil && status == http.StatusUnauthorized {
					if cred, err = p.mgr.Rejected(ctx, &view, cred); err == nil {
						status, err = callAPI(ctx, p.app.HTTP, cred.AccessToken)
					}
				}
				if err != nil || status != http.StatusOK {
					errs.Store(i, fmt.Sprintf("status %d, %v", status, err))
					return
				}
				ok.Add(1)
			}()
		}
		close(start)
		wg.Wait()
		errs.Range(func(k, v any) bool { t.Errorf("call %v: %v", k, v); return true })
		if n := ok.Load(); n != 100 {
			t.Errorf("%d of 100 calls succeeded", n)
		}
		if n := tokenCalls(); n != 1 {
			t.Errorf("%d token endpoint calls, want exactly 1", n)
		}
		after := storedCredential(t, a, acct)
		issued := w.tap.last()
		if after.RefreshToken.Reveal() != issued.RefreshToken || after.AccessToken.Reveal() != issued.AccessToken {
			t.Errorf("the vault does not hold the pair the token endpoint issued last")
		}
		if after.Generation != before.Generation+1 {
			t.Errorf("generation %d after one refresh of %d", after.Generation, before.Generation)
		}
		rec := storedAccount(t, a, acct)
		if rec.Status != bridge.StatusActive || rec.RefreshFailures != 0 || !rec.TokenExpiresAt.Equal(after.Expiry) ||
			!rec.NextRefreshAt.Equal(after.Expiry.Add(-credentials.RefreshMargin)) {
			t.Errorf("account after refresh: status %s failures %d expires %v next %v (credential expires %v)",
				rec.Status, rec.RefreshFailures, rec.TokenExpiresAt, rec.NextRefreshAt, after.Expiry)
		}
		// The stored refresh token is the live one: the platform accepts it.
		if st := refreshDirectly(t, after.RefreshToken.Reveal()); st != http.StatusCreated {
			t.Errorf("the stored refresh token was refused (%d)", st)
		}
		w.scanWorld(nil)
	})
}

// TestRejectedRefreshToken: a refresh token that was reused elsewhere or
// whose grant was revoked moves the account to needs_reauth with exactly
// one authentication_error event, however many callers race into it;
// reconnecting brings it back with one reactivated event.
func TestRejectedRefreshToken(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(t *testing.T, refresh string)
	}{
		{"reused", func(t *testing.T, refresh string) {
			if st := refreshDirectly(t, refresh); st != http.StatusCreated {
				t.Fatalf("direct refresh answered %d", st)
			}
		}},
		{"revoked", func(t *testing.T, refresh string) {
			req, _ := http.NewRequest(http.MethodPost, stack.ManagementURL()+"/v1/oauth/revoke", strings.NewReader(
				fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"refresh_token":%q}`, stack.OAuthClient().ID, stack.OAuthClient().Secret, refresh)))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusNoContent {
				t.Fatalf("revoke: %v %v", resp, err)
			}
			resp.Body.Close()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, sh *eventstest.Shared) {
				w := newWorld(t, sh)
				a, b := w.process(), w.process()
				acct := w.link(a, "tenant-2")
				tc.spoil(t, storedCredential(t, a, acct).RefreshToken.Reveal())
				clock.Advance(25 * time.Hour)
				stack.Faults().ResetCounts()

				var wg sync.WaitGroup
				var errTexts sync.Map
				for i := range 20 {
					p := []*proc{a, b}[i%2]
					wg.Add(1)
					go func() {
						defer wg.Done()
						view := *acct
						_, err := p.mgr.Credential(context.Background(), &view)
						errTexts.Store(i, err)
					}()
				}
				wg.Wait()
				texts := map[string]string{}
				errTexts.Range(func(k, v any) bool {
					err, _ := v.(error)
					if !bridge.IsCode(err, bridge.ENEEDSREAUTH) {
						t.Errorf("call %v: %v, want needs_reauth", k, err)
					}
					if err != nil {
						texts[fmt.Sprint("error ", k)] = err.Error()
					}
					return true
				})
				if n := tokenCalls(); n != 1 {
					t.Errorf("%d token endpoint calls, want 1", n)
				}
				rec := storedAccount(t, a, acct)
				if rec.Status != bridge.StatusNeedsReauth || rec.LastError == "" || !rec.NextRefreshAt.IsZero() {
					t.Errorf("account: status %s, last_error %q, next refresh %v", rec.Status, rec.LastError, rec.NextRefreshAt)
				}
				wantEvents(t, a, acct, bridge.EventAccountAuthenticationError, 1)
				// Asking again changes nothing and records nothing.
				if _, err := b.mgr.Refresh(context.Background(), rec, true); !bridge.IsCode(err, bridge.ENEEDSREAUTH) {
					t.Errorf("refresh of a needs_reauth account: %v", err)
				}
				wantEvents(t, a, acct, bridge.EventAccountAuthenticationError, 1)

				// Reconnect: a new grant saved, then the record made active.
				cred := w.grant(b)
				view := *rec
				if err := b.mgr.Save(context.Background(), &view, cred); err != nil {
					t.Fatal(err)
				}
				updated, err := b.mgr.UpdateAccount(context.Background(), testEnv, acct.ID, func(x *bridge.Account) error {
					x.Status, x.LastError = bridge.StatusActive, ""
					x.TokenExpiresAt, x.LastRefreshedAt, x.NextRefreshAt = view.TokenExpiresAt, view.LastRefreshedAt, view.NextRefreshAt
					x.RefreshFailures = 0
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				wantEvents(t, a, acct, bridge.EventAccountReactivated, 1)
				got, err := a.mgr.Credential(context.Background(), updated)
				if err != nil {
					t.Fatal(err)
				}
				if st, err := callAPI(context.Background(), a.app.HTTP, got.AccessToken); err != nil || st != http.StatusOK {
					t.Errorf("API call after reconnect: %d %v", st, err)
				}
				w.scanWorld(texts)
			})
		})
	}
}

// TestTransientFailureBacksOff: a 503 from the token endpoint leaves the
// status alone, counts the failure and pushes the next refresh back; a
// still-valid token keeps being served meanwhile.
func TestTransientFailureBacksOff(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sh *eventstest.Shared) {
		w := newWorld(t, sh)
		p := w.process()
		acct := w.link(p, "tenant-3")
		// 30 s before expiry: inside the inline margin, still valid.
		clock.Advance(24*time.Hour - 30*time.Second)
		stack.FailTokenEndpoint(http.StatusServiceUnavailable, 1)
		cred, err := p.mgr.Credential(context.Background(), acct)
		if err != nil {
			t.Fatalf("Credential during an outage with a valid token: %v", err)
		}
		if cred.Generation != 1 {
			t.Errorf("served generation %d, want the current 1", cred.Generation)
		}
		rec := storedAccount(t, p, acct)
		now := clock.Now()
		if rec.Status != bridge.StatusActive || rec.RefreshFailures != 1 || rec.NextRefreshAt.Before(now.Add(14*time.Second)) || rec.NextRefreshAt.After(now.Add(31*time.Second)) {
			t.Errorf("after one 503: status %s failures %d next %v (now %v)", rec.Status, rec.RefreshFailures, rec.NextRefreshAt, now)
		}
		// Within the backoff, calls neither hit the endpoint nor fail.
		calls := tokenCalls()
		if _, err := p.mgr.Credential(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		if tokenCalls() != calls {
			t.Errorf("a call within the backoff asked the token endpoint")
		}
		// After the backoff the next call refreshes.
		clock.Advance(31 * time.Second)
		cred, err = p.mgr.Credential(context.Background(), rec)
		if err != nil || cred.Generation != 2 {
			t.Fatalf("after the backoff: generation %d, %v", cred.Generation, err)
		}
		if rec := storedAccount(t, p, acct); rec.RefreshFailures != 0 || rec.Status != bridge.StatusActive {
			t.Errorf("after recovering: failures %d status %s", rec.RefreshFailures, rec.Status)
		}
		wantEvents(t, p, acct, bridge.EventAccountAuthenticationError, 0)
		w.scanWorld(nil)
	})
}

// countingStore and countingVault count calls, to prove the warm path
// touches neither.
type countingStore struct {
	credentials.Store
	n atomic.Int32
}

func (c *countingStore) GetAccount(ctx context.Context, env, id string) (*bridge.Account, error) {
	c.n.Add(1)
	return c.Store.GetAccount(ctx, env, id)
}

func (c *countingStore) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (*bridge.Lease, error) {
	c.n.Add(1)
	return c.Store.AcquireLease(ctx, name, owner, ttl)
}

type countingVault struct {
	credentials.Vault
	n atomic.Int32
}

func (c *countingVault) Get(ctx context.Context, ref vault.Ref) ([]byte, error) {
	c.n.Add(1)
	return c.Vault.Get(ctx, ref)
}

func (c *countingVault) GetFresh(ctx context.Context, ref vault.Ref) ([]byte, error) {
	c.n.Add(1)
	return c.Vault.GetFresh(ctx, ref)
}

// TestWarmPath: a warm credential read makes no store or vault call, and
// Rejected drops it.
func TestWarmPath(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sh *eventstest.Shared) {
		w := newWorld(t, sh)
		p := w.process()
		acct := w.link(p, "tenant-4")
		cs := &countingStore{Store: p.mgr.Store}
		cv := &countingVault{Vault: p.mgr.Vault}
		p.mgr.Store, p.mgr.Vault = cs, cv
		first, err := p.mgr.Credential(context.Background(), acct)
		if err != nil {
			t.Fatal(err)
		}
		cs.n.Store(0)
		cv.n.Store(0)
		for range 50 {
			c, err := p.mgr.Credential(context.Background(), acct)
			if err != nil || c.Generation != first.Generation {
				t.Fatalf("warm read: %v", err)
			}
		}
		if s, v := cs.n.Load(), cv.n.Load(); s != 0 || v != 0 {
			t.Errorf("warm reads made %d store and %d vault calls", s, v)
		}
		// A 401 with the current token rotates it once; the next read
		// serves the new one.
		next, err := p.mgr.Rejected(context.Background(), acct, first)
		if err != nil || next.Generation != first.Generation+1 {
			t.Fatalf("Rejected: generation %d, %v", next.Generation, err)
		}
		if v := cv.n.Load(); v == 0 {
			t.Errorf("Rejected did not read the vault")
		}
		c, err := p.mgr.Credential(context.Background(), acct)
		if err != nil || c.AccessToken != next.AccessToken {
			t.Errorf("after Rejected the old token is still served")
		}
		// A second 401 for the old token finds it already rotated.
		calls := tokenCalls()
		again, err := p.mgr.Rejected(context.Background(), acct, first)
		if err != nil || again.Generation != next.Generation || tokenCalls() != calls {
			t.Errorf("Rejected with a superseded token refreshed again (generation %d, %d calls)", again.Generation, tokenCalls()-calls)
		}
		w.scanWorld(nil)
	})
}

// TestRejectedKey: a 401 for an API key or personal access token marks the
// account needs_reauth once; a credential saved since is served instead.
func TestRejectedKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sh *eventstest.Shared) {
		w := newWorld(t, sh)
		p, q := w.process(), w.process()
		ctx := context.Background()
		for _, m := range []bridge.AuthMethod{bridge.AuthAPIKey, bridge.AuthAccessToken} {
			acct := &bridge.Account{ID: bridge.NewID(), Environment: testEnv, TenantID: "t", Status: bridge.StatusActive, AuthMethod: m}
			cred := bridge.Credential{APIKey: "sb_secret_abcdefghijklmnopqrstuv", PersonalAccessToken: "sbp_0123456789abcdef0123456789abcdef01234567"}
			if m == bridge.AuthAPIKey {
				cred.PersonalAccessToken = ""
			} else {
				cred.APIKey = ""
			}
			w.secrets.add(cred.APIKey.Reveal(), cred.PersonalAccessToken.Reveal())
			if err := p.mgr.Save(ctx, acct, cred); err != nil {
				t.Fatal(err)
			}
			if !acct.NextRefreshAt.IsZero() {
				t.Errorf("%s: a key account was scheduled for refresh", m)
			}
			if err := p.Store.CreateAccount(ctx, acct); err != nil {
				t.Fatal(err)
			}
			old, err := p.mgr.Credential(ctx, acct)
			if err != nil {
				t.Fatal(err)
			}
			// Reconnected in the other process meanwhile: not a reauth.
			if err := q.mgr.Save(ctx, acct, cred); err != nil {
				t.Fatal(err)
			}
			if got, err := p.mgr.Rejected(ctx, acct, old); err != nil || got.Generation != old.Generation+1 {
				t.Errorf("%s: Rejected after a reconnect: generation %d, %v", m, got.Generation, err)
			}
			current, _ := p.mgr.Credential(ctx, acct)
			for range 2 {
				_, err := p.mgr.Rejected(ctx, acct, current)
				wantCode(t, err, bridge.ENEEDSREAUTH)
			}
			wantEvents(t, p, acct, bridge.EventAccountAuthenticationError, 1)
			if rec := storedAccount(t, p, acct); rec.Status != bridge.StatusNeedsReauth || rec.LastError == "" {
				t.Errorf("%s: status %s, last_error %q", m, rec.Status, rec.LastError)
			}
			_, err = p.mgr.Credential(ctx, storedAccount(t, p, acct))
			wantCode(t, err, bridge.ENEEDSREAUTH)
		}
		w.scanWorld(nil)
	})
}

// TestSaveValidates: Save refuses credentials that do not fit the account.
func TestSaveValidates(t *testing.T) {
	sh := env.Backends()[0].Open(t, clock.Now)
	w := newWorld(t, sh)
	p := w.process()
	id := bridge.NewID()
	cases := []struct {
		name string
		acct bridge.Account
		cred bridge.Credential
	}{
		{"no id", bridge.Account{Environment: testEnv, AuthMethod: bridge.AuthAPIKey}, bridge.Credential{APIKey: "k"}},
		{"method mismatch", bridge.Account{ID: id, Environment: testEnv, AuthMethod: bridge.AuthAPIKey}, bridge.Credential{Method: bridge.AuthOAuth}},
		{"oauth without refresh token", bridge.Account{ID: id, Environment: testEnv, AuthMethod: bridge.AuthOAuth},
			bridge.Credential{AccessToken: "a", Expiry: time.Now().Add(time.Hour)}},
		{"key without key", bridge.Account{ID: id, Environment: testEnv, AuthMethod: bridge.AuthAPIKey}, bridge.Credential{}},
		{"pat without token", bridge.Account{ID: id, Environment: testEnv, AuthMethod: bridge.AuthAccessToken}, bridge.Credential{}},
		{"unknown method", bridge.Account{ID: id, Environment: testEnv, AuthMethod: "basic"}, bridge.Credential{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := p.mgr.Save(context.Background(), &tc.acct, tc.cred)
			wantCode(t, err, bridge.EINVALID)
		})
	}
	if _, err := p.Raw.Get(context.Background(), credentials.Ref(&bridge.Account{ID: id, Environment: testEnv})); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("a refused credential was stored: %v", err)
	}
}

// TestRevokeAndDelete: BeforeDelete revokes the grant at the platform (its
// refresh token stops working) and records one deleted event; running it
// again (a retried delete) succeeds and records no second event.
func TestRevokeAndDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sh *eventstest.Shared) {
		w := newWorld(t, sh)
		p := w.process()
		acct := w.link(p, "tenant-5")
		refresh := storedCredential(t, p, acct).RefreshToken.Reveal()
		if err := p.mgr.BeforeDelete(context.Background(), acct); err != nil {
			t.Fatal(err)
		}
		if st := refreshDirectly(t, refresh); st != http.StatusNotFound {
			t.Errorf("refresh token still works after revocation (%d)", st)
		}
		evs := wantEvents(t, p, acct, bridge.EventAccountDeleted, 1)
		if !strings.Contains(string(evs[0].Payload), acct.ID) {
			t.Errorf("deleted event payload %s does not name the account", evs[0].Payload)
		}
		if err := p.mgr.BeforeDelete(context.Background(), acct); err != nil {
			t.Errorf("second BeforeDelete: %v", err)
		}
		wantEvents(t, p, acct, bridge.EventAccountDeleted, 1) // a retried delete records nothing new
		// A 5xx from the revocation endpoint fails the delete, to be retried.
		other := w.link(p, "tenant-6")
		id := stack.Faults().FailNext(faults.Match{Server: localsupabase.ManagementServer, Route: "POST /v1/oauth/revoke"}, 502, "", 1)
		defer stack.Faults().Remove(id)
		wantCode(t, p.mgr.Revoke(context.Background(), other), bridge.EUNAVAILABLE)
		w.scanWorld(nil)
	})
}
