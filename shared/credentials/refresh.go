package credentials

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/supabridge/supabridge/shared/bridge"
)

// mode is why a refresh was asked for; it decides whether the holder
// actually calls the token endpoint.
type mode int

const (
	modeInline    mode = iota // a caller needs a token with InlineMargin left
	modeScheduled             // the schedule: within RefreshMargin, or idle MaxIdle
	modeForce                 // the operator: always
	modeRejected              // a 401: always, unless rotated past the rejected one
)

func (md mode) String() string {
	return [...]string{"inline", "scheduled", "force", "rejected"}[md]
}

// flight runs one refresh per account, mode and observed generation in
// this process; every caller waits for it with its own context. The
// refresh itself runs detached from any one caller's cancellation (bounded
// by WaitTimeout), since abandoning it after the token endpoint answered
// would lose the rotated pair.
func (m *Manager) flight(ctx context.Context, acct *bridge.Account, md mode, seen int64) (bridge.Credential, error) {
	r, err := m.flightResult(ctx, acct, md, seen)
	return r.cred, err
}

// result is a refresh's credential and whether this refresh rotated it.
type result struct {
	cred    bridge.Credential
	rotated bool
}

func (m *Manager) flightResult(ctx context.Context, acct *bridge.Account, md mode, seen int64) (result, error) {
	key := acct.ID + ":" + md.String() + ":" + strconv.FormatInt(seen, 10)
	ch := m.flights.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), orDefault(m.WaitTimeout, 30*time.Second))
		defer cancel()
		return m.run(fctx, acct, md, seen)
	})
	select {
	case <-ctx.Done():
		return result{}, waitTimeout(acct)
	case r := <-ch:
		if r.Err != nil {
			return result{}, r.Err
		}
		res := r.Val.(result)
		m.remember(acct, res.cred)
		return res, nil
	}
}

// run takes the lease or waits for its holder.
func (m *Manager) run(ctx context.Context, acct *bridge.Account, md mode, seen int64) (result, error) {
	start := m.now()
	owner := m.leaseOwner()
	waited := false
	for {
		lease, err := m.Store.AcquireLease(ctx, leaseName(acct), owner, orDefault(m.LeaseTTL, 15*time.Second))
		if err == nil {
			return m.hold(ctx, acct, lease, md, seen, waited, start)
		}
		if !bridge.IsCode(err, bridge.ECONFLICT) {
			return result{}, fmt.Errorf("refresh lease of account %s: %w", acct.ID, err)
		}
		waited = true
		if err := pause(ctx); err != nil {
			return result{}, waitTimeout(acct)
		}
		// The holder writes the vault before releasing: a new generation
		// means it is done, and its result is ours.
		if c, err := m.read(ctx, acct, true); err == nil && c.Generation != seen {
			return result{cred: c}, nil
		}
	}
}

// hold is the lease holder's part: decide whether the token endpoint is
// needed at all, refresh, store, release, and record the outcome on the
// account.
func (m *Manager) hold(ctx context.Context, acct *bridge.Account, lease *bridge.Lease, md mode, seen int64, waited bool, start time.Time) (result, error) {
	c, rotated, err := m.decideAndRefresh(ctx, acct, lease, md, seen, waited, start)
	return result{cred: c, rotated: rotated}, err
}

