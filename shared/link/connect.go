package link

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/logs"
)

// maxForm bounds the connect forms' bodies.
const maxForm = 32 << 10

// Error codes a link ends with, in redirects (error=) and in the SDK's
// rejections (err.reason).
const (
	codeInvalidToken = "invalid_token"
	codeAccessDenied = "access_denied"
	codeValidation   = "validation_error"
	codeServer       = "server_error"
)

// outcome is how a link ended.
type outcome struct {
	accountID   string
	code        string
	description string
	status      int
}

func failure(status int, code, description string) outcome {
	return outcome{status: status, code: code, description: description}
}

// conclude sends the end customer on with a link's outcome: to the popup's
// opener, to redirect_uri, or to a result page.
func (h *Handler) conclude(w http.ResponseWriter, r *http.Request, sess *bridge.LinkSession, popupOrigin string, o outcome) {
	ok := o.code == ""
	data := resultData{Title: "Supabase account connected", Base: h.basePath(), Success: ok, AccountID: o.accountID,
		ErrorCode: o.code, ErrorDescription: o.description, PopupOrigin: popupOrigin}
	if ok {
		data.Heading = "Your Supabase account is connected"
		data.Message = "You can close this window."
	} else {
		data.Title, data.Heading, data.Message = "Supabase account not connected", "Your Supabase account was not connected", o.description
	}
	status := http.StatusOK
	if !ok {
		status = o.status
	}
	var target string
	if sess != nil && sess.RedirectURI != "" {
		target = withParams(sess.RedirectURI, o)
	}
	switch {
	case popupOrigin != "":
		h.render(w, r, status, "result", data)
	case target != "":
		http.Redirect(w, r, target, http.StatusSeeOther)
	default:
		h.render(w, r, status, "result", data)
	}
}

// withParams appends the outcome to a redirect URI, keeping its query.
func withParams(redirectURI string, o outcome) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return ""
	}
	q := u.Query()
	// A validation_error still names the account it stored, so the app
	// can offer to reconnect it.
	if o.accountID != "" {
		q.Set("integrated_account_id", o.accountID)
	}
	if o.code != "" {
		q.Set("error", o.code)
		q.Set("error_description", o.description)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// errorPage shows a failure that cannot be sent anywhere: the session is
// unknown, or the request cannot be trusted to say where to.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "result", resultData{
		Title: "Supabase account not connected", Base: h.basePath(),
		Heading: "Your Supabase account was not connected", Message: msg,
	})
}

// internalError logs err (scrubbed) and shows a generic failure.
func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, sess *bridge.LinkSession, popupOrigin string, err error) {
	logs.From(r.Context()).Error("link failed", slog.String("error", logs.Scrub(err.Error())))
	h.conclude(w, r, sess, popupOrigin, failure(http.StatusInternalServerError, codeServer, "Something went wrong on our side. Try again with a new link."))
}

// sessionFailure answers a link token that did not open a session.
func (h *Handler) sessionFailure(w http.ResponseWriter, r *http.Request, sess *bridge.LinkSession, popupOrigin string, err error) {
	switch bridge.ErrorCode(err) {
	case bridge.ENOTFOUND:
		h.errorPage(w, r, http.StatusNotFound, "This link is not valid. Ask the application for a new link.")
	case bridge.EGONE:
		h.conclude(w, r, sess, popupOrigin, failure(http.StatusGone, codeInvalidToken, bridge.ErrorMessage(err)))
	default:
		h.internalError(w, r, sess, popupOrigin, err)
	}
}

// popupOrigin returns the opener origin a request asks to report to, if
// the environment allows it; "" when the request is not a popup's.
func (h *Handler) popupOrigin(ctx context.Context, sess *bridge.LinkSession, origin string) (string, error) {
	if origin == "" {
		return "", nil
	}
	al, err := h.allowlist(ctx, sess.Environment)
	if err != nil {
		return "", err
	}
	if !al.AllowsOrigin(origin) {
		return "", bridge.Errorf(bridge.EFORBIDDEN, "This page was opened by a site that is not allowed to link accounts in this environment.")
	}
	return origin, nil
}

func (h *Handler) connectPage(sess *bridge.LinkSession, tok, popupOrigin string) *pageData {
	return &pageData{
		Title: "Connect your Supabase account", Base: h.basePath(),
		Token: tok, CSRF: h.derive().csrf(sess.ID, sess.TokenHash), PopupOrigin: popupOrigin,
		Reconnect:   sess.AccountID != "",
		OAuth:       sess.Allows(bridge.AuthOAuth) && h.oauthAvailable(),
		APIKey:      sess.Allows(bridge.AuthAPIKey),
		AccessToken: sess.Allows(bridge.AuthAccessToken),
	}
}

// supabaseDashboard is where api.supabase.com's authorize endpoint sends
// the browser for consent.
const supabaseDashboard = "https://supabase.com"

// formTargets are where the connect page's forms may lead, redirects
// included (Chromium checks form-action on every hop of a form's redirect
// chain): the OAuth authorize endpoint, the consent page it redirects to,
// and the session's redirect URI.
func (h *Handler) formTargets(sess *bridge.LinkSession) []string {
	t := []string{originOf(h.ManagementURL)}
	if t[0] == "https://api.supabase.com" {
		t = append(t, supabaseDashboard)
	}
	if sess != nil && sess.RedirectURI != "" {
		t = append(t, originOf(sess.RedirectURI))
	}
	return t
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tok := q.Get("link_token")
	origin := ""
	if q.Get("mode") == "popup" {
		origin = q.Get("origin")
	}
	sess, err := h.openSession(r.Context(), tok)
	if err != nil {
		po := ""
		if sess != nil {
			po, _ = h.popupOrigin(r.Context(), sess, origin)
		}
		h.sessionFailure(w, r, sess, po, err)
		return
	}
	po, err := h.popupOrigin(r.Context(), sess, origin)
	if err != nil {
		h.errorPage(w, r, http.StatusForbidden, bridge.ErrorMessage(err))
		return
	}
	h.render(w, r, http.StatusOK, "connect", h.connectPage(sess, tok, po), h.formTargets(sess)...)
}

