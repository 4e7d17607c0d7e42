// Package accounts serves the integrated-accounts part of the operator API:
// listing, reading and deleting the accounts linked in the caller's
// environment, plus the unauthenticated health check.
package accounts

import (
	"context"
	"net/http"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/credentials"
	"github.com/supabridge/supabridge/shared/cursor"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// Store is what the handler needs of the state store.
type Store interface {
	GetAccount(ctx context.Context, env, id string) (*bridge.Account, error)
	ListAccounts(ctx context.Context, f bridge.AccountFilter) ([]*bridge.Account, string, error)
	DeleteAccount(ctx context.Context, env, id string) error
}

var _ Store = (*store.Store)(nil)

// Deleter runs before an account is removed (revoking an OAuth grant,
// recording the deletion event). It must be idempotent: a failed delete is
// retried from the start.
type Deleter func(ctx context.Context, a *bridge.Account) error

// Handler serves the routes. Fields must be set before Register.
type Handler struct {
	Store   Store
	Vault   vault.Vault
	Cursors *cursor.Signer
	Auth    *httpapi.Authenticator
	// BeforeDelete, when set, runs before the credential and the record are
	// removed.
	BeforeDelete Deleter
}

// Register adds the handler's routes to rt.
func (h *Handler) Register(rt *httpapi.Router) {
	rt.HandleFunc("GET /healthz", health)
	rt.Handle("GET /integrated-accounts", h.Auth.Require(http.HandlerFunc(h.list)))
	rt.Handle("GET /integrated-accounts/{id}", h.Auth.Require(http.HandlerFunc(h.get)))
	rt.Handle("DELETE /integrated-accounts/{id}", h.Auth.Require(http.HandlerFunc(h.delete)))
}

func health(w http.ResponseWriter, _ *http.Request) {
	httpapi.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type listCursor struct {
	After string `json:"a"`
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := httpapi.OnlyParams(q, "tenant_id", "status", "limit", "next_cursor"); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	limit, err := httpapi.Limit(q, store.DefaultLimit, store.MaxLimit)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	f := bridge.AccountFilter{
		Environment: httpapi.Environment(r),
		TenantID:    q.Get("tenant_id"),
		Status:      bridge.AccountStatus(q.Get("status")),
		Limit:       limit,
	}
	if f.Status != "" && !f.Status.Valid() {
		httpapi.Error(w, r, bridge.Errorf(bridge.EINVALID, "status must be one of connecting, active, needs_reauth, validation_error.").
			WithDetails(map[string]any{"parameter": "status"}))
		return
	}
	// The cursor is bound to the environment and filters, so it cannot be
	// replayed against another listing.
	scope := "accounts\x00" + f.Environment + "\x00" + f.TenantID + "\x00" + string(f.Status)
	if c := q.Get("next_cursor"); c != "" {
		var pos listCursor
		if err := h.Cursors.Open(scope, c, &pos); err != nil {
			httpapi.Error(w, r, err)
			return
		}
		f.After = pos.After
	}
	accs, after, err := h.Store.ListAccounts(r.Context(), f)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	views := make([]bridge.AccountView, len(accs))
	for i, a := range accs {
		views[i] = a.View()
	}
	next := ""
	if after != "" {
		if next, err = h.Cursors.Sign(scope, listCursor{After: after}); err != nil {
			httpapi.Error(w, r, err)
			return
		}
	}
	httpapi.JSON(w, http.StatusOK, httpapi.NewList(views, next))
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	a, err := h.Store.GetAccount(r.Context(), httpapi.Environment(r), r.PathValue("id"))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, a.View())
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	ctx, env, id := r.Context(), httpapi.Environment(r), r.PathValue("id")
	a, err := h.Store.GetAccount(ctx, env, id)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if h.BeforeDelete != nil {
		if err := h.BeforeDelete(ctx, a); err != nil {
			httpapi.Error(w, r, err)
			return
		}
	}
	// The credential goes first: if removing the record then fails, a retry
	// finds the account again and finishes, and no credential outlives it.
	if err := h.Vault.Delete(ctx, vault.Ref{Environment: env, Kind: vault.KindAccount, ID: id}); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if err := h.Store.DeleteAccount(ctx, env, id); err != nil && !bridge.IsCode(err, bridge.ENOTFOUND) {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]string{"id": id})
}

// Mount registers the accounts function's routes on rt, wired to a.
// Deleting an account revokes its OAuth grant and records
// integrated_account:deleted first.
func Mount(rt *httpapi.Router, a *app.App) {
	creds := credentials.New(a, events.New(a))
	(&Handler{Store: a.Store, Vault: a.Vault, Cursors: a.Cursors, Auth: a.Auth, BeforeDelete: creds.BeforeDelete}).Register(rt)
}
