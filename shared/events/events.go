// Package events is Supabridge's event outbox and its webhooks: events are
// written to the state store first, fanned out to one Delivery per
// subscribed webhook, and delivered as signed HTTP POSTs, at least once, in
// order per account and webhook, with retries and backoff for days.
//
// Recording never waits for a delivery. On AWS it sends a trigger message
// to an SQS queue, which the delivery function consumes; on one machine the
// local runner's loop (Run) picks deliveries up from the store. Either way
// the store decides order and what is done: a trigger only says "look at
// this stream", so a lost or repeated trigger changes nothing but latency.
//
// The package also serves the webhooks part of the operator API (Mount).
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// Store is what recording and delivering need of the state store.
type Store interface {
	PutEvent(ctx context.Context, e *bridge.Event) error
	GetEvent(ctx context.Context, id string) (*bridge.Event, error)
	ListWebhooks(ctx context.Context, env string) ([]*bridge.Webhook, error)
	GetWebhook(ctx context.Context, env, id string) (*bridge.Webhook, error)
	CreateDelivery(ctx context.Context, d *bridge.Delivery) error
	GetDelivery(ctx context.Context, id string) (*bridge.Delivery, error)
	UpdateDelivery(ctx context.Context, d *bridge.Delivery) error
	StreamDeliveries(ctx context.Context, stream, after string, limit int) ([]*bridge.Delivery, error)
	DueDeliveries(ctx context.Context, dueBefore time.Time, limit int) ([]*bridge.Delivery, error)
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (*bridge.Lease, error)
	RenewLease(ctx context.Context, l *bridge.Lease, ttl time.Duration) (*bridge.Lease, error)
	ReleaseLease(ctx context.Context, l *bridge.Lease) error
}

var _ Store = (*store.Store)(nil)

