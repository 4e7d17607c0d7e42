package localsupabase

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// codeLifetime bounds how long an authorization code may wait for its
// exchange.
const codeLifetime = 10 * time.Minute

type authCode struct {
	clientID, redirectURI, challenge, method, orgSlug, userID string
	expires                                                   time.Time
}

// grant is one consent of one user to one OAuth client for one
// organization, with its current token pair.
type grant struct {
	clientID, userID, orgSlug string
	access, refresh           string
	accessExpires             time.Time
}

// oauthState is guarded by Stack.mu.
type oauthState struct {
	codes     map[string]*authCode
	byAccess  map[string]*grant
	byRefresh map[string]*grant
}

func newOAuthState() *oauthState {
	return &oauthState{codes: map[string]*authCode{}, byAccess: map[string]*grant{}, byRefresh: map[string]*grant{}}
}

type authorizeRequest struct {
	client      *OAuthClient
	redirectURI string
	state       string
	challenge   string
	method      string
	orgSlug     string
}

// parseAuthorize validates the parameters that must be right before the
// user can be sent back to redirect_uri; errors here are shown, never
// redirected, so a forged request cannot bounce codes anywhere.
func (s *Stack) parseAuthorize(v url.Values) (*authorizeRequest, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clientLocked(v.Get("client_id"))
	if c == nil {
		return nil, "Invalid client_id"
	}
	ru := v.Get("redirect_uri")
	if ru == "" || !slices.Contains(c.RedirectURIs, ru) {
		return nil, "redirect_uri does not match a registered redirect URI"
	}
	if v.Get("response_type") != "code" {
		return nil, "response_type must be code"
	}
	method := v.Get("code_challenge_method")
	challenge := v.Get("code_challenge")
	switch {
	case challenge == "" && method != "":
		return nil, "code_challenge is required with code_challenge_method"
	case challenge != "" && method == "":
		method = "plain"
	case challenge != "" && method != "S256" && method != "sha256" && method != "plain":
		return nil, "code_challenge_method must be S256, sha256 or plain"
	}
	if len(ru)+len(v.Get("state")) > 4096 {
		return nil, "redirect_uri and state together cannot exceed 4kB"
	}
	return &authorizeRequest{client: c, redirectURI: ru, state: v.Get("state"), challenge: challenge, method: method, orgSlug: v.Get("organization_slug")}, ""
}

