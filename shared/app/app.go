package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/cursor"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/logs"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// SigningKeyRef is where the signing key (cursors, link and OAuth state)
// lives in the vault. "_system" cannot name an operator environment.
var SigningKeyRef = vault.Ref{Environment: "_system", Kind: "system", ID: "signing-key"}

// OAuthClientSecretRef is where the OAuth app's client secret lives in the
// vault when the environment does not carry it (the stack stores it there).
var OAuthClientSecretRef = vault.Ref{Environment: "_system", Kind: "system", ID: "oauth-client-secret"}

// App holds what every function builds once per process. Its fields are
// safe for concurrent use.
type App struct {
	Config  Config
	Logger  *slog.Logger
	Store   *store.Store
	Vault   *vault.Cache
	Cursors *cursor.Signer
	Auth    *httpapi.Authenticator
	// SigningKey is the raw signing key, for features that derive their own
	// keys from it (for example OAuth state and PKCE verifiers).
	SigningKey []byte
	// HTTP is the client for calls to Supabase and to webhooks: bounded
	// timeouts, no redirects followed.
	HTTP *http.Client
	// ProjectURL returns a project's API URL from its ref (by default from
	// Config.ProjectURLTemplate). The local sandbox replaces it with the
	// stand-in's own lookup before mounting features.
	ProjectURL func(ref string) string

	closers []io.Closer
}

// Backends opens a state store backend and a vault for cfg, with what must
// be closed afterwards.
type Backends func(ctx context.Context, cfg Config) (store.Backend, vault.Vault, []io.Closer, error)

// Option adjusts Open.
type Option func(*options)

type options struct{ embedded Backends }

// WithEmbedded links the embedded backend (package app/embedded provides
// it). Deployed functions leave it out, so their binaries carry no SQLite.
func WithEmbedded(b Backends) Option { return func(o *options) { o.embedded = b } }

// Open builds the App for cfg. Logs go to stderr as JSON.
func Open(ctx context.Context, cfg Config, opts ...Option) (*App, error) {
	return OpenWithLogger(ctx, cfg, logs.New(os.Stderr, cfg.LogLevel).With(slog.String("function", cfg.Function)), opts...)
}

// OpenWithLogger is Open with a given logger.
func OpenWithLogger(ctx context.Context, cfg Config, logger *slog.Logger, opts ...Option) (*App, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	a := &App{Config: cfg, Logger: logger, HTTP: NewHTTPClient()}
	a.ProjectURL = func(ref string) string { return strings.ReplaceAll(cfg.ProjectURLTemplate, "{ref}", ref) }
	open := openAWS
	if cfg.Backend == BackendEmbedded {
		if o.embedded == nil {
			return nil, fmt.Errorf("the embedded backend is not linked into %s: open it with embedded.Open (package app/embedded) or set SUPABRIDGE_BACKEND=aws", cfg.Function)
		}
		open = o.embedded
	}
	b, v, closers, err := open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.closers = closers
	a.Store = store.New(b)
	a.Vault = vault.NewCache(v, vault.CacheConfig{TTL: cfg.CacheTTL})
	key, err := signingKey(ctx, cfg, v)
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	a.SigningKey = key
	a.Cursors = cursor.New(key)
	a.Auth = &httpapi.Authenticator{Keys: a.Store, TTL: cfg.CacheTTL}
	if a.Config.OAuthClientSecret.IsZero() && a.Config.OAuthClientID != "" {
		secret, err := v.Get(ctx, OAuthClientSecretRef)
		switch {
		case err == nil:
			a.Config.OAuthClientSecret = bridge.Secret(secret)
		case !errors.Is(err, vault.ErrNotFound):
			_ = a.Close()
			return nil, fmt.Errorf("read the OAuth client secret: %w", err)
		}
	}
	return a, nil
}

// Serve wraps h with the operator API conventions (request IDs, logs, body
// limits, panic recovery).
func (a *App) Serve(h http.Handler) http.Handler {
	return httpapi.Serve(h, httpapi.Options{Logger: a.Logger})
}

// NewHTTPClient returns the client for outbound calls: connection, TLS and
// header timeouts, pooled connections, and redirects returned rather than
// followed (a redirect from an upstream is never trusted with credentials).
// Callers bound whole requests with their context.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	t.ExpectContinueTimeout = time.Second
	return &http.Client{
		Transport: t,
		Timeout:   5 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Close releases the backends.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i].Close())
	}
	return errors.Join(errs...)
}

// signingKey reads the signing key from the vault. On AWS the stack creates
// it; the embedded backend creates it on first start (one process owns the
// file then).
func signingKey(ctx context.Context, cfg Config, v vault.Vault) ([]byte, error) {
	key, err := v.Get(ctx, SigningKeyRef)
	if errors.Is(err, vault.ErrNotFound) && cfg.Backend == BackendEmbedded {
		raw := make([]byte, 48)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		key = []byte(base64.RawURLEncoding.EncodeToString(raw))
		if err := v.Put(ctx, SigningKeyRef, key); err != nil {
			return nil, fmt.Errorf("store the signing key: %w", err)
		}
		return key, nil
	}
	if errors.Is(err, vault.ErrNotFound) {
		return nil, fmt.Errorf("the signing key secret %s%s does not exist; deploy the stack's SigningKey resource", cfg.SecretPrefix, SigningKeyRef.Name())
	}
	if err != nil {
		return nil, fmt.Errorf("read the signing key: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("the signing key is shorter than 32 bytes")
	}
	return key, nil
}

// Main builds the App of a deployed function from the process environment
// (the AWS backend), or prints the error and exits: a cold start that cannot
// configure itself should fail at once and visibly, not on its first
// request.
func Main(function string) *App {
	cfg, err := ConfigFromEnv(function, os.Getenv)
	if err == nil {
		var a *App
		if a, err = Open(context.Background(), cfg); err == nil {
			return a
		}
	}
	fmt.Fprintf(os.Stderr, "%s: start: %v\n", function, err)
	os.Exit(1)
	return nil
}