// Recorder writes events to the outbox and fans them out to the
// environment's webhooks. Fields may be changed only before first use;
// afterwards a Recorder is safe for concurrent use.
type Recorder struct {
	Store Store
	// Trigger is told which delivery streams have new work; nil leaves it
	// to a sweep (Dispatcher.Sweep, or the local runner's loop).
	Trigger Trigger
	// Now is the clock (nil: time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// New returns the process's Recorder: triggers go to the SQS queue in
// a.Config.DeliveryQueueURL when set, and otherwise nowhere, since the
// local runner's loop sweeps the store.
func New(a *app.App) *Recorder {
	r := &Recorder{Store: a.Store, Logger: a.Logger}
	if a.Config.DeliveryQueueURL != "" {
		r.Trigger = NewSQSTrigger(a.Config.DeliveryQueueURL, nil)
	}
	return r
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Recorder) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Record stores e in the outbox, creates one delivery per webhook of e's
// environment that subscribes to e.Type, and triggers delivery. It is
// idempotent by e.ID: recording an event again (after a failure, say)
// creates only the deliveries still missing. An empty ID gets a new one and
// a zero CreatedAt the current time, both written back to e.
//
// It returns EINVALID for an event without environment or type, and store
// errors as they are; a failed trigger is only logged, because the sweep
// finds the deliveries anyway.
func (r *Recorder) Record(ctx context.Context, e *bridge.Event) error {
	if e.Type == bridge.EventWebhookTest {
		return bridge.Errorf(bridge.EINVALID, "webhook:test events go to one webhook; send them with POST /webhooks/{id}/test.")
	}
	return r.record(ctx, e, nil)
}

// record is Record with an optional single target webhook.
func (r *Recorder) record(ctx context.Context, e *bridge.Event, only *bridge.Webhook) error {
	if e.Environment == "" || e.Type == "" {
		return bridge.Errorf(bridge.EINVALID, "An event needs an environment and a type.")
	}
	if e.ID == "" {
		e.ID = bridge.NewID()
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = r.now()
	}
	if len(e.Payload) == 0 {
		e.Payload = json.RawMessage("{}")
	}
	if err := r.Store.PutEvent(ctx, e); err != nil {
		if !bridge.IsCode(err, bridge.ECONFLICT) {
			return fmt.Errorf("record event %s: %w", e.ID, err)
		}
		// Recorded before: fan out what is stored, so a retry with a
		// changed payload cannot split the event in two.
		stored, err := r.Store.GetEvent(ctx, e.ID)
		if err != nil {
			return fmt.Errorf("record event %s: %w", e.ID, err)
		}
		*e = *stored
	}
	var hooks []*bridge.Webhook
	if only != nil {
		hooks = []*bridge.Webhook{only}
	} else {
		all, err := r.Store.ListWebhooks(ctx, e.Environment)
		if err != nil {
			return fmt.Errorf("record event %s: list webhooks: %w", e.ID, err)
		}
		for _, w := range all {
			if w.Wants(e.Type) {
				hooks = append(hooks, w)
			}
		}
	}
	now := r.now()
	var kicks []Kick
	for _, w := range hooks {
		d := &bridge.Delivery{
			ID:            DeliveryID(e.ID, w.ID),
			Environment:   e.Environment,
			WebhookID:     w.ID,
			EventID:       e.ID,
			Stream:        StreamOf(w.ID, e.AccountID),
			Status:        bridge.DeliveryPending,
			NextAttemptAt: now,
		}
		if err := r.Store.CreateDelivery(ctx, d); err != nil && !bridge.IsCode(err, bridge.ECONFLICT) {
			return fmt.Errorf("record event %s: delivery to webhook %s: %w", e.ID, w.ID, err)
		}
		kicks = append(kicks, Kick{Stream: d.Stream, At: now})
	}
	if r.Trigger != nil && len(kicks) > 0 {
		if err := r.Trigger.Trigger(ctx, kicks); err != nil {
			r.logger().LogAttrs(ctx, slog.LevelWarn, "delivery trigger failed; the sweep will deliver",
				slog.String("event_id", e.ID), slog.String("error", err.Error()))
		}
	}
	return nil
}

// deliveryNamespace scopes delivery IDs derived from event and webhook IDs.
var deliveryNamespace = uuid.MustParse("6f1c3a52-9d0e-4b7a-8f21-3c5d7e9a1b40")

// DeliveryID is the ID of event eventID's delivery to webhook webhookID. It
// is derived, not random, so fanning an event out twice creates each
// delivery once.
func DeliveryID(eventID, webhookID string) string {
	return uuid.NewSHA1(deliveryNamespace, []byte(eventID+"/"+webhookID)).String()
}

// StreamOf names the ordered stream of deliveries to one webhook about one
// account; events without an account share the webhook's own stream.
func StreamOf(webhookID, accountID string) string {
	if accountID == "" {
		accountID = "-"
	}
	return webhookID + "/" + accountID
}

// AccountEvent returns a new event of eventType about a. Its payload is the
// account's API view, which never holds credentials.
func AccountEvent(eventType string, a *bridge.Account) *bridge.Event {
	payload, err := json.Marshal(a.View())
	if err != nil {
		// Only a malformed Context can fail to encode; the ID still says
		// which account the event is about.
		payload, _ = json.Marshal(map[string]string{"id": a.ID})
	}
	return &bridge.Event{
		ID:          bridge.NewID(),
		Environment: a.Environment,
		Type:        eventType,
		AccountID:   a.ID,
		Payload:     payload,
	}
}

// TransitionEvents returns the lifecycle events implied by an account's
// status changing from prev to a.Status: integrated_account:
// authentication_error on entering needs_reauth, and integrated_account:
// reactivated on returning to active from needs_reauth or
// validation_error. Other transitions (a first link's :created and
// :active) are recorded by whoever makes them.
func TransitionEvents(prev bridge.AccountStatus, a *bridge.Account) []*bridge.Event {
	if prev == a.Status {
		return nil
	}
	switch {
	case a.Status == bridge.StatusNeedsReauth:
		return []*bridge.Event{AccountEvent(bridge.EventAccountAuthenticationError, a)}
	case a.Status == bridge.StatusActive && (prev == bridge.StatusNeedsReauth || prev == bridge.StatusValidationError):
		return []*bridge.Event{AccountEvent(bridge.EventAccountReactivated, a)}
	}
	return nil
}

// WebhookSecretRef is where a webhook's signing secret lives in the vault.
func WebhookSecretRef(w *bridge.Webhook) vault.Ref {
	return vault.Ref{Environment: w.Environment, Kind: vault.KindWebhook, ID: w.ID}
}
