// Package userdir serves the unified User Directory API under
// /unified/user-directory/: users, roles, organizations and role
// assignments of one integrated account, translated between the unified
// types of package directory and Supabase's two data planes.
//
// The organization plane (OAuth grants and personal access tokens) reads
// the Management API: organizations are the granted organizations, users
// their members, roles the four organization roles. The project plane
// (project URL and admin key, or an organization account's project named by
// project_ref) reads Auth users joined with the customer's directory tables
// (schema.sql ships the default ones) through the Data API.
//
// Lists page with signed cursors bound to the account, resource and query.
// Tables page by keyset on their id. Users page by keyset too, through the
// schema's directory_auth_users function, which reads auth.users in id
// order for the secret key only; a project without it pages through Auth's
// admin list, which pages by page number, by anchored windows (see
// listWindows). Either way a user that exists for the whole listing is
// returned exactly once, however users are created and deleted between
// pages, and a request holds one page (or window) in memory.
//
// On a warm function a read makes only the Supabase calls its mapping
// needs: the account, its credential and project key come from memory
// (package access).
package userdir

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/supabridge/supabridge/shared/access"
	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/credentials"
	"github.com/supabridge/supabridge/shared/cursor"
	"github.com/supabridge/supabridge/shared/directory"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/netguard"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/supabase"
)

// BasePath prefixes every route of the API.
const BasePath = "/unified/user-directory"

// Access is what the handler needs of package access.
type Access interface {
	Account(ctx context.Context, env, id string) (*bridge.Account, error)
	Management(acct *bridge.Account) *supabase.Client
	Project(ctx context.Context, acct *bridge.Account, ref string) (*supabase.Client, error)
	ProjectKeyRejected(ctx context.Context, acct *bridge.Account, ref string) error
}

var _ Access = (*access.Resolver)(nil)

// Idempotency is what the handler needs of the state store for
// Idempotency-Key.
type Idempotency interface {
	ClaimIdempotencyKey(ctx context.Context, r *store.IdempotencyRecord, lock, ttl time.Duration) (*store.IdempotencyRecord, error)
	CompleteIdempotencyKey(ctx context.Context, r *store.IdempotencyRecord, status int, header map[string][]string, body []byte) error
	ReleaseIdempotencyKey(ctx context.Context, r *store.IdempotencyRecord) error
}

var _ Idempotency = (*store.Store)(nil)

// Handler serves the routes. Set the exported fields before Register; it
// is safe for concurrent use afterwards.
type Handler struct {
	Access      Access
	Accounts    Accounts
	Idempotency Idempotency
	Cursors     *cursor.Signer
	Auth        *httpapi.Authenticator
	// Now is the clock (default time.Now): statuses, idempotency expiry.
	Now func() time.Time
	// IdempotencyTTL is how long a key's response is replayed (default
	// 24 h); IdempotencyLock bounds a claim whose request never finished
	// (default 2 min).
	IdempotencyTTL  time.Duration
	IdempotencyLock time.Duration

	// splitRead remembers projects whose directory tables cannot be
	// embedded in one read (no foreign key from role assignments to
	// profiles); key: account id + "\x00" + ref.
	splitRead sync.Map
	// noKeyset remembers projects without the keyset function (key: as
	// splitRead's), whose users page through Auth's admin list.
	noKeyset sync.Map
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// op is what a route does to its resource.
type op string

const (
	opList   op = "list"
	opGet    op = "get"
	opCreate op = "create"
	opUpdate op = "update"
	opDelete op = "delete"
)

// route is one registered route.
type route struct {
	method   string
	resource directory.Resource
	op       op
	item     bool // path ends in /{id}
}

// routes lists the API. Organizations have no delete: neither plane can
// delete one without taking every member's data with it.
func routes() []route {
	return []route{
		{"GET", directory.Users, opList, false},
		{"POST", directory.Users, opCreate, false},
		{"GET", directory.Users, opGet, true},
		{"PATCH", directory.Users, opUpdate, true},
		{"DELETE", directory.Users, opDelete, true},
		{"GET", directory.Roles, opList, false},
		{"POST", directory.Roles, opCreate, false},
		{"GET", directory.Roles, opGet, true},
		{"PATCH", directory.Roles, opUpdate, true},
		{"DELETE", directory.Roles, opDelete, true},
		{"GET", directory.Organizations, opList, false},
		{"POST", directory.Organizations, opCreate, false},
		{"GET", directory.Organizations, opGet, true},
		{"PATCH", directory.Organizations, opUpdate, true},
		{"GET", directory.RoleAssignments, opList, false},
		{"POST", directory.RoleAssignments, opCreate, false},
		{"GET", directory.RoleAssignments, opGet, true},
		{"DELETE", directory.RoleAssignments, opDelete, true},
	}
}

// pattern is the route's ServeMux pattern.
func (rt route) pattern() string {
	p := rt.method + " " + BasePath + "/" + string(rt.resource)
	if rt.item {
		p += "/{id}"
	}
	return p
}

// Register adds the routes to rt.
func (h *Handler) Register(rt *httpapi.Router) {
	for _, r := range routes() {
		var hf http.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { h.serve(w, req, r) })
		if r.method == http.MethodPost || r.method == http.MethodPatch {
			hf = h.idempotent(hf)
		}
		rt.Handle(r.pattern(), h.Auth.Require(hf))
	}
	h.registerSettings(rt)
}

// upstreamTimeout bounds one call to Supabase.
const upstreamTimeout = 25 * time.Second

// New returns a Handler wired to a, with its own credential manager and
// access resolver. Project URLs come from end customers, so every
// connection to Supabase is checked to land on a public address (unless
// the configuration allows private upstreams, as the sandbox does).
func New(a *app.App) *Handler {
	creds := credentials.New(a, events.New(a))
	res := access.New(a, creds)
	res.HTTP = (&netguard.Guard{AllowPrivate: a.Config.AllowPrivateUpstreams}).Client(upstreamTimeout)
	return &Handler{
		Access:      res,
		Accounts:    a.Store,
		Idempotency: a.Store,
		Cursors:     a.Cursors,
		Auth:        a.Auth,
	}
}

// Mount registers the directory's routes on rt, wired to a.
func Mount(rt *httpapi.Router, a *app.App) { New(a).Register(rt) }
