// Package access turns an (environment, integrated account ID) pair into
// what a feature needs to call that account's Supabase: the account record,
// a usable credential, and, for a project, its URL and an admin-capable key.
// It holds all of them in memory for a short TTL, so a warm function
// answers without touching the state store or the vault, and drops them as
// soon as Supabase rejects them.
//
// Organization accounts (OAuth, personal access tokens) reach a project
// through that project's API keys, fetched once with the Management API and
// kept in the vault.
package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/credentials"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/supabase"
	"github.com/supabridge/supabridge/shared/vault"
)

// Store is what the resolver reads of the state store.
type Store interface {
	GetAccount(ctx context.Context, env, id string) (*bridge.Account, error)
}

// Credentials is what the resolver needs of the credential manager;
// *credentials.Manager implements it.
type Credentials interface {
	Credential(ctx context.Context, acct *bridge.Account) (bridge.Credential, error)
	Rejected(ctx context.Context, acct *bridge.Account, cred bridge.Credential) (bridge.Credential, error)
}

var (
	_ Store       = (*store.Store)(nil)
	_ Credentials = (*credentials.Manager)(nil)
)

// ProjectKey is how to reach one project: its API URL and an API key.
// Key is a bridge.Secret: it never prints.
type ProjectKey struct {
	Ref         string
	URL         string
	Key         bridge.Secret
	Kind        bridge.KeyKind
	BypassesRLS bool
}

// Resolver resolves accounts, credentials and project keys. Its fields are
// set by New; it is safe for concurrent use.
type Resolver struct {
	Store       Store
	Credentials Credentials
	// Vault keeps organization accounts' project keys (vault.KindProject).
	Vault vault.Vault
	// HTTP carries calls to Supabase (no redirects followed).
	HTTP *http.Client
	// ManagementURL is the Management API base URL.
	ManagementURL string
	// ProjectURL builds a project's API URL from its ref.
	ProjectURL func(ref string) string
	// TTL bounds how long an account or project key is served from memory.
	TTL time.Duration
	// Now is the clock.
	Now func() time.Time

	mu       sync.Mutex
	accounts map[string]cached[*bridge.Account]
	keys     map[string]cached[ProjectKey]
	flight   singleflight.Group
}

type cached[T any] struct {
	v       T
	expires time.Time
}

// maxEntries bounds each in-memory map; past it the map starts over, which
// only costs a few extra reads.
const maxEntries = 10000

// New returns the process's resolver for a.
func New(a *app.App, creds *credentials.Manager) *Resolver {
	return &Resolver{
		Store: a.Store, Credentials: creds, Vault: a.Vault, HTTP: a.HTTP,
		ManagementURL: a.Config.ManagementAPIURL, ProjectURL: a.ProjectURL,
		TTL: a.Config.CacheTTL, Now: time.Now,
	}
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func accountKey(env, id string) string { return env + "\x00" + id }

// Account returns the environment's account with id, from memory when it
// was read within the TTL. Another environment's account is ENOTFOUND.
func (r *Resolver) Account(ctx context.Context, env, id string) (*bridge.Account, error) {
	k := accountKey(env, id)
	now := r.now()
	r.mu.Lock()
	e, ok := r.accounts[k]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.v, nil
	}
	v, err, _ := r.flight.Do("account\x00"+k, func() (any, error) {
		return r.Store.GetAccount(ctx, env, id)
	})
	if err != nil {
		return nil, err
	}
	acct := v.(*bridge.Account)
	r.mu.Lock()
	if r.accounts == nil || len(r.accounts) >= maxEntries {
		r.accounts = make(map[string]cached[*bridge.Account])
	}
	r.accounts[k] = cached[*bridge.Account]{v: acct, expires: now.Add(r.TTL)}
	r.mu.Unlock()
	return acct, nil
}

// Forget drops the cached account, so the next Account reads the store.
func (r *Resolver) Forget(acct *bridge.Account) {
	r.mu.Lock()
	delete(r.accounts, accountKey(acct.Environment, acct.ID))
	r.mu.Unlock()
}

// Credential returns a usable credential for acct (see
// credentials.Manager.Credential).
func (r *Resolver) Credential(ctx context.Context, acct *bridge.Account) (bridge.Credential, error) {
	return r.Credentials.Credential(ctx, acct)
}

// Rejected reports that Supabase answered 401 to cred: the account is
// forgotten and, for OAuth, refreshed once (single flight); see
// credentials.Manager.Rejected.
func (r *Resolver) Rejected(ctx context.Context, acct *bridge.Account, cred bridge.Credential) (bridge.Credential, error) {
	r.Forget(acct)
	return r.Credentials.Rejected(ctx, acct, cred)
}