// userOrgsLocked lists the organizations the stack's user belongs to.
func (s *Stack) userOrgsLocked() []Organization {
	var out []Organization
	for _, o := range s.orgs {
		for _, m := range o.members {
			if m.UserID == s.user.UserID {
				out = append(out, o.Organization)
				break
			}
		}
	}
	return out
}

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Authorize application</title></head>
<body>
<h1>Authorize API access</h1>
<p>An application (client {{.ClientID}}) requests access to one of your organizations.</p>
<form method="post" action="/v1/oauth/authorize">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<label for="organization_slug">Organization</label>
<select id="organization_slug" name="organization_slug">
{{range .Orgs}}<option value="{{.Slug}}"{{if eq .Slug $.Selected}} selected{{end}}>{{.Name}}</option>
{{end}}</select>
<button type="submit" name="decision" value="approve">Authorize</button>
<button type="submit" name="decision" value="deny">Cancel</button>
</form>
</body></html>
`))

func (s *Stack) oauthAuthorize(w http.ResponseWriter, r *http.Request, _ *principal) {
	q := r.URL.Query()
	ar, msg := s.parseAuthorize(q)
	if ar == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": msg})
		return
	}
	if s.cfg.OAuthAutoApprove {
		s.approve(w, r, ar)
		return
	}
	s.mu.Lock()
	orgs := s.userOrgsLocked()
	s.mu.Unlock()
	hidden := map[string]string{}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "state", "code_challenge", "code_challenge_method", "scope"} {
		if v := q.Get(k); v != "" {
			hidden[k] = v
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = consentPage.Execute(w, map[string]any{"ClientID": ar.client.ID, "Hidden": hidden, "Orgs": orgs, "Selected": ar.orgSlug})
}

// oauthConsent receives the consent page's form.
func (s *Stack) oauthConsent(w http.ResponseWriter, r *http.Request, _ *principal) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "invalid form"})
		return
	}
	ar, msg := s.parseAuthorize(r.PostForm)
	if ar == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": msg})
		return
	}
	if r.PostForm.Get("decision") != "approve" {
		redirectWith(w, r, ar.redirectURI, url.Values{"error": {"access_denied"}, "error_description": {"The user denied access"}}, ar.state)
		return
	}
	s.approve(w, r, ar)
}

func (s *Stack) approve(w http.ResponseWriter, r *http.Request, ar *authorizeRequest) {
	code, err := s.issueCode(ar)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	redirectWith(w, r, ar.redirectURI, url.Values{"code": {code}}, ar.state)
}

// issueCode grants ar as the stack's user, for the requested organization
// or the user's first one, and returns the authorization code.
func (s *Stack) issueCode(ar *authorizeRequest) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs := s.userOrgsLocked()
	slug := ar.orgSlug
	if slug == "" && len(orgs) > 0 {
		slug = orgs[0].Slug
	}
	if !slices.ContainsFunc(orgs, func(o Organization) bool { return o.Slug == slug }) {
		return "", errors.New("You are not a member of the organization " + slug)
	}
	code := randomHex(24)
	s.oauth.codes[code] = &authCode{clientID: ar.client.ID, redirectURI: ar.redirectURI, challenge: ar.challenge,
		method: ar.method, orgSlug: slug, userID: s.user.UserID, expires: s.cfg.Now().Add(codeLifetime)}
	return code, nil
}

// Authorize plays the user's part of the OAuth flow without a browser: it
// checks authURL (an authorization URL as a client builds it, for example
// with oauth2.Config.AuthCodeURL) as the authorize endpoint does, approves
// it as the stack's user, as clicking Authorize does, and returns the code
// the redirect would carry.
func (s *Stack) Authorize(authURL string) (string, error) {
	u, err := url.Parse(authURL)
	if err != nil {
		return "", fmt.Errorf("localsupabase: authorization URL: %w", err)
	}
	ar, msg := s.parseAuthorize(u.Query())
	if ar == nil {
		return "", errors.New("localsupabase: " + msg)
	}
	return s.issueCode(ar)
}

func redirectWith(w http.ResponseWriter, r *http.Request, redirectURI string, v url.Values, state string) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "invalid redirect_uri"})
		return
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	if state != "" {
		q.Set("state", state)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// clientFromRequest authenticates the OAuth client from HTTP Basic (as the
// platform's docs show, with x/oauth2's URL-encoding) or, failing that,
// from the body fields.
func (s *Stack) clientFromRequest(r *http.Request, bodyID, bodySecret string) *OAuthClient {
	id, secret := bodyID, bodySecret
	if u, p, ok := r.BasicAuth(); ok {
		id, secret = u, p
		if d, err := url.QueryUnescape(u); err == nil {
			id = d
		}
		if d, err := url.QueryUnescape(p); err == nil {
			secret = d
		}
	}
	if id == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clientLocked(id)
	if c == nil || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return nil
	}
	return c
}

func (s *Stack) oauthToken(w http.ResponseWriter, r *http.Request, _ *principal) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Content-Type must be application/x-www-form-urlencoded"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "invalid form body"})
		return
	}
	f := r.PostForm
	allowed := []string{"grant_type", "client_id", "client_secret", "code", "code_verifier", "redirect_uri", "refresh_token", "resource", "scope"}
	for k := range f {
		if !slices.Contains(allowed, k) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "property " + k + " should not exist"})
			return
		}
	}
	client := s.clientFromRequest(r, f.Get("client_id"), f.Get("client_secret"))
	if client == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Invalid client credentials"})
		return
	}
	switch f.Get("grant_type") {
	case "authorization_code":
		s.exchangeCode(w, client, f)
	case "refresh_token":
		s.refreshGrant(w, client, f.Get("refresh_token"))
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "grant_type must be one of the following values: authorization_code, refresh_token"})
	}
}

func (s *Stack) exchangeCode(w http.ResponseWriter, client *OAuthClient, f url.Values) {
	s.mu.Lock()
	defer s.mu.Unlock()
	code := f.Get("code")
	c := s.oauth.codes[code]
	// Single use: the code is gone after the first attempt, right or wrong.
	delete(s.oauth.codes, code)
	switch {
	case c == nil || s.cfg.Now().After(c.expires) || c.clientID != client.ID:
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Invalid authorization code"})
		return
	case f.Get("redirect_uri") != c.redirectURI:
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "redirect_uri does not match the authorization request"})
		return
	case c.challenge != "" && !pkceMatches(c.challenge, c.method, f.Get("code_verifier")):
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Invalid code verifier"})
		return
	}
	g := &grant{clientID: client.ID, userID: c.userID, orgSlug: c.orgSlug}
	s.issueLocked(w, g)
}

func pkceMatches(challenge, method, verifier string) bool {
	if verifier == "" {
		return false
	}
	want := verifier
	if method != "plain" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// refreshGrant rotates both tokens: the old access token stops working at
// once and the old refresh token is forgotten, so a second use (or a
// concurrent refresh) finds nothing.
func (s *Stack) refreshGrant(w http.ResponseWriter, client *OAuthClient, refresh string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.oauth.byRefresh[refresh]
	if g == nil || g.clientID != client.ID {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "No such refresh token found"})
		return
	}
	delete(s.oauth.byRefresh, g.refresh)
	delete(s.oauth.byAccess, g.access)
	s.issueLocked(w, g)
}

func (s *Stack) issueLocked(w http.ResponseWriter, g *grant) {
	g.access = "sbp_oauth_" + randomHex(20)
	g.refresh = randomHex(20)
	g.accessExpires = s.cfg.Now().Add(s.cfg.AccessTokenLifetime)
	s.oauth.byAccess[g.access] = g
	s.oauth.byRefresh[g.refresh] = g
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]any{
		"access_token":  g.access,
		"refresh_token": g.refresh,
		"expires_in":    int64(s.cfg.AccessTokenLifetime / time.Second),
		"token_type":    "Bearer",
	})
}

func (s *Stack) oauthRevoke(w http.ResponseWriter, r *http.Request, _ *principal) {
	var body struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		RefreshToken string `json:"refresh_token"`
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		err = dec.Decode(&body)
	}
	if err != nil || body.ClientID == "" || body.ClientSecret == "" || body.RefreshToken == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "client_id, client_secret and refresh_token are required"})
		return
	}
	client := s.clientFromRequest(&http.Request{Header: http.Header{}}, body.ClientID, body.ClientSecret)
	if client == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Invalid client credentials"})
		return
	}
	s.mu.Lock()
	if g := s.oauth.byRefresh[body.RefreshToken]; g != nil && g.clientID == client.ID {
		delete(s.oauth.byRefresh, g.refresh)
		delete(s.oauth.byAccess, g.access)
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
