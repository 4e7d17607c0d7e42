// Package credentials keeps integrated accounts' credentials usable: it
// stores them in the vault, hands them to callers (from memory on a warm
// function), and refreshes OAuth grants before they expire, once per
// account however many goroutines and processes ask at the same time.
//
// Supabase's refresh tokens are single use and rotate both tokens, so two
// concurrent refreshes of one grant invalidate each other. A refresh
// therefore runs under the store's lease "refresh:<account id>": the holder
// re-reads the credential from the vault, skips the refresh if another
// holder already rotated it (Credential.Generation), calls the token
// endpoint, and writes the new pair to the vault before releasing the lease
// or handing the tokens to anyone. Callers that lose the lease wait for the
// holder and then read what it wrote. Within one process a singleflight
// group keeps all but one goroutine off the store.
//
// A refresh token the endpoint rejects (400 invalid_grant, 401, 404) moves
// the account to needs_reauth and records exactly one
// integrated_account:authentication_error event; a transient failure (429,
// 5xx, a timeout) only pushes the account's next refresh back.
package credentials

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// Refresh timing.
const (
	// RefreshMargin: the scheduled refresh renews a token with less than
	// this left (or half its lifetime, if that is shorter).
	RefreshMargin = 15 * time.Minute
	// InlineMargin: a caller asking for a credential gets a token with at
	// least this left, refreshing first if needed.
	InlineMargin = time.Minute
	// MaxIdle: an OAuth grant is refreshed at least this often, even when
	// unused, so the platform never sees it idle.
	MaxIdle = 24 * time.Hour
	// MaxRefreshBackoff caps the wait after consecutive transient failures.
	MaxRefreshBackoff = 15 * time.Minute
)

// Store is what the manager needs of the state store.
type Store interface {
	GetAccount(ctx context.Context, env, id string) (*bridge.Account, error)
	UpdateAccount(ctx context.Context, a *bridge.Account) error
	AccountsDueForRefresh(ctx context.Context, dueBefore time.Time, after string, limit int) ([]*bridge.Account, error)
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (*bridge.Lease, error)
	RenewLease(ctx context.Context, l *bridge.Lease, ttl time.Duration) (*bridge.Lease, error)
	ReleaseLease(ctx context.Context, l *bridge.Lease) error
}

var _ Store = (*store.Store)(nil)

// Vault is what the manager needs of the credential vault: a
// vault.Cache, whose GetFresh bypasses memory after taking the lease.
type Vault interface {
	vault.Vault
	GetFresh(ctx context.Context, ref vault.Ref) ([]byte, error)
	Forget(ref vault.Ref)
}

var _ Vault = (*vault.Cache)(nil)

// Recorder records events; *events.Recorder implements it.
type Recorder interface {
	Record(ctx context.Context, e *bridge.Event) error
}

// Manager stores, serves and refreshes credentials. New builds one from an
// App; a Manager built by hand needs at least Store and Vault (and, for
// OAuth, HTTP, ManagementURL and the client's ID and secret). Set or
// change its fields only before first use; afterwards it is safe for
// concurrent use.
// Its methods return *bridge.Error values: ENEEDSREAUTH when the account
// must be reconnected, EUNAVAILABLE when the token endpoint or a lease
// holder did not answer in time, ENOTFOUND for an account without a stored
// credential; other errors are the store's or the vault's.
type Manager struct {
	Store  Store
	Vault  Vault
	Events Recorder // nil: no events are recorded
	// HTTP sends token and revocation requests (bounded timeouts, no
	// redirects followed).
	HTTP *http.Client
	// ManagementURL is the Management API base URL (the token endpoint is
	// ManagementURL/v1/oauth/token).
	ManagementURL string
	ClientID      string
	ClientSecret  bridge.Secret
	// Now is the clock (nil: time.Now).
	Now    func() time.Time
	Logger *slog.Logger

	// WarmTTL (30 s) bounds how long a credential is served from memory
	// without reading the vault; LeaseTTL (15 s) is the refresh lease's
	// lifetime, renewed while a refresh runs; WaitTimeout (30 s) bounds
	// waiting for another holder when the caller's context has no
	// deadline; TokenTimeout (15 s) bounds one token request. Zero means
	// the default.
	WarmTTL      time.Duration
	LeaseTTL     time.Duration
	WaitTimeout  time.Duration
	TokenTimeout time.Duration
	// Concurrency bounds the refreshes a scheduled run makes at once (4).
	Concurrency int

	flights      singleflight.Group
	httpOnce     sync.Once
	fallbackHTTP *http.Client
	mu           sync.Mutex
	warm         map[string]warmEntry
	ownerOnce    sync.Once
	owner        string
}

type warmEntry struct {
	cred    bridge.Credential
	expires time.Time
}

