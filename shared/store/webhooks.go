package store

import (
	"context"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
)

// eventRetention is how long events stay listable before clean-up.
const eventRetention = 30 * 24 * time.Hour

func webhookItem(w *bridge.Webhook) *Item {
	return &Item{
		PK: "WEBHOOK#" + w.ID, SK: "W",
		GSI1PK: "ENV#" + w.Environment + "#WEBHOOKS", GSI1SK: w.ID,
		Version: w.Version,
	}
}

// CreateWebhook stores a new webhook with Version 1 (EINVALID without a
// bridge.NewID ID and an environment, ECONFLICT if the ID is taken; a
// failed create leaves w as it was).
func (s *Store) CreateWebhook(ctx context.Context, w *bridge.Webhook) error {
	if !bridge.ValidID(w.ID) || w.Environment == "" {
		return bridge.Errorf(bridge.EINVALID, "Webhook record is incomplete.")
	}
	prev := *w
	now := s.now()
	if w.CreatedAt.IsZero() {
		w.CreatedAt = now
	}
	w.UpdatedAt = now
	w.Version = 1
	if err := s.putJSON(ctx, webhookItem(w), w, Condition{IfAbsent: true}); err != nil {
		*w = prev
		return mapErr(err, "webhook")
	}
	return nil
}

// GetWebhook returns the environment's webhook with id, or ENOTFOUND.
func (s *Store) GetWebhook(ctx context.Context, env, id string) (*bridge.Webhook, error) {
	if !bridge.ValidID(id) {
		return nil, notFound("Webhook")
	}
	var w bridge.Webhook
	v, err := s.getJSON(ctx, "WEBHOOK#"+id, "W", &w)
	if err != nil {
		return nil, mapErr(err, "Webhook")
	}
	if w.Environment != env {
		return nil, notFound("Webhook")
	}
	w.Version = v
	return &w, nil
}

// ListWebhooks returns the environment's webhooks, oldest first (at most
// MaxLimit).
func (s *Store) ListWebhooks(ctx context.Context, env string) ([]*bridge.Webhook, error) {
	return queryJSON[bridge.Webhook](ctx, s, Query{Index: IndexGSI1, PK: "ENV#" + env + "#WEBHOOKS", Limit: MaxLimit})
}

// DeleteWebhook removes the environment's webhook with id, or returns
// ENOTFOUND.
func (s *Store) DeleteWebhook(ctx context.Context, env, id string) error {
	if _, err := s.GetWebhook(ctx, env, id); err != nil {
		return err
	}
	return mapErr(s.b.Delete(ctx, "WEBHOOK#"+id, "W", Condition{}), "webhook")
}

func eventItem(e *bridge.Event) *Item {
	return &Item{
		PK: "EVENT#" + e.ID, SK: "E",
		GSI1PK: "ENV#" + e.Environment + "#EVENTS", GSI1SK: e.ID,
		Version: 1, ExpiresAt: e.CreatedAt.Add(eventRetention),
	}
}

// PutEvent records an event in the outbox. Recording the same event ID
// twice returns ECONFLICT, so producers can retry safely.
func (s *Store) PutEvent(ctx context.Context, e *bridge.Event) error {
	prev := *e
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	if err := s.putJSON(ctx, eventItem(e), e, Condition{IfAbsent: true}); err != nil {
		*e = prev
		return mapErr(err, "event")
	}
	return nil
}

// GetEvent returns the event with id (any environment; callers check), or
// ENOTFOUND.
func (s *Store) GetEvent(ctx context.Context, id string) (*bridge.Event, error) {
	var e bridge.Event
	if _, err := s.getJSON(ctx, "EVENT#"+id, "E", &e); err != nil {
		return nil, mapErr(err, "Event")
	}
	return &e, nil
}

// ListEvents returns the environment's events after the event ID after,
// oldest first, and the ID to continue from ("" at the end).
func (s *Store) ListEvents(ctx context.Context, env, after string, limit int) ([]*bridge.Event, string, error) {
	q := Query{Index: IndexGSI1, PK: "ENV#" + env + "#EVENTS", After: after}
	return listPage(ctx, s, q, clampLimit(limit), func(*bridge.Event) bool { return true },
		func(e *bridge.Event) string { return e.ID })
}

