package link

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/logs"
)

// Error codes of the OAuth round trip.
const (
	codeExpiredState = "expired_state"
	codeOAuth        = "oauth_error"
)

// startOAuth begins "Sign in with Supabase": a fresh state bound to the
// session (only its hash is stored), and a redirect to the authorize
// endpoint with the S256 challenge of the verifier derived from it.
// Starting again replaces the previous state.
func (h *Handler) startOAuth(w http.ResponseWriter, r *http.Request) {
	sess, _, po, ok := h.formSession(w, r, bridge.AuthOAuth)
	if !ok {
		return
	}
	state := newState(sess.ID, po)
	var err error
	for range maxRetries {
		sess.OAuthStateHash = hashToken(state)
		sess.OAuthStateExpires = h.now().Add(StateLifetime)
		if err = h.Store.UpdateLinkSession(r.Context(), sess); !bridge.IsCode(err, bridge.ECONFLICT) {
			break
		}
		fresh, gerr := h.Store.GetLinkSession(r.Context(), sess.ID)
		if gerr != nil {
			err = gerr
			break
		}
		if !fresh.Usable(h.now()) {
			err = errUsedOrExpired(fresh)
			break
		}
		*sess = *fresh
	}
	if err != nil {
		h.sessionFailure(w, r, sess, po, err)
		return
	}
	cfg := h.OAuthConfig(h.redirectURL(r))
	target := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(h.derive().verifier(state)))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// oauthCallback finishes "Sign in with Supabase". The state must be the
// session's current one (unknown, tampered and reused states fail here),
// unexpired, and is spent before the code is exchanged, so exactly one
// callback per state proceeds. The code is exchanged with the derived
// verifier and HTTP Basic client authentication.
func (h *Handler) oauthCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")
	id, origin, ok := parseState(state)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest, "This sign-in response is not valid. Open the link again to retry.")
		return
	}
	sess, err := h.Store.GetLinkSession(ctx, id)
	if err != nil {
		if bridge.IsCode(err, bridge.ENOTFOUND) {
			h.errorPage(w, r, http.StatusBadRequest, "This sign-in response is not valid. Open the link again to retry.")
			return
		}
		h.internalError(w, r, nil, "", err)
		return
	}
	if !hashesEqual(sess.OAuthStateHash, hashToken(state)) {
		logs.From(ctx).Info("oauth callback with unknown state", slog.String("link_session_id", sess.ID))
		h.errorPage(w, r, http.StatusBadRequest, "This sign-in response was already used or is not valid. Open the link again to retry.")
		return
	}
	po, err := h.popupOrigin(ctx, sess, origin)
	if err != nil {
		h.errorPage(w, r, http.StatusForbidden, bridge.ErrorMessage(err))
		return
	}
	expired := !h.now().Before(sess.OAuthStateExpires)
	sess.OAuthStateHash, sess.OAuthStateExpires = "", time.Time{}
	if err := h.Store.UpdateLinkSession(ctx, sess); err != nil {
		if bridge.IsCode(err, bridge.ECONFLICT) {
			h.errorPage(w, r, http.StatusBadRequest, "This sign-in response was already used or is not valid. Open the link again to retry.")
			return
		}
		h.internalError(w, r, sess, po, err)
		return
	}
	switch {
	case !sess.Usable(h.now()):
		h.conclude(w, r, sess, po, failure(http.StatusGone, codeInvalidToken, bridge.ErrorMessage(errUsedOrExpired(sess))))
		return
	case expired:
		h.conclude(w, r, sess, po, failure(http.StatusBadRequest, codeExpiredState, "The sign-in took longer than 10 minutes. Open the link again to retry."))
		return
	case q.Get("error") != "":
		h.conclude(w, r, sess, po, failure(http.StatusBadRequest, codeAccessDenied, "Access was not granted in Supabase."))
		return
	case q.Get("code") == "" || len(q.Get("code")) > 2048:
		h.conclude(w, r, sess, po, failure(http.StatusBadRequest, codeOAuth, "Supabase sent no authorization code. Open the link again to retry."))
		return
	case !h.oauthAvailable() || !sess.Allows(bridge.AuthOAuth):
		h.errorPage(w, r, http.StatusForbidden, "This way of connecting is not offered for this link.")
		return
	}
	cfg := h.OAuthConfig(h.redirectURL(r))
	xctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, h.ManagementHTTP), validationTimeout)
	defer cancel()
	tok, err := cfg.Exchange(xctx, q.Get("code"), oauth2.VerifierOption(h.derive().verifier(state)))
	if err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		logs.From(ctx).Info("oauth code exchange failed", slog.String("link_session_id", sess.ID), slog.String("reason", exchangeReason(err)))
		h.conclude(w, r, sess, po, failure(http.StatusBadRequest, codeOAuth,
			"Supabase did not accept the sign-in: the authorization was invalid, expired or made for another request. Open the link again to retry."))
		return
	}
	h.complete(w, r, sess, po, h.oauthLinked(ctx, tok))
}

// exchangeReason says why an exchange failed without quoting the token
// endpoint's body verbatim.
func exchangeReason(err error) string {
	var re *oauth2.RetrieveError
	switch {
	case err == nil:
		return "the token response lacked a token"
	case errors.As(err, &re) && re.Response != nil:
		return logs.Scrub("token endpoint answered " + re.Response.Status + ": " + truncate(string(re.Body), 200))
	}
	return logs.Scrub(err.Error())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