const maxWarm = 4096

// New returns the process's Manager for a, recording events with rec.
func New(a *app.App, rec *events.Recorder) *Manager {
	m := &Manager{
		Store:         a.Store,
		Vault:         a.Vault,
		HTTP:          a.HTTP,
		ManagementURL: strings.TrimRight(a.Config.ManagementAPIURL, "/"),
		ClientID:      a.Config.OAuthClientID,
		ClientSecret:  a.Config.OAuthClientSecret,
		Logger:        a.Logger,
	}
	if rec != nil {
		m.Events = rec
	}
	if m.HTTP == nil {
		m.HTTP = app.NewHTTPClient()
	}
	if ttl := a.Config.CacheTTL; ttl > 0 && ttl < 30*time.Second {
		m.WarmTTL = ttl
	}
	return m
}

// OAuthConfig returns the OAuth client's configuration, with HTTP Basic
// client authentication as Supabase documents it; the link flow uses it
// for the code exchange and the manager for refreshes. Its Exchange and
// TokenSource need the manager's client in their context
// (context.WithValue(ctx, oauth2.HTTPClient, m.HTTP)).
func (m *Manager) OAuthConfig(redirectURL string) *oauth2.Config {
	base := m.baseURL()
	return &oauth2.Config{
		ClientID:     m.ClientID,
		ClientSecret: m.ClientSecret.Reveal(),
		Endpoint: oauth2.Endpoint{
			AuthURL:   base + "/v1/oauth/authorize",
			TokenURL:  base + "/v1/oauth/token",
			AuthStyle: oauth2.AuthStyleInHeader,
		},
		RedirectURL: redirectURL,
	}
}

// httpClient is HTTP, or for a hand-built Manager without one, a client
// with the app's bounded timeouts.
func (m *Manager) httpClient() *http.Client {
	if m.HTTP != nil {
		return m.HTTP
	}
	m.httpOnce.Do(func() { m.fallbackHTTP = app.NewHTTPClient() })
	return m.fallbackHTTP
}

func (m *Manager) baseURL() string {
	if base := strings.TrimRight(m.ManagementURL, "/"); base != "" {
		return base
	}
	return "https://api.supabase.com"
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *Manager) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func orDefault(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// Ref is where acct's credential lives in the vault.
func Ref(acct *bridge.Account) vault.Ref {
	return vault.Ref{Environment: acct.Environment, Kind: vault.KindAccount, ID: acct.ID}
}

func warmKey(acct *bridge.Account) string { return acct.Environment + "/" + acct.ID }

func (m *Manager) remember(acct *bridge.Account, c bridge.Credential) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.warm == nil || len(m.warm) >= maxWarm {
		m.warm = make(map[string]warmEntry)
	}
	k := warmKey(acct)
	// Never replace a newer generation with an older one read by a slower
	// goroutine.
	if cur, ok := m.warm[k]; ok && cur.cred.Generation > c.Generation {
		return
	}
	m.warm[k] = warmEntry{cred: c, expires: m.now().Add(orDefault(m.WarmTTL, 30*time.Second))}
}

func (m *Manager) warmGet(acct *bridge.Account) (bridge.Credential, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.warm[warmKey(acct)]
	if !ok || !m.now().Before(e.expires) {
		return bridge.Credential{}, false
	}
	return e.cred, true
}

// forget drops what this process holds in memory for acct.
func (m *Manager) forget(acct *bridge.Account) {
	m.mu.Lock()
	delete(m.warm, warmKey(acct))
	m.mu.Unlock()
	m.Vault.Forget(Ref(acct))
}

func (m *Manager) decode(b []byte) (bridge.Credential, error) {
	var c bridge.Credential
	if err := c.UnmarshalBinary(b); err != nil {
		return c, err
	}
	return c, nil
}

// read returns the stored credential (from the vault cache when fresh).
func (m *Manager) read(ctx context.Context, acct *bridge.Account, fresh bool) (bridge.Credential, error) {
	var (
		b   []byte
		err error
	)
	if fresh {
		b, err = m.Vault.GetFresh(ctx, Ref(acct))
	} else {
		b, err = m.Vault.Get(ctx, Ref(acct))
	}
	if errors.Is(err, vault.ErrNotFound) {
		return bridge.Credential{}, bridge.Errorf(bridge.ENOTFOUND, "Integrated account %s has no stored credential.", acct.ID)
	}
	if err != nil {
		return bridge.Credential{}, fmt.Errorf("read credential of account %s: %w", acct.ID, err)
	}
	return m.decode(b)
}