func projectKeyRef(acct *bridge.Account, ref string) vault.Ref {
	return vault.Ref{Environment: acct.Environment, Kind: vault.KindProject, ID: acct.ID + "/" + ref}
}

// storedKey is a project key's vault encoding.
type storedKey struct {
	URL         string         `json:"url"`
	Key         string         `json:"key"`
	Kind        bridge.KeyKind `json:"kind"`
	BypassesRLS bool           `json:"bypasses_rls"`
}

// ProjectKey returns how to reach project ref for acct. A project account
// reaches only its own project (ref may be empty or must match). An
// organization account reaches any project of its organization, with the
// project's secret key (or legacy service_role key) fetched through the
// Management API on first use and kept in the vault and in memory.
//
// Errors: EINVALID for a missing or malformed ref, or another project than
// a project account's; ENOTFOUND when the organization has no such project;
// EFORBIDDEN when the grant may not read its keys; ENEEDSREAUTH when the
// account must be linked again.
func (r *Resolver) ProjectKey(ctx context.Context, acct *bridge.Account, ref string) (ProjectKey, error) {
	if acct.AuthMethod == bridge.AuthAPIKey {
		if ref != "" && ref != acct.ProjectRef {
			return ProjectKey{}, bridge.Errorf(bridge.EINVALID, "This integrated account is linked to project %s only.", acct.ProjectRef)
		}
		cred, err := r.Credentials.Credential(ctx, acct)
		if err != nil {
			return ProjectKey{}, err
		}
		return ProjectKey{Ref: acct.ProjectRef, URL: acct.ProjectURL, Key: cred.APIKey, Kind: acct.KeyKind, BypassesRLS: acct.BypassesRLS}, nil
	}
	if !validRef(ref) {
		return ProjectKey{}, bridge.Errorf(bridge.EINVALID, "Name the project: X-Supabase-Project-Ref must be a project ref (20 lowercase letters).")
	}
	k := acct.Environment + "\x00" + acct.ID + "\x00" + ref
	now := r.now()
	r.mu.Lock()
	e, ok := r.keys[k]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.v, nil
	}
	v, err, _ := r.flight.Do("key\x00"+k, func() (any, error) { return r.loadProjectKey(ctx, acct, ref) })
	if err != nil {
		return ProjectKey{}, err
	}
	pk := v.(ProjectKey)
	r.mu.Lock()
	if r.keys == nil || len(r.keys) >= maxEntries {
		r.keys = make(map[string]cached[ProjectKey])
	}
	r.keys[k] = cached[ProjectKey]{v: pk, expires: now.Add(r.TTL)}
	r.mu.Unlock()
	return pk, nil
}

func (r *Resolver) loadProjectKey(ctx context.Context, acct *bridge.Account, ref string) (ProjectKey, error) {
	vref := projectKeyRef(acct, ref)
	if b, err := r.Vault.Get(ctx, vref); err == nil {
		var s storedKey
		if json.Unmarshal(b, &s) == nil && s.Key != "" {
			return ProjectKey{Ref: ref, URL: s.URL, Key: bridge.Secret(s.Key), Kind: s.Kind, BypassesRLS: s.BypassesRLS}, nil
		}
	} else if !errors.Is(err, vault.ErrNotFound) {
		return ProjectKey{}, fmt.Errorf("read project key: %w", err)
	}
	keys, _, err := r.Management(acct).Management.ListAPIKeys(ctx, ref, &supabase.ListAPIKeysOptions{Reveal: true})
	if err != nil {
		return ProjectKey{}, remoteError(err, ref)
	}
	pk, ok := pickKey(keys)
	if !ok {
		return ProjectKey{}, bridge.Errorf(bridge.EFORBIDDEN, "Project %s has no secret or service_role key this grant may read.", ref)
	}
	pk.Ref, pk.URL = ref, r.ProjectURL(ref)
	b, _ := json.Marshal(storedKey{URL: pk.URL, Key: pk.Key.Reveal(), Kind: pk.Kind, BypassesRLS: pk.BypassesRLS})
	if err := r.Vault.Put(ctx, vref, b); err != nil {
		return ProjectKey{}, fmt.Errorf("store project key: %w", err)
	}
	return pk, nil
}

// pickKey prefers a secret key (sb_secret_…), then the legacy service_role
// JWT: both are admin-capable and bypass RLS, as the directory and the
// proxy's Auth admin calls need.
func pickKey(keys []*supabase.APIKey) (ProjectKey, bool) {
	var legacy *supabase.APIKey
	for _, k := range keys {
		if k == nil || k.APIKey == "" {
			continue
		}
		info, err := supabase.ClassifyKey(k.APIKey)
		if err != nil || !info.BypassesRLS {
			continue
		}
		if info.Kind == supabase.KeySecret {
			return ProjectKey{Key: bridge.Secret(k.APIKey), Kind: bridge.KeySecret, BypassesRLS: true}, true
		}
		if legacy == nil {
			legacy = k
		}
	}
	if legacy != nil {
		return ProjectKey{Key: bridge.Secret(legacy.APIKey), Kind: bridge.KeyLegacyServiceRole, BypassesRLS: true}, true
	}
	return ProjectKey{}, false
}

