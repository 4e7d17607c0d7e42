package bridge

import (
	"encoding/json"
	"time"
)

// Event types.
const (
	EventAccountCreated             = "integrated_account:created"
	EventAccountActive              = "integrated_account:active"
	EventAccountAuthenticationError = "integrated_account:authentication_error"
	EventAccountReactivated         = "integrated_account:reactivated"
	EventAccountDeleted             = "integrated_account:deleted"
	EventWebhookTest                = "webhook:test"
)

// Event is something that happened in an environment, recorded in the
// outbox before anyone is told about it.
type Event struct {
	ID          string `json:"id"`
	Environment string `json:"environment"`
	Type        string `json:"event"`
	// AccountID orders deliveries: events of one account reach a webhook in
	// the order they were recorded.
	AccountID string          `json:"integrated_account_id,omitempty"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
}

// Webhook is an operator's endpoint for events. Its signing secret lives in
// the vault, never on this record.
type Webhook struct {
	ID          string    `json:"id"`
	Environment string    `json:"environment"`
	URL         string    `json:"url"`
	EventTypes  []string  `json:"event_types"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Wants reports whether the webhook subscribes to event type t. An empty
// list subscribes to everything; "*" does too.
func (w *Webhook) Wants(t string) bool {
	if len(w.EventTypes) == 0 {
		return true
	}
	for _, x := range w.EventTypes {
		if x == t || x == "*" {
			return true
		}
	}
	return false
}

// DeliveryStatus is where one event's delivery to one webhook stands.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryFailed    DeliveryStatus = "failed" // gave up after the retry window
)

// Delivery is one event on its way to one webhook.
type Delivery struct {
	ID          string `json:"id"`
	Environment string `json:"environment"`
	WebhookID   string `json:"webhook_id"`
	EventID     string `json:"event_id"`
	// Stream groups deliveries that must arrive in order: one webhook and
	// one account (or the webhook alone for events without an account).
	Stream        string         `json:"stream"`
	Status        DeliveryStatus `json:"status"`
	Attempts      int            `json:"attempts"`
	NextAttemptAt time.Time      `json:"next_attempt_at,omitzero"`
	LastError     string         `json:"last_error,omitempty"`
	Version       int64          `json:"version"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
}

// Lease is a time-bounded claim on a named piece of work (refreshing one
// account, draining one delivery stream), held by one owner at a time.
type Lease struct {
	Name      string
	Owner     string
	ExpiresAt time.Time
	Version   int64
}
