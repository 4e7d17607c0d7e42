package credentials

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/events"
)

// maxUpdateTries bounds optimistic retries of one account update.
const maxUpdateTries = 8

// update applies change to the account with optimistic concurrency: a
// lost race re-reads the record and applies change again. change reports
// whether it changed anything (false: nothing is written). It returns the
// stored account and records the lifecycle events of its status
// transition (events.TransitionEvents), once: only the write that made
// the transition records them.
func (m *Manager) update(ctx context.Context, a *bridge.Account, change func(*bridge.Account) bool) (*bridge.Account, error) {
	cur := *a
	for try := 0; ; try++ {
		if try > 0 || cur.Version < 1 {
			fresh, err := m.Store.GetAccount(ctx, a.Environment, a.ID)
			if err != nil {
				return nil, err
			}
			cur = *fresh
		}
		prev := cur.Status
		if !change(&cur) {
			return &cur, nil
		}
		err := m.Store.UpdateAccount(ctx, &cur)
		if err == nil {
			m.recordAll(ctx, events.TransitionEvents(prev, &cur))
			return &cur, nil
		}
		if !bridge.IsCode(err, bridge.ECONFLICT) || try+1 >= maxUpdateTries {
			return nil, fmt.Errorf("update account %s: %w", a.ID, err)
		}
	}
}

// recordAll records events, retrying each once. A failure is logged, not
// returned: the account write it describes has already happened.
func (m *Manager) recordAll(ctx context.Context, evs []*bridge.Event) {
	if m.Events == nil {
		return
	}
	for _, e := range evs {
		err := m.Events.Record(ctx, e)
		if err != nil {
			err = m.Events.Record(ctx, e) // idempotent by e.ID
		}
		if err != nil {
			m.logger().LogAttrs(ctx, slog.LevelError, "event not recorded",
				slog.String("event", e.Type), slog.String("event_id", e.ID),
				slog.String("account_id", e.AccountID), slog.String("error", err.Error()))
		}
	}
}

// UpdateAccount applies change to the stored account (env, id) with
// optimistic retries (change may run more than once, each time on a fresh
// copy) and records the events its status transition implies: one
// integrated_account:authentication_error on entering needs_reauth, one
// integrated_account:reactivated on returning to active from needs_reauth
// or validation_error. A change that returns an error aborts the update
// with that error. It returns the stored account.
func (m *Manager) UpdateAccount(ctx context.Context, env, id string, change func(*bridge.Account) error) (*bridge.Account, error) {
	var cerr error
	a, err := m.update(ctx, &bridge.Account{Environment: env, ID: id}, func(x *bridge.Account) bool {
		cerr = change(x)
		return cerr == nil
	})
	if cerr != nil {
		return nil, cerr
	}
	return a, err
}

// MarkNeedsReauth moves the account to needs_reauth with lastError (which
// callers see: it must be safe to show) and records exactly one
// integrated_account:authentication_error per transition, across
// processes. An account already in needs_reauth is left as it is. It
// returns the stored account.
func (m *Manager) MarkNeedsReauth(ctx context.Context, acct *bridge.Account, lastError string) (*bridge.Account, error) {
	m.forget(acct)
	return m.markNeedsReauth(ctx, acct, lastError)
}

func (m *Manager) markNeedsReauth(ctx context.Context, acct *bridge.Account, lastError string) (*bridge.Account, error) {
	return m.update(ctx, acct, func(x *bridge.Account) bool {
		if x.Status == bridge.StatusNeedsReauth {
			return false
		}
		x.Status = bridge.StatusNeedsReauth
		x.LastError = lastError
		// Out of the refresh index: nothing can be refreshed until the
		// account is reconnected (Save schedules it again).
		x.NextRefreshAt = time.Time{}
		return true
	})
}

// BeforeDelete is the accounts API's hook before an account is removed:
// it revokes an OAuth grant and records integrated_account:deleted. Both
// steps are safe to repeat when a failed delete is retried: the event's ID
// is fixed on the account by the first attempt, and recording is
// idempotent by ID.
func (m *Manager) BeforeDelete(ctx context.Context, acct *bridge.Account) error {
	if acct.DeletionEventID == "" {
		updated, err := m.update(ctx, acct, func(x *bridge.Account) bool {
			if x.DeletionEventID != "" {
				return false
			}
			x.DeletionEventID = bridge.NewID()
			return true
		})
		if err != nil {
			return err
		}
		acct = updated
	}
	if err := m.Revoke(ctx, acct); err != nil {
		return err
	}
	if m.Events != nil {
		e := events.AccountEvent(bridge.EventAccountDeleted, acct)
		e.ID = acct.DeletionEventID
		if err := m.Events.Record(ctx, e); err != nil && !bridge.IsCode(err, bridge.ECONFLICT) {
			return err
		}
	}
	return nil
}

// Revoke revokes an OAuth account's grant at Supabase (POST
// /v1/oauth/revoke with the current refresh token) under the refresh
// lease, so no refresh rotates the token under it. Other accounts, and
// accounts without a stored credential, need nothing. It is idempotent: a
// grant the platform no longer knows (400, 401, 404) counts as revoked.
// A rate limit, a 5xx or an unreachable endpoint is EUNAVAILABLE.
func (m *Manager) Revoke(ctx context.Context, acct *bridge.Account) error {
	m.forget(acct)
	if acct.AuthMethod != bridge.AuthOAuth {
		return nil
	}
	lease, err := m.acquireWait(ctx, acct)
	if err != nil {
		return err
	}
	defer m.release(ctx, lease)
	cur, err := m.read(ctx, acct, true)
	if bridge.IsCode(err, bridge.ENOTFOUND) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.RefreshToken.IsZero() {
		return nil
	}
	if m.ClientID == "" || m.ClientSecret.IsZero() {
		// Without the OAuth app's credentials the platform cannot be asked;
		// the grant then lapses unused rather than blocking the delete.
		m.logger().LogAttrs(ctx, slog.LevelWarn, "OAuth grant not revoked: no OAuth client is configured",
			slog.String("account_id", acct.ID))
		return nil
	}
	body, _ := json.Marshal(map[string]string{
		"client_id":     m.ClientID,
		"client_secret": m.ClientSecret.Reveal(),
		"refresh_token": cur.RefreshToken.Reveal(),
	})
	rctx, cancel := context.WithTimeout(ctx, orDefault(m.TokenTimeout, 15*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, m.baseURL()+"/v1/oauth/revoke", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("revoke account %s: build request", acct.ID)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := m.httpClient().Do(req)
	if err != nil {
		return bridge.Errorf(bridge.EUNAVAILABLE, "Revoking the OAuth grant of account %s failed: %s; retry.", acct.ID, classify(err).Error())
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch sc := resp.StatusCode; {
	case sc >= 200 && sc <= 299:
		m.logger().LogAttrs(ctx, slog.LevelInfo, "revoked OAuth grant", slog.String("account_id", acct.ID))
		return nil
	case sc == http.StatusBadRequest || sc == http.StatusUnauthorized || sc == http.StatusNotFound:
		m.logger().LogAttrs(ctx, slog.LevelWarn, "OAuth grant not revoked: the platform does not know it",
			slog.String("account_id", acct.ID), slog.Int("http_status", sc))
		return nil
	default:
		return bridge.Errorf(bridge.EUNAVAILABLE, "Revoking the OAuth grant of account %s failed: the endpoint answered %d; retry.", acct.ID, sc)
	}
}