// expiring reports whether an OAuth credential has less than margin (or
// half its lifetime, if shorter) left at now.
func expiring(c bridge.Credential, now time.Time, margin time.Duration) bool {
	if c.Method != bridge.AuthOAuth || c.Expiry.IsZero() {
		return false
	}
	if life := c.Expiry.Sub(c.UpdatedAt); life > 0 && !c.UpdatedAt.IsZero() {
		margin = min(margin, life/2)
	}
	return c.Expiry.Sub(now) < margin
}

// nextRefreshAt is when the scheduled refresh should next renew c, issued
// at issued: before RefreshMargin of its lifetime remains, and within
// MaxIdle.
func nextRefreshAt(c bridge.Credential, issued time.Time) time.Time {
	next := issued.Add(MaxIdle)
	if !c.Expiry.IsZero() {
		lead := RefreshMargin
		if life := c.Expiry.Sub(issued); life > 0 {
			lead = min(lead, life/2)
		}
		if t := c.Expiry.Add(-lead); t.Before(next) {
			next = t
		}
	}
	return next
}

func needsReauth(acct *bridge.Account) error {
	return bridge.Errorf(bridge.ENEEDSREAUTH, "Integrated account %s needs to be reconnected.", acct.ID).
		WithDetails(map[string]any{"integrated_account_id": acct.ID, "status": bridge.StatusNeedsReauth})
}

// Save stores the credential of a new or reconnected account in the vault
// (before the account record says it is active) and sets the account's
// refresh bookkeeping (TokenExpiresAt, LastRefreshedAt, NextRefreshAt,
// RefreshFailures); it does not write the account record. It takes the
// account's refresh lease (waiting for a refresh in flight), so a refresh
// of the old grant can never overwrite the new credential, and it bumps
// the credential's generation past the stored one.
//
// It returns EINVALID for an account without ID or environment, or a
// credential whose method or secret does not fit the account.
func (m *Manager) Save(ctx context.Context, acct *bridge.Account, cred bridge.Credential) error {
	if !bridge.ValidID(acct.ID) || acct.Environment == "" {
		return bridge.Errorf(bridge.EINVALID, "The account needs an ID and an environment before its credential is saved.")
	}
	if cred.Method == "" {
		cred.Method = acct.AuthMethod
	}
	if cred.Method != acct.AuthMethod {
		return bridge.Errorf(bridge.EINVALID, "The credential's method %q does not match the account's %q.", cred.Method, acct.AuthMethod)
	}
	switch cred.Method {
	case bridge.AuthOAuth:
		if cred.AccessToken.IsZero() || cred.RefreshToken.IsZero() || cred.Expiry.IsZero() {
			return bridge.Errorf(bridge.EINVALID, "An OAuth credential needs an access token, a refresh token and an expiry.")
		}
	case bridge.AuthAPIKey:
		if cred.APIKey.IsZero() {
			return bridge.Errorf(bridge.EINVALID, "An api_key credential needs the key.")
		}
	case bridge.AuthAccessToken:
		if cred.PersonalAccessToken.IsZero() {
			return bridge.Errorf(bridge.EINVALID, "An access_token credential needs the token.")
		}
	default:
		return bridge.Errorf(bridge.EINVALID, "Unknown authentication method %q.", cred.Method)
	}
	lease, err := m.acquireWait(ctx, acct)
	if err != nil {
		return err
	}
	defer m.release(ctx, lease)
	old, err := m.read(ctx, acct, true)
	switch {
	case err == nil:
		cred.Generation = old.Generation + 1
	case bridge.IsCode(err, bridge.ENOTFOUND):
		cred.Generation = 1
	default:
		return err
	}
	now := m.now()
	cred.UpdatedAt = now
	if err := m.put(ctx, acct, cred); err != nil {
		return err
	}
	m.remember(acct, cred)
	acct.RefreshFailures = 0
	if cred.Method == bridge.AuthOAuth {
		acct.TokenExpiresAt = cred.Expiry
		acct.LastRefreshedAt = now
		acct.NextRefreshAt = nextRefreshAt(cred, now)
	} else {
		acct.TokenExpiresAt, acct.LastRefreshedAt, acct.NextRefreshAt = time.Time{}, time.Time{}, time.Time{}
	}
	return nil
}

func (m *Manager) put(ctx context.Context, acct *bridge.Account, c bridge.Credential) error {
	b, err := c.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode credential of account %s: %w", acct.ID, err)
	}
	if err := m.Vault.Put(ctx, Ref(acct), b); err != nil {
		return fmt.Errorf("store credential of account %s: %w", acct.ID, err)
	}
	return nil
}

