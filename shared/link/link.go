// Package link lets end customers link their Supabase accounts to an
// operator's environment: link tokens (POST /link-tokens), the hosted
// connect page (/connect) with its three ways in (Sign in with Supabase
// through OAuth 2.1 with PKCE, a project URL and API key, a personal access
// token), the sdk.js popup helper, and the account lifecycle that follows
// a link (created or reconnected in place, validated, active).
//
// Credentials are validated against Supabase before anything is stored,
// and then handed to the credentials manager; they never appear in a
// response, a log line, an event or an error string.
package link

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/store"
)

// Lifetimes of the link flow's one-time values.
const (
	// TokenLifetime is how long a link token can be used.
	TokenLifetime = 30 * time.Minute
	// StateLifetime is how long an OAuth round trip may take.
	StateLifetime = 10 * time.Minute
)

// Store is what the link flow needs of the state store.
type Store interface {
	CreateLinkSession(ctx context.Context, l *bridge.LinkSession) error
	GetLinkSession(ctx context.Context, id string) (*bridge.LinkSession, error)
	UpdateLinkSession(ctx context.Context, l *bridge.LinkSession) error
	GetAccount(ctx context.Context, env, id string) (*bridge.Account, error)
	CreateAccount(ctx context.Context, a *bridge.Account) error
	UpdateAccount(ctx context.Context, a *bridge.Account) error
	GetEnvironmentSettings(ctx context.Context, env string) (*store.EnvironmentSettings, error)
}

var _ Store = (*store.Store)(nil)

// Credentials stores a linked account's credential; credentials.Manager
// implements it. Save must put the credential where later calls find it
// before returning, and may set the account's refresh bookkeeping.
type Credentials interface {
	Save(ctx context.Context, acct *bridge.Account, cred bridge.Credential) error
}

// Events records account events; events.Recorder implements it.
type Events interface {
	Record(ctx context.Context, e *bridge.Event) error
}

// Handler serves the link routes. Set the fields before Register; it is
// safe for concurrent use afterwards.
type Handler struct {
	Store       Store
	Auth        *httpapi.Authenticator
	Credentials Credentials
	Events      Events
	// NewEvent builds an account event (events.AccountEvent).
	NewEvent func(eventType string, a *bridge.Account) *bridge.Event
	// SigningKey derives PKCE verifiers and CSRF tokens (at least 32
	// bytes).
	SigningKey []byte
	// OAuthConfig returns the OAuth client's configuration for a callback
	// URL (credentials.Manager.OAuthConfig); nil when no OAuth client is
	// configured, which removes "Sign in with Supabase".
	OAuthConfig func(redirectURL string) *oauth2.Config
	// OAuthRedirectURL is the registered callback; empty derives it from
	// PublicURL or the request.
	OAuthRedirectURL string
	// ManagementURL is the Management API's base URL.
	ManagementURL string
	// ManagementHTTP sends Management API and token requests.
	ManagementHTTP *http.Client
	// Upstreams guards project URLs.
	Upstreams *Upstreams
	// PublicURL is where end customers reach Supabridge; empty derives it
	// from each request.
	PublicURL string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

func (h *Handler) derive() deriver { return deriver{key: h.SigningKey} }

// New returns a Handler wired to a's store, configuration and signing key,
// saving credentials with creds and recording events with rec.
func New(a *app.App, creds Credentials, rec Events, newEvent func(string, *bridge.Account) *bridge.Event, oauthConfig func(string) *oauth2.Config) *Handler {
	h := &Handler{
		Store: a.Store, Auth: a.Auth, Credentials: creds, Events: rec, NewEvent: newEvent,
		SigningKey: a.SigningKey, OAuthRedirectURL: a.Config.OAuthRedirectURL,
		ManagementURL: a.Config.ManagementAPIURL, ManagementHTTP: a.HTTP,
		Upstreams: &Upstreams{AllowPrivate: a.Config.AllowPrivateUpstreams},
		PublicURL: a.Config.PublicURL,
	}
	if a.Config.OAuthClientID != "" && !a.Config.OAuthClientSecret.IsZero() {
		h.OAuthConfig = oauthConfig
	}
	return h
}

// Register adds the link routes to rt.
func (h *Handler) Register(rt *httpapi.Router) {
	rt.Handle("POST /link-tokens", h.Auth.Require(http.HandlerFunc(h.createToken)))
	rt.HandleFunc("GET /connect", h.page)
	rt.HandleFunc("POST /connect/api-key", h.submitAPIKey)
	rt.HandleFunc("POST /connect/access-token", h.submitAccessToken)
	rt.HandleFunc("POST /connect/oauth", h.startOAuth)
	rt.HandleFunc("GET /connect/oauth/callback", h.oauthCallback)
	rt.HandleFunc("GET /connect/sdk.js", serveAsset("sdk.js", "text/javascript; charset=utf-8"))
	rt.HandleFunc("GET /connect/connect.css", serveAsset("connect.css", "text/css; charset=utf-8"))
}

// baseURL is where the end customer reaches Supabridge: PublicURL, or the
// request's scheme and host (API Gateway and the Lambda adapter pass the
// original scheme in X-Forwarded-Proto).
func (h *Handler) baseURL(r *http.Request) string {
	if h.PublicURL != "" {
		return strings.TrimRight(h.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

// basePath is the path prefix of the routes under baseURL.
func (h *Handler) basePath() string {
	if h.PublicURL == "" {
		return ""
	}
	u, err := url.Parse(h.PublicURL)
	if err != nil {
		return ""
	}
	return strings.TrimRight(u.Path, "/")
}

func (h *Handler) redirectURL(r *http.Request) string {
	if h.OAuthRedirectURL != "" {
		return h.OAuthRedirectURL
	}
	return h.baseURL(r) + "/connect/oauth/callback"
}

// allowlist returns env's redirect allowlist.
func (h *Handler) allowlist(ctx context.Context, env string) (Allowlist, error) {
	a := Allowlist{Loopback: env == LocalEnvironment}
	s, err := h.Store.GetEnvironmentSettings(ctx, env)
	switch {
	case err == nil:
		a.Entries = s.RedirectURIs
	case !bridge.IsCode(err, bridge.ENOTFOUND):
		return a, err
	}
	return a, nil
}

// oauthAvailable reports whether "Sign in with Supabase" can be offered.
func (h *Handler) oauthAvailable() bool { return h.OAuthConfig != nil }
