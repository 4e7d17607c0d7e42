package link

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/logs"
)

// maxRetries bounds optimistic-concurrency retries of one write.
const maxRetries = 5

// consume marks the session used by accountID. Exactly one of any number
// of concurrent callers succeeds; the others get EGONE. A conflict with a
// write that did not consume the session (an OAuth start in another tab)
// is retried.
func (h *Handler) consume(ctx context.Context, sess *bridge.LinkSession, accountID string) error {
	for range maxRetries {
		if !sess.Usable(h.now()) {
			return errUsedOrExpired(sess)
		}
		sess.ConsumedAt = h.now()
		sess.ResultAccountID = accountID
		err := h.Store.UpdateLinkSession(ctx, sess)
		if err == nil {
			return nil
		}
		if !bridge.IsCode(err, bridge.ECONFLICT) {
			return err
		}
		fresh, err := h.Store.GetLinkSession(ctx, sess.ID)
		if err != nil {
			return err
		}
		*sess = *fresh
	}
	return bridge.Errorf(bridge.ECONFLICT, "The link is being used concurrently; try again.")
}

// finish stores a validated link: it consumes the session, then creates the
// account (or reconnects the session's account in place), saves the
// credential before the account says active, and records the events.
// Nothing is written unless this caller won the session.
func (h *Handler) finish(ctx context.Context, sess *bridge.LinkSession, l linked) (*bridge.Account, error) {
	id := sess.AccountID
	if id == "" {
		id = bridge.NewID()
	} else if _, err := h.Store.GetAccount(ctx, sess.Environment, id); err != nil {
		// Deleted since the link token was made: nothing to reconnect.
		return nil, err
	}
	if err := h.consume(ctx, sess, id); err != nil {
		return nil, err
	}
	if sess.AccountID != "" {
		return h.reconnect(ctx, sess, l)
	}
	return h.create(ctx, sess, id, l)
}

func (h *Handler) create(ctx context.Context, sess *bridge.LinkSession, id string, l linked) (*bridge.Account, error) {
	a := &bridge.Account{
		ID: id, Environment: sess.Environment, TenantID: sess.TenantID,
		Status: bridge.StatusConnecting, AuthMethod: l.method, Context: sess.Context,
	}
	l.apply(a)
	if err := h.Store.CreateAccount(ctx, a); err != nil {
		return nil, err
	}
	h.record(ctx, bridge.EventAccountCreated, a)
	if err := h.Credentials.Save(ctx, a, l.cred); err != nil {
		h.markFailed(ctx, a, "The credential could not be stored; reconnect the account.")
		return nil, fmt.Errorf("save credential of account %s: %w", a.ID, err)
	}
	saved := *a
	err := h.updateAccount(ctx, a, func(cur *bridge.Account) {
		copyRefresh(cur, &saved)
		setOutcome(cur, l)
	})
	if err != nil {
		return nil, err
	}
	if a.Status == bridge.StatusActive {
		h.record(ctx, bridge.EventAccountActive, a)
	}
	return a, nil
}

func (h *Handler) reconnect(ctx context.Context, sess *bridge.LinkSession, l linked) (*bridge.Account, error) {
	a, err := h.Store.GetAccount(ctx, sess.Environment, sess.AccountID)
	if err != nil {
		return nil, err
	}
	// Save sees the account as it will be, so that its refresh bookkeeping
	// is computed for the new credential.
	next := *a
	next.AuthMethod = l.method
	l.apply(&next)
	if err := h.Credentials.Save(ctx, &next, l.cred); err != nil {
		return nil, fmt.Errorf("save credential of account %s: %w", a.ID, err)
	}
	var before bridge.AccountStatus
	err = h.updateAccount(ctx, a, func(cur *bridge.Account) {
		before = cur.Status
		cur.AuthMethod = l.method
		l.apply(cur)
		copyRefresh(cur, &next)
		if sess.Context != nil {
			cur.Context = sess.Context
		}
		setOutcome(cur, l)
	})
	if err != nil {
		return nil, err
	}
	if a.Status == bridge.StatusActive {
		if before == bridge.StatusNeedsReauth || before == bridge.StatusValidationError {
			h.record(ctx, bridge.EventAccountReactivated, a)
		}
		h.record(ctx, bridge.EventAccountActive, a)
	}
	return a, nil
}

func setOutcome(a *bridge.Account, l linked) {
	if l.problem != "" {
		a.Status, a.LastError = bridge.StatusValidationError, l.problem
		return
	}
	a.Status, a.LastError = bridge.StatusActive, ""
}

// copyRefresh carries the refresh bookkeeping Credentials.Save set.
func copyRefresh(dst, src *bridge.Account) {
	dst.TokenExpiresAt, dst.NextRefreshAt = src.TokenExpiresAt, src.NextRefreshAt
	dst.LastRefreshedAt, dst.RefreshFailures = src.LastRefreshedAt, src.RefreshFailures
}

// updateAccount applies change to a and writes it, re-reading and
// re-applying after each lost race. On return a is the stored account.
func (h *Handler) updateAccount(ctx context.Context, a *bridge.Account, change func(*bridge.Account)) error {
	for range maxRetries {
		change(a)
		err := h.Store.UpdateAccount(ctx, a)
		if !bridge.IsCode(err, bridge.ECONFLICT) {
			return err
		}
		fresh, err := h.Store.GetAccount(ctx, a.Environment, a.ID)
		if err != nil {
			return err
		}
		*a = *fresh
	}
	return bridge.Errorf(bridge.ECONFLICT, "The integrated account is being changed concurrently; try again.")
}

func (h *Handler) markFailed(ctx context.Context, a *bridge.Account, reason string) {
	err := h.updateAccount(ctx, a, func(cur *bridge.Account) {
		cur.Status, cur.LastError = bridge.StatusValidationError, reason
	})
	if err != nil {
		logs.From(ctx).Error("mark account failed", slog.String("account_id", a.ID), slog.String("error", logs.Scrub(err.Error())))
	}
}

// record records an account event. The account is already stored, so a
// failure here cannot undo the link: it is retried briefly and then
// logged loudly.
func (h *Handler) record(ctx context.Context, eventType string, a *bridge.Account) {
	var err error
	e := h.event(eventType, a)
	for range 3 {
		if err = h.Events.Record(ctx, e); err == nil {
			return
		}
	}
	logs.From(ctx).Error("record event", slog.String("event", eventType), slog.String("account_id", a.ID),
		slog.String("error", logs.Scrub(err.Error())))
}

func (h *Handler) event(eventType string, a *bridge.Account) *bridge.Event {
	if h.NewEvent != nil {
		return h.NewEvent(eventType, a)
	}
	payload, _ := json.Marshal(a.View())
	return &bridge.Event{ID: bridge.NewID(), Environment: a.Environment, Type: eventType, AccountID: a.ID, Payload: payload, CreatedAt: h.now()}
}