// formSession opens the session a connect form was posted for and checks
// its anti-forgery token and popup origin. It has answered the request
// when ok is false.
func (h *Handler) formSession(w http.ResponseWriter, r *http.Request, method bridge.AuthMethod) (sess *bridge.LinkSession, tok, popupOrigin string, ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.errorPage(w, r, http.StatusBadRequest, "The form could not be read. Go back and try again.")
		return nil, "", "", false
	}
	tok = r.PostForm.Get("link_token")
	sess, err := h.openSession(r.Context(), tok)
	// The popup origin is checked even for a used or expired link, whose
	// failure is then reported to it.
	if origin := r.PostForm.Get("origin"); sess != nil && origin != "" {
		var perr error
		if popupOrigin, perr = h.popupOrigin(r.Context(), sess, origin); perr != nil {
			h.errorPage(w, r, http.StatusForbidden, bridge.ErrorMessage(perr))
			return nil, "", "", false
		}
	}
	if err != nil {
		h.sessionFailure(w, r, sess, popupOrigin, err)
		return nil, "", "", false
	}
	if !h.derive().checkCSRF(sess.ID, sess.TokenHash, r.PostForm.Get("csrf_token")) {
		h.errorPage(w, r, http.StatusForbidden, "The form could not be verified. Open the link again and retry.")
		return nil, "", "", false
	}
	if !sess.Allows(method) || (method == bridge.AuthOAuth && !h.oauthAvailable()) {
		h.errorPage(w, r, http.StatusForbidden, "This way of connecting is not offered for this link.")
		return nil, "", "", false
	}
	return sess, tok, popupOrigin, true
}

func (h *Handler) submitAPIKey(w http.ResponseWriter, r *http.Request) {
	sess, tok, po, ok := h.formSession(w, r, bridge.AuthAPIKey)
	if !ok {
		return
	}
	rawURL := r.PostForm.Get("project_url")
	l, err := h.validateAPIKey(r.Context(), rawURL, r.PostForm.Get("api_key"))
	if err != nil {
		d := h.connectPage(sess, tok, po)
		if errField(err, "api_key") == "api_key" {
			if u, perr := h.Upstreams.CheckURL(r.Context(), rawURL); perr == nil {
				d.ProjectURL = u.String()
			}
		}
		h.formError(w, r, sess, d, err, "api_key")
		return
	}
	h.complete(w, r, sess, po, l)
}

func (h *Handler) submitAccessToken(w http.ResponseWriter, r *http.Request) {
	sess, tok, po, ok := h.formSession(w, r, bridge.AuthAccessToken)
	if !ok {
		return
	}
	l, err := h.validateAccessToken(r.Context(), r.PostForm.Get("access_token"))
	if err != nil {
		h.formError(w, r, sess, h.connectPage(sess, tok, po), err, "access_token")
		return
	}
	h.complete(w, r, sess, po, l)
}

// formError shows the connect page again with a validation error next to
// its field. Anything other than a validation error is internal.
func (h *Handler) formError(w http.ResponseWriter, r *http.Request, sess *bridge.LinkSession, d *pageData, err error, field string) {
	if !bridge.IsCode(err, bridge.EVALIDATION) {
		h.internalError(w, r, sess, d.PopupOrigin, err)
		return
	}
	logs.From(r.Context()).Info("link validation failed", slog.String("link_session_id", sess.ID), slog.String("field", errField(err, field)))
	d.addError(errField(err, field), bridge.ErrorMessage(err))
	h.render(w, r, http.StatusUnprocessableEntity, "connect", d, h.formTargets(sess)...)
}

// complete stores a validated link and concludes it.
func (h *Handler) complete(w http.ResponseWriter, r *http.Request, sess *bridge.LinkSession, popupOrigin string, l linked) {
	a, err := h.finish(r.Context(), sess, l)
	switch {
	case bridge.IsCode(err, bridge.EGONE):
		h.conclude(w, r, sess, popupOrigin, failure(http.StatusGone, codeInvalidToken, bridge.ErrorMessage(err)))
		return
	case bridge.IsCode(err, bridge.ENOTFOUND):
		h.conclude(w, r, sess, popupOrigin, failure(http.StatusNotFound, codeInvalidToken, "The account to reconnect no longer exists."))
		return
	case err != nil:
		h.internalError(w, r, sess, popupOrigin, err)
		return
	}
	logs.From(r.Context()).Info("account linked", slog.String("account_id", a.ID), slog.String("environment", a.Environment),
		slog.String("method", string(a.AuthMethod)), slog.String("status", string(a.Status)), slog.Bool("reconnect", sess.AccountID != ""))
	if a.Status != bridge.StatusActive {
		h.conclude(w, r, sess, popupOrigin, outcome{accountID: a.ID, code: codeValidation, description: a.LastError, status: http.StatusUnprocessableEntity})
		return
	}
	h.conclude(w, r, sess, popupOrigin, outcome{accountID: a.ID})
}
