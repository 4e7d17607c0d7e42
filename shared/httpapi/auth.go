package httpapi

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
)

// KeyStore finds API keys by hash; *store.Store implements it.
type KeyStore interface {
	APIKeyByHash(ctx context.Context, hash string) (*bridge.APIKey, error)
}

// Principal is the authenticated caller: an API key of one environment.
type Principal struct {
	Environment string
	KeyID       string
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal set by Authenticator.Require.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Environment returns the authenticated caller's environment ("" when the
// request was not authenticated).
func Environment(r *http.Request) string {
	p, _ := PrincipalFrom(r.Context())
	return p.Environment
}

// Authenticator checks operator API keys. It keeps recent lookups in memory
// (valid keys for TTL, unknown keys briefly) so a warm function answers
// without a store read; a deleted key therefore stops working within TTL.
// The zero value is not usable: set Keys. Safe for concurrent use.
type Authenticator struct {
	Keys KeyStore
	// TTL is how long a valid key is trusted without a store read (default
	// 60 s).
	TTL time.Duration
	// NegativeTTL is how long an unknown key is rejected without a store
	// read (default 5 s).
	NegativeTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]authEntry
}

type authEntry struct {
	key     *bridge.APIKey // nil: unknown key
	expires time.Time
}

const maxAuthCache = 4096

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Authenticate returns the principal for an API key value, or EUNAUTHORIZED.
func (a *Authenticator) Authenticate(ctx context.Context, key string) (Principal, error) {
	key = strings.TrimSpace(key)
	if !strings.HasPrefix(key, bridge.APIKeyPrefix) || len(key) > 256 {
		return Principal{}, bridge.Errorf(bridge.EUNAUTHORIZED, "The API key is invalid.")
	}
	hash := bridge.HashAPIKey(key)
	now := a.now()
	a.mu.Lock()
	e, ok := a.cache[hash]
	a.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		k, err := a.Keys.APIKeyByHash(ctx, hash)
		switch {
		case bridge.IsCode(err, bridge.ENOTFOUND):
			e = authEntry{expires: now.Add(a.negativeTTL())}
		case err != nil:
			return Principal{}, err
		default:
			e = authEntry{key: k, expires: now.Add(a.ttl())}
		}
		a.mu.Lock()
		if a.cache == nil || len(a.cache) >= maxAuthCache {
			a.cache = make(map[string]authEntry)
		}
		a.cache[hash] = e
		a.mu.Unlock()
	}
	if e.key == nil {
		return Principal{}, bridge.Errorf(bridge.EUNAUTHORIZED, "The API key is invalid.")
	}
	return Principal{Environment: e.key.Environment, KeyID: e.key.ID}, nil
}

func (a *Authenticator) ttl() time.Duration {
	if a.TTL > 0 {
		return a.TTL
	}
	return time.Minute
}

func (a *Authenticator) negativeTTL() time.Duration {
	if a.NegativeTTL > 0 {
		return a.NegativeTTL
	}
	return 5 * time.Second
}

// BearerToken returns the credential of an "Authorization: Bearer …" header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}

// Require authenticates the request's Bearer API key and puts the
// principal in its context, or answers 401 with WWW-Authenticate.
func (a *Authenticator) Require(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := BearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="supabridge"`)
			Error(w, r, bridge.Errorf(bridge.EUNAUTHORIZED, "Send an API key as Authorization: Bearer <key>."))
			return
		}
		p, err := a.Authenticate(r.Context(), key)
		if err != nil {
			if bridge.IsCode(err, bridge.EUNAUTHORIZED) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="supabridge", error="invalid_token"`)
			}
			Error(w, r, err)
			return
		}
		h.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}