func deliveryItem(d *bridge.Delivery) *Item {
	it := &Item{
		PK: "DELIVERY#" + d.ID, SK: "D",
		GSI1PK: "STREAM#" + d.Stream, GSI1SK: d.EventID + "#" + d.ID,
		GSI3PK: "WEBHOOK#" + d.WebhookID + "#DELIVERIES", GSI3SK: d.ID,
		Version: d.Version,
	}
	if d.Status == bridge.DeliveryPending {
		it.GSI2PK, it.GSI2SK = "DELIVERIES#DUE", timeKey(d.NextAttemptAt)+"#"+d.ID
	} else {
		it.ExpiresAt = d.UpdatedAt.Add(eventRetention)
	}
	return it
}

// CreateDelivery stores a new delivery with Version 1. A delivery ID that
// exists returns ECONFLICT, so fan-out can be retried safely with IDs
// derived from the event and the webhook.
func (s *Store) CreateDelivery(ctx context.Context, d *bridge.Delivery) error {
	prev := *d
	now := s.now()
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now
	}
	d.UpdatedAt = now
	d.Version = 1
	if err := s.putJSON(ctx, deliveryItem(d), d, Condition{IfAbsent: true}); err != nil {
		*d = prev
		return mapErr(err, "delivery")
	}
	return nil
}

// GetDelivery returns the delivery with id, or ENOTFOUND.
func (s *Store) GetDelivery(ctx context.Context, id string) (*bridge.Delivery, error) {
	var d bridge.Delivery
	v, err := s.getJSON(ctx, "DELIVERY#"+id, "D", &d)
	if err != nil {
		return nil, mapErr(err, "Delivery")
	}
	d.Version = v
	return &d, nil
}

// UpdateDelivery writes d if the stored version still equals d.Version
// (ECONFLICT otherwise; EINVALID for Version 0), then increments
// d.Version.
func (s *Store) UpdateDelivery(ctx context.Context, d *bridge.Delivery) error {
	if d.Version < 1 {
		return unread("delivery")
	}
	prev, prevUpdated := d.Version, d.UpdatedAt
	d.Version = prev + 1
	d.UpdatedAt = s.now()
	if err := s.putJSON(ctx, deliveryItem(d), d, Condition{IfVersion: prev}); err != nil {
		d.Version, d.UpdatedAt = prev, prevUpdated
		return mapErr(err, "delivery")
	}
	return nil
}

// StreamDeliveries returns a stream's deliveries in event order, starting
// after the stream key after ("" for the start); see StreamKey.
func (s *Store) StreamDeliveries(ctx context.Context, stream, after string, limit int) ([]*bridge.Delivery, error) {
	return queryJSON[bridge.Delivery](ctx, s, Query{Index: IndexGSI1, PK: "STREAM#" + stream, After: after, Limit: clampLimit(limit)})
}

// StreamKey is d's position in its stream, for StreamDeliveries' after.
func StreamKey(d *bridge.Delivery) string { return d.EventID + "#" + d.ID }

// DueDeliveries returns pending deliveries whose next attempt is before
// dueBefore, soonest first.
func (s *Store) DueDeliveries(ctx context.Context, dueBefore time.Time, limit int) ([]*bridge.Delivery, error) {
	return queryJSON[bridge.Delivery](ctx, s, Query{Index: IndexGSI2, PK: "DELIVERIES#DUE", Before: timeKey(dueBefore), Limit: clampLimit(limit)})
}

// ListDeliveries returns a webhook's deliveries, newest first, and the ID
// to continue before ("" at the end).
func (s *Store) ListDeliveries(ctx context.Context, webhookID, before string, limit int) ([]*bridge.Delivery, string, error) {
	q := Query{Index: IndexGSI3, PK: "WEBHOOK#" + webhookID + "#DELIVERIES", Before: before, Descending: true}
	return listPage(ctx, s, q, clampLimit(limit), func(*bridge.Delivery) bool { return true },
		func(d *bridge.Delivery) string { return d.ID })
}
