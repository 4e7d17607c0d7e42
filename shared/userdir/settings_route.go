package userdir

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/store"
)

// Accounts is what the settings routes need of the state store.
type Accounts interface {
	GetAccount(ctx context.Context, env, id string) (*bridge.Account, error)
	UpdateAccount(ctx context.Context, a *bridge.Account) error
}

var _ Accounts = (*store.Store)(nil)

// forgetter drops a cached account after its settings change.
type forgetter interface{ Forget(acct *bridge.Account) }

// settingsView is what the settings routes answer: the account's effective
// directory mapping (its settings over the defaults).
type settingsView struct {
	AccountID string `json:"integrated_account_id"`
	Directory tables `json:"directory"`
}

// registerSettings adds GET and PUT /unified/user-directory/settings: an
// account's directory mapping (schema, tables, columns, user paging
// function), which a project's own table names may need.
func (h *Handler) registerSettings(rt *httpapi.Router) {
	rt.Handle("GET "+BasePath+"/settings", h.Auth.Require(http.HandlerFunc(h.getSettings)))
	rt.Handle("PUT "+BasePath+"/settings", h.Auth.Require(http.HandlerFunc(h.putSettings)))
}

func (h *Handler) settingsAccount(r *http.Request) (*bridge.Account, error) {
	q := r.URL.Query()
	if err := httpapi.OnlyParams(q, "integrated_account_id"); err != nil {
		return nil, err
	}
	id := q.Get("integrated_account_id")
	if id == "" {
		return nil, bridge.Errorf(bridge.EINVALID, "integrated_account_id is required.").WithDetails(map[string]any{"parameter": "integrated_account_id"})
	}
	return h.Accounts.GetAccount(r.Context(), httpapi.Environment(r), id)
}

func (h *Handler) getSettings(w http.ResponseWriter, r *http.Request) {
	acct, err := h.settingsAccount(r)
	if err == nil {
		var t tables
		if t, err = parseSettings(acct.Settings); err == nil {
			httpapi.JSON(w, http.StatusOK, settingsView{AccountID: acct.ID, Directory: t})
			return
		}
	}
	httpapi.Error(w, r, err)
}

// putSettings replaces the account's directory mapping with the body (a
// partial mapping over the defaults, as in settings.directory), after
// checking it, and keeps the account's other settings.
func (h *Handler) putSettings(w http.ResponseWriter, r *http.Request) {
	acct, err := h.settingsAccount(r)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		httpapi.Error(w, r, bridge.Errorf(bridge.ETOOLARGE, "The request body is too large."))
		return
	}
	var mapping map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&mapping); err != nil || mapping == nil {
		httpapi.Error(w, r, bridge.Errorf(bridge.EINVALID, "The body must be a JSON object: the directory mapping (schema, auth_users_function, organizations, roles, user_roles, profiles)."))
		return
	}
	for try := 0; ; try++ {
		settings := map[string]json.RawMessage{}
		if len(bytes.TrimSpace(acct.Settings)) > 0 {
			if err := json.Unmarshal(acct.Settings, &settings); err != nil {
				settings = map[string]json.RawMessage{}
			}
		}
		settings["directory"] = json.RawMessage(body)
		raw, _ := json.Marshal(settings)
		t, err := parseSettings(raw)
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		acct.Settings = raw
		err = h.Accounts.UpdateAccount(r.Context(), acct)
		if bridge.IsCode(err, bridge.ECONFLICT) && try < 5 {
			// Changed concurrently (a refresh, a status change): apply the
			// mapping to the current record.
			if acct, err = h.Accounts.GetAccount(r.Context(), httpapi.Environment(r), acct.ID); err != nil {
				httpapi.Error(w, r, err)
				return
			}
			continue
		}
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		if f, ok := h.Access.(forgetter); ok {
			f.Forget(acct)
		}
		httpapi.JSON(w, http.StatusOK, settingsView{AccountID: acct.ID, Directory: t})
		return
	}
}
