package proxy

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/httpapi"
)

// call is one proxied request's resolved state. Rewrite, the transport and
// ModifyResponse run one after another for a request, so it needs no lock.
type call struct {
	h     *Handler
	route route
	acct  *bridge.Account
	// cred is the account's credential in use: the bearer for the
	// Management API, the key of a project-key account.
	cred bridge.Credential
	// ref and key name the project and the key sent to it (project APIs).
	ref, key string
	// userAuth is the caller's own Authorization header (a user's access
	// token), forwarded to project APIs instead of the key as bearer.
	userAuth   string
	target     *url.URL
	unified    *unifiedPage
	idempotent bool
	// replayable: the body is absent or kept in memory.
	replayable bool
}

// operator is what the caller sent to authenticate.
type operator struct {
	key      string // the Supabridge API key
	userAuth string // an Authorization header to forward, if any
}

func isOperatorKey(s string) bool { return strings.HasPrefix(s, bridge.APIKeyPrefix) }

// operatorCredentials finds the operator's API key in "Authorization:
// Bearer" or "apikey" (supabase-js sends its key in both). An
// Authorization header that does not carry the operator's key is the
// caller's own: a bearer token other than a Supabase API key (sb_…) is
// kept for project APIs, so a user's access token runs the request as that
// user under row-level security, as Supabase's gateway does.
func operatorCredentials(r *http.Request) (operator, error) {
	bearer, hasBearer := httpapi.BearerToken(r)
	apikey := strings.TrimSpace(r.Header.Get("apikey"))
	var op operator
	switch {
	case hasBearer && isOperatorKey(bearer):
		if isOperatorKey(apikey) && apikey != bearer {
			return op, bridge.Errorf(bridge.EINVALID, "Authorization and apikey carry two different Supabridge API keys; send one.")
		}
		op.key = bearer
	case isOperatorKey(apikey):
		op.key = apikey
		if hasBearer && !strings.HasPrefix(bearer, "sb_") {
			op.userAuth = "Bearer " + bearer
		}
	default:
		return op, bridge.Errorf(bridge.EUNAUTHORIZED,
			"Send your Supabridge API key as Authorization: Bearer <key> or as the apikey header.")
	}
	return op, nil
}

// accountID reads the integrated account from the header or the query.
func accountID(r *http.Request, q query) (string, error) {
	h := strings.TrimSpace(r.Header.Get(HeaderAccount))
	id := h
	if id == "" {
		id = strings.TrimSpace(q.account)
	} else if q.account != "" && q.account != h {
		return "", bridge.Errorf(bridge.EINVALID, "%s and integrated_account_id name different accounts.", HeaderAccount)
	}
	if id == "" {
		return "", bridge.Errorf(bridge.EINVALID, "Name the integrated account with the %s header or the integrated_account_id query parameter.", HeaderAccount).
			WithDetails(map[string]any{"header": HeaderAccount})
	}
	if !bridge.ValidID(id) {
		return "", bridge.Errorf(bridge.ENOTFOUND, "No integrated account %q in this environment.", truncate(id, 64))
	}
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// authorize puts the account's credentials on an outbound request's
// headers, replacing whatever the caller sent there.
//
// The Management API gets the account's token as bearer and no apikey.
// Project APIs get the project key as apikey, and as bearer too (as
// supabase-js sends it) unless the caller sent its own user token; Edge
// Functions verify only JWTs, so an opaque sb_ key goes there as apikey
// alone, again as supabase-js does.
func (c *call) authorize(h http.Header) {
	if !c.route.project() {
		h.Del("Apikey")
		tok := c.cred.AccessToken
		if c.cred.Method == bridge.AuthAccessToken {
			tok = c.cred.PersonalAccessToken
		}
		h.Set("Authorization", "Bearer "+tok.Reveal())
		return
	}
	h.Set("Apikey", c.key)
	switch {
	case c.userAuth != "":
		h.Set("Authorization", c.userAuth)
	case c.route.api == apiFunctions && strings.HasPrefix(c.key, "sb_"):
		h.Del("Authorization")
	default:
		h.Set("Authorization", "Bearer "+c.key)
	}
}
