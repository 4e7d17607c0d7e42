package events

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// EventTypes lists the event types a webhook can subscribe to ("*" is
// every type).
var EventTypes = []string{
	bridge.EventAccountCreated,
	bridge.EventAccountActive,
	bridge.EventAccountAuthenticationError,
	bridge.EventAccountReactivated,
	bridge.EventAccountDeleted,
	bridge.EventWebhookTest,
}

// MaxWebhooks bounds the webhooks of one environment: every event is
// fanned out to each of them.
const MaxWebhooks = 20

// WebhookStore is what the webhooks API needs of the state store.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, w *bridge.Webhook) error
	GetWebhook(ctx context.Context, env, id string) (*bridge.Webhook, error)
	ListWebhooks(ctx context.Context, env string) ([]*bridge.Webhook, error)
	DeleteWebhook(ctx context.Context, env, id string) error
}

var _ WebhookStore = (*store.Store)(nil)

// Handler serves the webhooks routes. Set the fields before Register; it
// is safe for concurrent use afterwards.
type Handler struct {
	Store    WebhookStore
	Vault    vault.Vault
	Auth     *httpapi.Authenticator
	Recorder *Recorder
	// AllowPrivate accepts http://localhost-style URLs (the sandbox).
	AllowPrivate bool
}

// Mount registers the webhooks function's routes on rt, wired to a.
func Mount(rt *httpapi.Router, a *app.App) {
	(&Handler{
		Store: a.Store, Vault: a.Vault, Auth: a.Auth, Recorder: New(a),
		AllowPrivate: a.Config.AllowPrivateUpstreams,
	}).Register(rt)
}

// Register adds the routes to rt.
func (h *Handler) Register(rt *httpapi.Router) {
	rt.Handle("POST /webhooks", h.Auth.Require(http.HandlerFunc(h.create)))
	rt.Handle("GET /webhooks", h.Auth.Require(http.HandlerFunc(h.list)))
	rt.Handle("DELETE /webhooks/{id}", h.Auth.Require(http.HandlerFunc(h.delete)))
	rt.Handle("POST /webhooks/{id}/test", h.Auth.Require(http.HandlerFunc(h.test)))
}

// WebhookView is a webhook as the API shows it.
type WebhookView struct {
	ID         string    `json:"id"`
	URL        string    `json:"url"`
	EventTypes []string  `json:"event_types"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Secret is set only in the response that creates the webhook.
	Secret string `json:"secret,omitempty"`
}

func view(w *bridge.Webhook) WebhookView {
	return WebhookView{ID: w.ID, URL: w.URL, EventTypes: w.EventTypes, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}

type createRequest struct {
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types"`
}

// checkEventTypes returns the subscription list to store: the known types
// asked for, deduplicated, or ["*"] for none.
func checkEventTypes(in []string) ([]string, error) {
	if len(in) == 0 {
		return []string{"*"}, nil
	}
	if len(in) > 50 {
		return nil, bridge.Errorf(bridge.EINVALID, "event_types has more than 50 entries.").WithDetails(map[string]any{"field": "event_types"})
	}
	var out []string
	for _, t := range in {
		if t != "*" && !slices.Contains(EventTypes, t) {
			return nil, bridge.Errorf(bridge.EINVALID, "event_types: %q is not an event type; use \"*\" or one of %v.", clip(t, 64), EventTypes).
				WithDetails(map[string]any{"field": "event_types"})
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if slices.Contains(out, "*") {
		return []string{"*"}, nil
	}
	return out, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// newSecret returns a signing secret: whsec_ and 256 random bits.
func newSecret() bridge.Secret {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails: since Go 1.24 it crashes instead
	return bridge.Secret(SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:]))
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	ctx, env := r.Context(), httpapi.Environment(r)
	var req createRequest
	if err := httpapi.Decode(r, &req); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if err := CheckWebhookURL(req.URL, h.AllowPrivate); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	types, err := checkEventTypes(req.EventTypes)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	existing, err := h.Store.ListWebhooks(ctx, env)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if len(existing) >= MaxWebhooks {
		httpapi.Error(w, r, bridge.Errorf(bridge.EUNPROCESSABLE, "An environment has at most %d webhooks; delete one first.", MaxWebhooks))
		return
	}
	hook := &bridge.Webhook{ID: bridge.NewID(), Environment: env, URL: req.URL, EventTypes: types}
	secret := newSecret()
	// The secret goes first: a webhook record must never exist without the
	// secret its deliveries are signed with.
	if err := h.Vault.Put(ctx, WebhookSecretRef(hook), []byte(secret.Reveal())); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if err := h.Store.CreateWebhook(ctx, hook); err != nil {
		_ = h.Vault.Delete(context.WithoutCancel(ctx), WebhookSecretRef(hook))
		httpapi.Error(w, r, err)
		return
	}
	v := view(hook)
	v.Secret = secret.Reveal()
	httpapi.JSON(w, http.StatusCreated, v)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	if err := httpapi.OnlyParams(r.URL.Query()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	hooks, err := h.Store.ListWebhooks(r.Context(), httpapi.Environment(r))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	views := make([]WebhookView, len(hooks))
	for i, x := range hooks {
		views[i] = view(x)
	}
	httpapi.JSON(w, http.StatusOK, httpapi.NewList(views, ""))
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	ctx, env, id := r.Context(), httpapi.Environment(r), r.PathValue("id")
	hook, err := h.Store.GetWebhook(ctx, env, id)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	// Secret first, as for accounts: a retry after a failure finds the
	// record again and finishes, and no secret outlives its webhook.
	// Pending deliveries fail for good once either is gone.
	if err := h.Vault.Delete(ctx, WebhookSecretRef(hook)); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if err := h.Store.DeleteWebhook(ctx, env, id); err != nil && !bridge.IsCode(err, bridge.ENOTFOUND) {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]string{"id": id})
}

// testResponse answers POST /webhooks/{id}/test.
type testResponse struct {
	ID         string    `json:"id"`
	Event      string    `json:"event"`
	WebhookID  string    `json:"webhook_id"`
	DeliveryID string    `json:"delivery_id"`
	CreatedAt  time.Time `json:"created_at"`
}

func (h *Handler) test(w http.ResponseWriter, r *http.Request) {
	ctx, env := r.Context(), httpapi.Environment(r)
	hook, err := h.Store.GetWebhook(ctx, env, r.PathValue("id"))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	payload, _ := json.Marshal(map[string]string{
		"webhook_id": hook.ID,
		"message":    "This is a test event from Supabridge.",
	})
	e := &bridge.Event{Environment: env, Type: bridge.EventWebhookTest, Payload: payload}
	if err := h.Recorder.record(ctx, e, hook); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusAccepted, testResponse{
		ID: e.ID, Event: e.Type, WebhookID: hook.ID, DeliveryID: DeliveryID(e.ID, hook.ID), CreatedAt: e.CreatedAt,
	})
}