func (m *Manager) decideAndRefresh(ctx context.Context, acct *bridge.Account, lease *bridge.Lease, md mode, seen int64, waited bool, start time.Time) (bridge.Credential, bool, error) {
	stop := m.keepAlive(ctx, lease)
	released := false
	releaseNow := func() {
		if !released {
			released = true
			m.release(ctx, stop())
		}
	}
	defer releaseNow()

	cur, err := m.read(ctx, acct, true)
	if err != nil {
		return bridge.Credential{}, false, err
	}
	if cur.Generation != seen {
		return cur, false, nil // another holder (or a reconnect) got there first
	}
	a, err := m.Store.GetAccount(ctx, acct.Environment, acct.ID)
	if err != nil {
		return bridge.Credential{}, false, err
	}
	if a.Status == bridge.StatusNeedsReauth {
		return bridge.Credential{}, false, needsReauth(a)
	}
	if cur.Method != bridge.AuthOAuth || cur.RefreshToken.IsZero() {
		return cur, false, nil
	}
	now := m.now()
	switch md {
	case modeInline:
		if !expiring(cur, now, InlineMargin) {
			return cur, false, nil
		}
		if a.RefreshFailures > 0 && now.Before(a.NextRefreshAt) {
			c, err := m.backingOff(a, cur, now)
			return c, false, err
		}
	case modeScheduled:
		last := a.LastRefreshedAt
		if last.IsZero() {
			last = cur.UpdatedAt
		}
		if !expiring(cur, now, RefreshMargin) && now.Sub(last) < MaxIdle {
			m.fixSchedule(ctx, a, cur)
			return cur, false, nil
		}
	}
	if waited && a.RefreshFailures > 0 && !a.UpdatedAt.Before(start) {
		// The holder this call waited for has just failed; asking the
		// token endpoint again at once would only add load to an outage.
		c, err := m.backingOff(a, cur, now)
		return c, false, err
	}

	tok, err := m.callToken(ctx, cur.RefreshToken)
	if err != nil {
		var perm *permanentError
		if !errors.As(err, &perm) {
			m.recordFailure(ctx, a, err)
			if md == modeInline && cur.Expiry.After(now) {
				return cur, false, nil
			}
			return bridge.Credential{}, false, bridge.Errorf(bridge.EUNAVAILABLE, "Refreshing account %s failed: %s; it will be retried.", a.ID, err.Error())
		}
		// A rejected refresh token is final only if it is still the
		// current one; a holder that lost its lease may have rotated it.
		if again, rerr := m.read(ctx, acct, true); rerr == nil && again.Generation != cur.Generation {
			return again, false, nil
		}
		msg := "The OAuth grant was revoked or its refresh token is no longer valid; reconnect the account."
		m.logger().LogAttrs(ctx, slog.LevelWarn, "refresh token rejected",
			slog.String("account_id", a.ID), slog.String("environment", a.Environment), slog.String("reason", perm.reason))
		if _, err := m.markNeedsReauth(ctx, a, msg); err != nil {
			return bridge.Credential{}, false, err
		}
		return bridge.Credential{}, false, needsReauth(a)
	}

	next := cur
	next.AccessToken = bridge.Secret(tok.AccessToken)
	if tok.RefreshToken != "" {
		next.RefreshToken = bridge.Secret(tok.RefreshToken)
	}
	if tok.TokenType != "" {
		next.TokenType = tok.TokenType
	}
	issued := m.now()
	next.Expiry = tokenExpiry(tok, issued)
	next.Generation = cur.Generation + 1
	next.UpdatedAt = issued
	// The old refresh token is spent: from here the new pair is the only
	// way into the grant, so its write must not depend on the caller.
	if err := m.putPersistently(ctx, acct, next); err != nil {
		m.logger().LogAttrs(ctx, slog.LevelError, "refreshed credential could not be stored; the account will need to be reconnected",
			slog.String("account_id", a.ID), slog.String("error", err.Error()))
		m.remember(acct, next)
		return next, true, nil
	}
	m.remember(acct, next)
	releaseNow()
	m.recordSuccess(ctx, a, next, issued)
	m.logger().LogAttrs(ctx, slog.LevelInfo, "refreshed OAuth tokens",
		slog.String("account_id", a.ID), slog.String("environment", a.Environment),
		slog.String("mode", md.String()), slog.Time("expires_at", next.Expiry))
	return next, true, nil
}

// backingOff answers a refresh that the account's backoff holds back: the
// current credential while it is still valid, EUNAVAILABLE once expired.
func (m *Manager) backingOff(a *bridge.Account, cur bridge.Credential, now time.Time) (bridge.Credential, error) {
	if cur.Expiry.After(now) {
		return cur, nil
	}
	return bridge.Credential{}, bridge.Errorf(bridge.EUNAVAILABLE,
		"Refreshing account %s failed recently and is backing off until %s; retry later.", a.ID, a.NextRefreshAt.Format(time.RFC3339))
}

// tokenExpiry is when a token issued at issued expires: from expires_in
// (measured on the manager's clock), else the token's own Expiry, else an
// hour.
func tokenExpiry(tok *oauth2.Token, issued time.Time) time.Time {
	switch {
	case tok.ExpiresIn > 0:
		return issued.Add(time.Duration(tok.ExpiresIn) * time.Second)
	case !tok.Expiry.IsZero():
		return tok.Expiry.UTC()
	}
	return issued.Add(time.Hour)
}

// putPersistently writes c, retrying briefly, with a context of its own.
func (m *Manager) putPersistently(ctx context.Context, acct *bridge.Account, c bridge.Credential) error {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	var err error
	for i := range 4 {
		if err = m.put(pctx, acct, c); err == nil {
			return nil
		}
		select {
		case <-pctx.Done():
			return err
		case <-time.After(time.Duration(100<<i) * time.Millisecond):
		}
	}
	return err
}