// ProjectKeyRejected drops a project key Supabase no longer accepts (it was
// rotated), so the next ProjectKey fetches the current one.
func (r *Resolver) ProjectKeyRejected(ctx context.Context, acct *bridge.Account, ref string) error {
	if acct.AuthMethod == bridge.AuthAPIKey {
		// The project's own key is the account's credential: its rejection
		// is the account's (needs_reauth, one event).
		cred, err := r.Credentials.Credential(ctx, acct)
		if err != nil {
			return err
		}
		_, err = r.Rejected(ctx, acct, cred)
		return err
	}
	r.mu.Lock()
	delete(r.keys, acct.Environment+"\x00"+acct.ID+"\x00"+ref)
	r.mu.Unlock()
	return r.Vault.Delete(ctx, projectKeyRef(acct, ref))
}

func validRef(ref string) bool {
	if len(ref) != 20 {
		return false
	}
	for _, c := range ref {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// remoteError turns a Management API failure while fetching keys into a
// domain error.
func remoteError(err error, ref string) error {
	var be *bridge.Error
	if errors.As(err, &be) {
		return be
	}
	var ae *supabase.APIError
	if errors.As(err, &ae) {
		switch ae.StatusCode {
		case http.StatusNotFound:
			return bridge.Errorf(bridge.ENOTFOUND, "Project %s is not in this account's organization.", ref)
		case http.StatusForbidden:
			return bridge.Errorf(bridge.EFORBIDDEN, "The account's grant may not read project %s's API keys.", ref)
		case http.StatusUnauthorized:
			return bridge.Errorf(bridge.ENEEDSREAUTH, "Supabase rejected the account's credentials; link it again.")
		case http.StatusTooManyRequests:
			return bridge.Errorf(bridge.ERATELIMIT, "Supabase's rate limit was reached while reading project %s's keys; retry later.", ref)
		}
		return bridge.Errorf(bridge.EREMOTE, "Supabase answered %d while reading project %s's keys.", ae.StatusCode, ref).WithCause(err)
	}
	return bridge.Errorf(bridge.EUNAVAILABLE, "The Supabase Management API is unreachable.").WithCause(err)
}

// Management returns a Management API client that authenticates as acct
// (OAuth access token or personal access token) and, when Supabase answers
// 401 to a request that can be replayed, refreshes once and retries.
func (r *Resolver) Management(acct *bridge.Account) *supabase.Client {
	hc := *r.HTTP
	hc.Transport = &credentialTransport{r: r, acct: acct, base: r.HTTP.Transport}
	c, err := supabase.NewClient(r.ManagementURL, supabase.WithHTTPClient(&hc))
	if err != nil {
		// app.ConfigFromEnv validates the URL, so only a Resolver built by
		// hand with a bad one gets here: a programming error.
		panic(fmt.Sprintf("access: management URL: %v", err))
	}
	return c
}

// Project returns a client for project ref's APIs (Auth, REST) with the key
// ProjectKey finds.
func (r *Resolver) Project(ctx context.Context, acct *bridge.Account, ref string) (*supabase.Client, error) {
	pk, err := r.ProjectKey(ctx, acct, ref)
	if err != nil {
		return nil, err
	}
	return supabase.NewProjectClient(pk.URL, pk.Key.Reveal(), supabase.WithHTTPClient(r.HTTP))
}

// credentialTransport adds the account's current bearer credential and
// retries once after a refresh when Supabase answers 401.
type credentialTransport struct {
	r    *Resolver
	acct *bridge.Account
	base http.RoundTripper
}

func bearer(c bridge.Credential) string {
	if c.Method == bridge.AuthAccessToken {
		return c.PersonalAccessToken.Reveal()
	}
	return c.AccessToken.Reveal()
}

func (t *credentialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	cred, err := t.r.Credential(ctx, t.acct)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := base.RoundTrip(withBearer(req, bearer(cred)))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // cannot replay the body: the caller sees the 401
	}
	next, rerr := t.r.Rejected(ctx, t.acct, cred)
	if rerr != nil || bearer(next) == bearer(cred) {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	retry := req.Clone(ctx)
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return base.RoundTrip(withBearer(retry, bearer(next)))
}

func withBearer(req *http.Request, token string) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
