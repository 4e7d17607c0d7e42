package credentials

import (
	"context"
	"net/http"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/httpapi"
)

// Accounts is what the refresh route reads of the state store.
type Accounts interface {
	GetAccount(ctx context.Context, env, id string) (*bridge.Account, error)
}

// Handler serves POST /integrated-accounts/{id}/refresh. Set the fields
// before Register; it is safe for concurrent use afterwards.
type Handler struct {
	Accounts Accounts
	Auth     *httpapi.Authenticator
	Manager  *Manager
}

// Mount registers the refresh function's routes on rt, wired to a.
func Mount(rt *httpapi.Router, a *app.App) {
	(&Handler{Accounts: a.Store, Auth: a.Auth, Manager: New(a, events.New(a))}).Register(rt)
}

// Register adds the route to rt.
func (h *Handler) Register(rt *httpapi.Router) {
	rt.Handle("POST /integrated-accounts/{id}/refresh", h.Auth.Require(http.HandlerFunc(h.refresh)))
}

// refresh forces a refresh of an OAuth account's tokens and answers with
// the account as it then stands.
func (h *Handler) refresh(w http.ResponseWriter, r *http.Request) {
	ctx, env := r.Context(), httpapi.Environment(r)
	a, err := h.Accounts.GetAccount(ctx, env, r.PathValue("id"))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if a.AuthMethod != bridge.AuthOAuth {
		httpapi.Error(w, r, bridge.Errorf(bridge.EUNPROCESSABLE,
			"Integrated account %s was linked with %s, which has no tokens to refresh.", a.ID, a.AuthMethod).
			WithDetails(map[string]any{"authentication_method": a.AuthMethod}))
		return
	}
	if a.Status == bridge.StatusNeedsReauth {
		httpapi.Error(w, r, reconnect(a))
		return
	}
	if _, err := h.Manager.Refresh(ctx, a, true); err != nil {
		if bridge.IsCode(err, bridge.ENEEDSREAUTH) {
			err = reconnect(a)
		}
		httpapi.Error(w, r, err)
		return
	}
	a, err = h.Accounts.GetAccount(ctx, env, a.ID)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, a.View())
}

// reconnect is the operator-facing form of ENEEDSREAUTH: the operator's own
// key is fine (so not 401); the account is what cannot be refreshed.
func reconnect(a *bridge.Account) error {
	return bridge.Errorf(bridge.EUNPROCESSABLE,
		"Integrated account %s needs to be reconnected: its OAuth grant is no longer valid.", a.ID).
		WithDetails(map[string]any{"status": bridge.StatusNeedsReauth})
}