// Credential returns a usable credential for acct: from memory when warm
// (no store or vault call), otherwise from the vault. An OAuth token with
// less than InlineMargin left is refreshed first (single flight across
// goroutines and processes); if that refresh fails transiently while the
// token is still valid, the current token is returned.
func (m *Manager) Credential(ctx context.Context, acct *bridge.Account) (bridge.Credential, error) {
	if acct.Status == bridge.StatusNeedsReauth {
		return bridge.Credential{}, needsReauth(acct)
	}
	now := m.now()
	if c, ok := m.warmGet(acct); ok && !expiring(c, now, InlineMargin) {
		return c, nil
	}
	c, err := m.read(ctx, acct, false)
	if err != nil {
		return bridge.Credential{}, err
	}
	if expiring(c, now, InlineMargin) {
		return m.flight(ctx, acct, modeInline, c.Generation)
	}
	m.remember(acct, c)
	return c, nil
}

// Rejected is called when an upstream answered 401 to a call made with
// cred: it drops cached state and, for OAuth, refreshes once (single
// flight; if another holder already rotated past cred, that credential is
// returned without a refresh). For keys and personal access tokens it
// marks the account needs_reauth (one event) and returns ENEEDSREAUTH,
// unless the account was reconnected since cred was read.
func (m *Manager) Rejected(ctx context.Context, acct *bridge.Account, cred bridge.Credential) (bridge.Credential, error) {
	m.forget(acct)
	if acct.AuthMethod == bridge.AuthOAuth {
		return m.flight(ctx, acct, modeRejected, cred.Generation)
	}
	cur, err := m.read(ctx, acct, true)
	if err != nil {
		return bridge.Credential{}, err
	}
	if cur.Generation != cred.Generation {
		m.remember(acct, cur)
		return cur, nil
	}
	msg := "Supabase rejected the stored API key; reconnect the account."
	if acct.AuthMethod == bridge.AuthAccessToken {
		msg = "Supabase rejected the stored personal access token; reconnect the account."
	}
	if _, err := m.MarkNeedsReauth(ctx, acct, msg); err != nil {
		return bridge.Credential{}, err
	}
	return bridge.Credential{}, needsReauth(acct)
}

// Refresh refreshes an OAuth account's tokens. With force it always
// rotates (unless another holder rotated while it waited); without, only
// when the token is within RefreshMargin of expiry or was last refreshed
// MaxIdle ago. Non-OAuth accounts are returned unchanged.
func (m *Manager) Refresh(ctx context.Context, acct *bridge.Account, force bool) (bridge.Credential, error) {
	c, _, err := m.refresh(ctx, acct, force)
	return c, err
}

// refresh is Refresh that also says whether this call rotated the tokens.
func (m *Manager) refresh(ctx context.Context, acct *bridge.Account, force bool) (bridge.Credential, bool, error) {
	// A forced refresh must not mistake a stale cached generation for
	// someone else's rotation.
	cur, err := m.read(ctx, acct, force)
	if err != nil {
		return bridge.Credential{}, false, err
	}
	if cur.Method != bridge.AuthOAuth {
		return cur, false, nil
	}
	md := modeScheduled
	if force {
		md = modeForce
	}
	r, err := m.flightResult(ctx, acct, md, cur.Generation)
	return r.cred, r.rotated, err
}

func (m *Manager) leaseOwner() string {
	m.ownerOnce.Do(func() {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		m.owner = host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b)
	})
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return m.owner + ":" + hex.EncodeToString(b)
}

func leaseName(acct *bridge.Account) string { return "refresh:" + acct.ID }

// pause sleeps 25–75 ms (jittered so that waiters of several processes do
// not poll in step), or until ctx ends.
func pause(ctx context.Context) error {
	t := time.NewTimer(25*time.Millisecond + time.Duration(mrand.Int64N(int64(50*time.Millisecond))))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// acquireWait takes acct's refresh lease, waiting for a holder to finish.
func (m *Manager) acquireWait(ctx context.Context, acct *bridge.Account) (*bridge.Lease, error) {
	ctx, cancel := m.bounded(ctx)
	defer cancel()
	owner := m.leaseOwner()
	for {
		l, err := m.Store.AcquireLease(ctx, leaseName(acct), owner, orDefault(m.LeaseTTL, 15*time.Second))
		if err == nil {
			return l, nil
		}
		if !bridge.IsCode(err, bridge.ECONFLICT) {
			return nil, fmt.Errorf("refresh lease of account %s: %w", acct.ID, err)
		}
		if err := pause(ctx); err != nil {
			return nil, waitTimeout(acct)
		}
	}
}

// bounded gives ctx a deadline of WaitTimeout when it has none.
func (m *Manager) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, orDefault(m.WaitTimeout, 30*time.Second))
}

func waitTimeout(acct *bridge.Account) error {
	return bridge.Errorf(bridge.EUNAVAILABLE, "Timed out waiting for another refresh of account %s; retry.", acct.ID)
}

// release frees a lease even when the caller's context has ended.
func (m *Manager) release(ctx context.Context, l *bridge.Lease) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = m.Store.ReleaseLease(rctx, l)
}