// keepAlive renews the lease every third of its TTL until stop is called;
// stop returns the latest lease, for release.
func (m *Manager) keepAlive(ctx context.Context, l *bridge.Lease) (stop func() *bridge.Lease) {
	ttl := orDefault(m.LeaseTTL, 15*time.Second)
	var mu sync.Mutex
	cur := l
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				mu.Lock()
				n, err := m.Store.RenewLease(ctx, cur, ttl)
				if err == nil {
					cur = n
				}
				mu.Unlock()
				if bridge.IsCode(err, bridge.ECONFLICT) {
					return
				}
			}
		}
	}()
	var once sync.Once
	return func() *bridge.Lease {
		once.Do(func() { close(done) })
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return cur
	}
}

// permanentError is a token endpoint answer that no retry can fix.
type permanentError struct{ reason string }

func (e *permanentError) Error() string { return e.reason }

// callToken redeems refresh at the token endpoint. Its errors never quote
// the endpoint's body or the request, which can hold tokens.
func (m *Manager) callToken(ctx context.Context, refresh bridge.Secret) (*oauth2.Token, error) {
	tctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, m.httpClient()), orDefault(m.TokenTimeout, 15*time.Second))
	defer cancel()
	ts := m.OAuthConfig("").TokenSource(tctx, &oauth2.Token{RefreshToken: refresh.Reveal(), Expiry: time.Unix(1, 0)})
	tok, err := ts.Token()
	if err == nil {
		if tok.AccessToken == "" {
			return nil, errors.New("the token endpoint answered without an access token")
		}
		return tok, nil
	}
	return nil, classify(err)
}

// classify turns a token request's failure into a permanentError (the
// grant or refresh token is gone) or a short transient description.
func classify(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		sc := re.Response.StatusCode
		switch {
		case sc == http.StatusUnauthorized || sc == http.StatusNotFound:
			return &permanentError{reason: "the token endpoint answered " + strconv.Itoa(sc)}
		case sc == http.StatusBadRequest && (re.ErrorCode == "invalid_grant" || bytes.Contains(re.Body, []byte("invalid_grant"))):
			return &permanentError{reason: "the token endpoint answered 400 invalid_grant"}
		}
		return fmt.Errorf("the token endpoint answered %d", sc)
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errors.New("the token request timed out")
	case errors.Is(err, context.Canceled):
		return errors.New("the token request was cancelled")
	}
	return errors.New("the token endpoint could not be reached")
}

// refreshBackoff is the wait after the n-th consecutive transient failure.
func refreshBackoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 10 {
		return MaxRefreshBackoff
	}
	return min(MaxRefreshBackoff, 30*time.Second<<(n-1))
}

func (m *Manager) recordFailure(ctx context.Context, a *bridge.Account, cause error) {
	now := m.now()
	_, err := m.update(ctx, a, func(x *bridge.Account) bool {
		x.RefreshFailures++
		d := refreshBackoff(x.RefreshFailures)
		x.NextRefreshAt = now.Add(d/2 + time.Duration(mrand.Int64N(int64(d/2)+1)))
		return true
	})
	attrs := []slog.Attr{slog.String("account_id", a.ID), slog.String("environment", a.Environment),
		slog.String("error", cause.Error()), slog.Int("failures", a.RefreshFailures+1)}
	if err != nil {
		attrs = append(attrs, slog.String("update_error", err.Error()))
	}
	m.logger().LogAttrs(ctx, slog.LevelWarn, "refresh failed; backing off", attrs...)
}

func (m *Manager) recordSuccess(ctx context.Context, a *bridge.Account, c bridge.Credential, issued time.Time) {
	_, err := m.update(ctx, a, func(x *bridge.Account) bool {
		if x.Status == bridge.StatusNeedsReauth {
			return false
		}
		x.TokenExpiresAt = c.Expiry
		x.LastRefreshedAt = issued
		x.NextRefreshAt = nextRefreshAt(c, issued)
		x.RefreshFailures = 0
		return true
	})
	if err != nil {
		// The vault holds the new pair; the record only schedules the
		// next refresh, which the inline path makes up for.
		m.logger().LogAttrs(ctx, slog.LevelWarn, "refresh bookkeeping not written",
			slog.String("account_id", a.ID), slog.String("error", err.Error()))
	}
}

// fixSchedule moves an account that the schedule found due, but whose
// token needs no refresh (another process refreshed it, or the record
// lagged), to its proper next refresh time, so runs do not keep finding it.
func (m *Manager) fixSchedule(ctx context.Context, a *bridge.Account, c bridge.Credential) {
	want := nextRefreshAt(c, c.UpdatedAt)
	if !a.NextRefreshAt.Before(want) && a.TokenExpiresAt.Equal(c.Expiry) {
		return
	}
	_, _ = m.update(ctx, a, func(x *bridge.Account) bool {
		if x.Status == bridge.StatusNeedsReauth || !x.NextRefreshAt.Before(want) {
			return false
		}
		x.NextRefreshAt = want
		x.TokenExpiresAt = c.Expiry
		return true
	})
}
