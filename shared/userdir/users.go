package userdir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/directory"
	"github.com/supabridge/supabridge/shared/supabase"
)

const authAPI = "The project's Auth API"

// Aliases of the embedded reads. They name no column of the default
// schema; a customer column with one of these names would be shadowed.
const (
	embedAssignments = "sb_assignments"
	embedRole        = "sb_role"
	embedOrg         = "sb_organization"
)

// idBatch bounds the ids of one directory read: they travel in the URL
// (id=in.(…)), which gateways cap at a few kilobytes.
const idBatch = 150

// assignment is one role assignment of a user, with the role's and the
// organization's names.
type assignment struct {
	row                  row
	id, roleID, roleName string
	orgID, orgName       string
	createdAt, updatedAt *time.Time
}

// dirEntry is what the directory tables hold about one user.
type dirEntry struct {
	profile     row // nil: no profile row
	assignments []assignment
}

// embeds is the select list item that embeds a role assignment's role and
// organization names.
func (pp *projectPlane) embeds() string {
	r, o := pp.t.Roles, pp.t.Organizations
	return embedRole + ":" + r.Name + "(" + r.col("id") + "," + r.col("name") + ")," +
		embedOrg + ":" + o.Name + "(" + o.col("id") + "," + o.col("name") + ")"
}

func (pp *projectPlane) toAssignment(r row) assignment {
	t := pp.t.UserRoles
	a := assignment{
		row: r, id: r.str(t.col("id")), roleID: r.str(t.col("role_id")), orgID: r.str(t.col("organization_id")),
		createdAt: r.time(t.col("created_at")), updatedAt: r.time(t.col("updated_at")),
	}
	var role, org row
	if b := r[embedRole]; len(b) > 0 && json.Unmarshal(b, &role) == nil {
		a.roleName = role.str(pp.t.Roles.col("name"))
	}
	if b := r[embedOrg]; len(b) > 0 && json.Unmarshal(b, &org) == nil {
		a.orgName = org.str(pp.t.Organizations.col("name"))
	}
	return a
}

func (pp *projectPlane) splitKey() string { return pp.acct.ID + "\x00" + pp.ref }

// directoryRead reads the profiles and role assignments of ids: one Data
// API read per batch of ids, embedding the assignments (and their roles'
// and organizations' names) in the profiles. Schemas whose role
// assignments do not reference profiles cannot embed; they get two reads
// per batch, remembered per project.
func (pp *projectPlane) directoryRead(ctx context.Context, ids []string) (map[string]*dirEntry, error) {
	out := make(map[string]*dirEntry, len(ids))
	for _, id := range ids {
		out[id] = &dirEntry{}
	}
	if len(ids) == 0 {
		return out, nil
	}
	var batches [][]string
	for len(ids) > 0 {
		n := min(len(ids), idBatch)
		batches = append(batches, ids[:n])
		ids = ids[n:]
	}
	results := make([]map[string]*dirEntry, len(batches))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, b := range batches {
		g.Go(func() error {
			m, err := pp.readBatch(gctx, b)
			results[i] = m
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, m := range results {
		for id, e := range m {
			out[id] = e
		}
	}
	return out, nil
}

func (pp *projectPlane) readBatch(ctx context.Context, ids []string) (map[string]*dirEntry, error) {
	if _, split := pp.h.splitRead.Load(pp.splitKey()); !split {
		m, err := pp.readEmbedded(ctx, ids)
		if !isCode(err, "PGRST200") {
			return m, err
		}
		pp.h.splitRead.Store(pp.splitKey(), true)
	}
	return pp.readSplit(ctx, ids)
}

// isCode reports whether err is an upstream error with Supabase code c.
func isCode(err error, c string) bool {
	var api *supabase.APIError
	return errors.As(err, &api) && api.Code == c
}

func (pp *projectPlane) readEmbedded(ctx context.Context, ids []string) (map[string]*dirEntry, error) {
	p, ur := pp.t.Profiles, pp.t.UserRoles
	rows, err := pp.selectRows(ctx, p, &supabase.SelectOptions{
		Columns: []string{"*", embedAssignments + ":" + ur.Name + "(*," + pp.embeds() + ")"},
		Filters: []supabase.Filter{supabase.In(p.col("id"), ids...)},
		Limit:   len(ids),
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]*dirEntry, len(rows))
	for _, r := range rows {
		e := &dirEntry{profile: r}
		var as []row
		if b := r[embedAssignments]; len(b) > 0 {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			_ = dec.Decode(&as)
		}
		delete(r, embedAssignments)
		for _, a := range as {
			e.assignments = append(e.assignments, pp.toAssignment(a))
		}
		out[r.str(p.col("id"))] = e
	}
	return out, nil
}

// readSplit reads profiles and role assignments separately (concurrently),
// paging the assignments by id.
func (pp *projectPlane) readSplit(ctx context.Context, ids []string) (map[string]*dirEntry, error) {
	p, ur := pp.t.Profiles, pp.t.UserRoles
	var profiles, assigns []row
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		profiles, err = pp.selectRows(gctx, p, &supabase.SelectOptions{Filters: []supabase.Filter{supabase.In(p.col("id"), ids...)}, Limit: len(ids)})
		return err
	})
	g.Go(func() error {
		after := ""
		for {
			fs := []supabase.Filter{supabase.In(ur.col("user_id"), ids...)}
			if after != "" {
				fs = append(fs, supabase.Gt(ur.col("id"), after))
			}
			rows, err := pp.selectRows(gctx, ur, &supabase.SelectOptions{
				Columns: []string{"*", pp.embeds()}, Filters: fs, Order: []supabase.Order{{Column: ur.col("id")}}, Limit: maxRows,
			})
			if err != nil {
				return err
			}
			assigns = append(assigns, rows...)
			if len(rows) < maxRows {
				return nil
			}
			after = rows[len(rows)-1].str(ur.col("id"))
		}
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make(map[string]*dirEntry, len(ids))
	entry := func(id string) *dirEntry {
		e := out[id]
		if e == nil {
			e = &dirEntry{}
			out[id] = e
		}
		return e
	}
	for _, r := range profiles {
		entry(r.str(p.col("id"))).profile = r
	}
	for _, r := range assigns {
		e := entry(r.str(ur.col("user_id")))
		e.assignments = append(e.assignments, pp.toAssignment(r))
	}
	return out, nil
}

// ---- mapping

// metaString reads the first non-empty string among keys of metadata.
func metaString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// userRemote is a user's remote_data: every upstream object it came from.
type userRemote struct {
	AuthUser  *supabase.User    `json:"auth_user"`
	Profile   json.RawMessage   `json:"profile"`
	UserRoles []json.RawMessage `json:"user_roles"`
}

// toUser maps an Auth user and its directory entry. listed says the user
// came from Auth's list, which does not load MFA factors.
func (pp *projectPlane) toUser(u *supabase.User, e *dirEntry, raw, listed bool) directory.User {
	if e == nil {
		e = &dirEntry{}
	}
	pt := pp.t.Profiles
	names := directory.ResolveNames(
		directory.Names{
			First: e.profile.str(pt.col("first_name")), Last: e.profile.str(pt.col("last_name")),
			Full: e.profile.str(pt.col("name")), Username: e.profile.str(pt.col("username")), Avatar: e.profile.str(pt.col("avatar")),
		},
		directory.Names{
			First: metaString(u.UserMetadata, "first_name", "given_name"), Last: metaString(u.UserMetadata, "last_name", "family_name"),
			Full: metaString(u.UserMetadata, "full_name", "name"), Username: metaString(u.UserMetadata, "user_name", "preferred_username", "username"),
			Avatar: metaString(u.UserMetadata, "avatar_url", "picture"),
		},
	)
	confirmed := u.ConfirmedAt
	if confirmed == nil {
		confirmed = directory.LaterOf(u.EmailConfirmedAt, u.PhoneConfirmedAt)
	}
	now := pp.h.now()
	v := directory.User{
		ID: u.ID, FirstName: names.First, LastName: names.Last, Name: names.Full, Username: names.Username, Avatar: names.Avatar,
		Emails: []directory.Email{}, Phones: []directory.Phone{}, Roles: []directory.RoleRef{}, Organizations: []directory.OrganizationRef{},
		Status:       directory.DeriveStatus(directory.Lifecycle{DeletedAt: u.DeletedAt, BannedUntil: u.BannedUntil, InvitedAt: u.InvitedAt, ConfirmedAt: confirmed}, now),
		LastActiveAt: u.LastSignInAt,
		CreatedAt:    &u.CreatedAt,
		UpdatedAt:    directory.LaterOf(&u.UpdatedAt, e.profile.time(pt.col("updated_at"))),
	}
	verified := u.EmailConfirmedAt != nil
	v.IsEmailVerified = &verified
	if !listed {
		mfa := slices.ContainsFunc(u.Factors, func(f supabase.Factor) bool { return f.Status == "verified" })
		v.Is2FAEnabled = &mfa
	}
	if u.Email != "" {
		v.Emails = append(v.Emails, directory.Email{Email: u.Email, Type: "primary", IsPrimary: true})
	}
	for _, id := range u.Identities {
		if id.Email != "" && !strings.EqualFold(id.Email, u.Email) &&
			!slices.ContainsFunc(v.Emails, func(x directory.Email) bool { return strings.EqualFold(x.Email, id.Email) }) {
			v.Emails = append(v.Emails, directory.Email{Email: id.Email, Type: id.Provider})
		}
	}
	if u.Phone != "" {
		v.Phones = append(v.Phones, directory.Phone{Number: "+" + strings.TrimPrefix(u.Phone, "+"), Type: "mobile"})
	}
	for _, a := range e.assignments {
		ref := directory.RoleRef{ID: a.roleID, Name: a.roleName}
		if a.orgID != "" {
			ref.Organization = &directory.OrganizationRef{ID: a.orgID, Name: a.orgName}
			if !slices.ContainsFunc(v.Organizations, func(o directory.OrganizationRef) bool { return o.ID == a.orgID }) {
				v.Organizations = append(v.Organizations, directory.OrganizationRef{ID: a.orgID, Name: a.orgName})
			}
		}
		v.Roles = append(v.Roles, ref)
	}
	if raw {
		rd := userRemote{AuthUser: u, UserRoles: make([]json.RawMessage, len(e.assignments))}
		if e.profile != nil {
			rd.Profile = e.profile.raw()
		}
		for i, a := range e.assignments {
			rd.UserRoles[i] = a.row.raw(embedRole, embedOrg)
		}
		v.RemoteData, _ = json.Marshal(rd) // Auth users and raw rows always encode
	}
	return v
}

// matches applies the list filters Auth cannot.
func matches(u *directory.User, q *listReq) bool {
	if e, ok := q.Filters[filterEmail]; ok && !slices.ContainsFunc(u.Emails, func(x directory.Email) bool { return strings.EqualFold(x.Email, e) }) {
		return false
	}
	if s, ok := q.Filters[filterStatus]; ok && string(u.Status) != s {
		return false
	}
	if r, ok := q.Filters[filterRoleID]; ok && !slices.ContainsFunc(u.Roles, func(x directory.RoleRef) bool { return x.ID == r }) {
		return false
	}
	if o, ok := q.Filters[filterOrganizationID]; ok && !slices.ContainsFunc(u.Organizations, func(x directory.OrganizationRef) bool { return x.ID == o }) {
		return false
	}
	if !q.UpdatedAfter.IsZero() && (u.UpdatedAt == nil || !u.UpdatedAt.After(q.UpdatedAfter)) {
		return false
	}
	return true
}

// ---- paging through Auth's admin list

// userPos is a position in Auth's user list sorted by created_at
// ascending: the last user examined (its created_at, and the ids examined
// with exactly that created_at, for ties) and the number of users up to and
// including it when it was examined. O is 0 before the first page.
type userPos struct {
	O   int       `json:"o"`
	T   time.Time `json:"t,omitzero"`
	IDs []string  `json:"i,omitempty"`
}

// maxTies bounds the ids a cursor remembers for one created_at, which
// keeps cursors short; only more users than this created in the same
// microsecond could repeat one.
const maxTies = 40

// isNew reports whether u comes after the position.
func (p *userPos) isNew(u *supabase.User) bool {
	if p.O == 0 {
		return true
	}
	return u.CreatedAt.After(p.T) || (u.CreatedAt.Equal(p.T) && !slices.Contains(p.IDs, u.ID))
}

// advance moves the position to u, the user at index at (0-based) of the
// list.
func (p *userPos) advance(u *supabase.User, at int) {
	p.O = at + 1
	if p.O > 0 && u.CreatedAt.Equal(p.T) {
		if len(p.IDs) < maxTies {
			p.IDs = append(p.IDs, u.ID)
		}
		return
	}
	p.T, p.IDs = u.CreatedAt, []string{u.ID}
}

// window picks the Auth page to read next: its size and number, such that
// it holds the anchor (the user at index o-1, the last one examined) and,
// when a size up to twice the limit allows, at least limit users after it.
// Page-numbered paging fixes a page's start at a multiple of its size, so
// the size is what moves the start: the smallest size that works is
// usually only a few users over the limit.
func window(o, limit int) (per, page int) {
	if o <= 0 {
		return limit, 1
	}
	a := o - 1
	bestPer, bestPage, bestAfter := limit+1, a/(limit+1)+1, -1
	for j := 0; j <= limit; j++ {
		per := limit + 1 + j
		after := per - 1 - a%per
		if after >= limit {
			return per, a/per + 1
		}
		if after > bestAfter {
			bestPer, bestPage, bestAfter = per, a/per+1, after
		}
	}
	return bestPer, bestPage
}

// maxScanWindows bounds the upstream pages one filtered list request
// reads; past it the page returns what matched so far with a cursor to
// continue.
const maxScanWindows = 10

// usersPos is a users cursor: K when users page by keyset (the
// directory_auth_users function), W when they page by anchored windows
// over Auth's admin list.
type usersPos struct {
	K *keyPos  `json:"k,omitempty"`
	W *userPos `json:"w,omitempty"`
}

// restartListing is the answer to a cursor of the other strategy: the
// project gained or lost the keyset function between two pages.
func restartListing() error {
	return bridge.Errorf(bridge.EINVALID, "The project's user paging changed since this cursor was issued; start the listing again without a cursor.").
		WithDetails(map[string]any{"parameter": "next_cursor"})
}

// keysetMissing reports an error meaning the project has no usable keyset
// function (never applied, renamed, or not granted to service_role).
func keysetMissing(err error) bool {
	return isCode(err, "PGRST202") || isCode(err, "42883") || isCode(err, "42501")
}

func (pp *projectPlane) keysetKey() string { return "keyset\x00" + pp.acct.ID + "\x00" + pp.ref }

// ListUsers pages the project's users joined with the directory tables.
// With the schema's directory_auth_users function (the default), users
// page by keyset on their id, read straight from auth.users by the secret
// key: one read per page, no counting, exact under concurrent changes.
// Without it, users page through Auth's admin list by anchored windows
// (listWindows).
func (pp *projectPlane) ListUsers(ctx context.Context, q *listReq) ([]directory.User, any, error) {
	var pos usersPos
	if err := openPos(q.After, &pos); err != nil {
		return nil, nil, err
	}
	for k, vs := range q.Remote {
		if k != "filter" || len(vs) != 1 {
			return nil, nil, invalid("remote_query["+k+"]", "Auth's admin user list accepts only remote_query[filter] (matched against emails and full names), once.")
		}
		if _, ok := q.Filters[filterEmail]; ok {
			return nil, nil, invalid("email", "email and remote_query[filter] cannot be combined.")
		}
	}
	if fn := pp.t.AuthUsersFunction; fn != "" {
		if _, missing := pp.h.noKeyset.Load(pp.keysetKey()); !missing {
			if pos.W != nil {
				return nil, nil, restartListing()
			}
			out, next, err := pp.listKeyset(ctx, fn, q, pos.K)
			if !keysetMissing(err) {
				return out, next, err
			}
			pp.h.noKeyset.Store(pp.keysetKey(), true)
		}
	}
	if pos.K != nil {
		return nil, nil, restartListing()
	}
	w := pos.W
	if w == nil {
		w = &userPos{}
	}
	return pp.listWindows(ctx, q, w)
}

// listKeyset reads pages of users in id order from the keyset function.
func (pp *projectPlane) listKeyset(ctx context.Context, fn string, q *listReq, pos *keyPos) ([]directory.User, any, error) {
	after := ""
	if pos != nil {
		after = pos.After
	}
	filtered := len(q.Filters) > 0
	ask := min(q.Limit+1, maxRows)
	if filtered {
		ask = min(max(q.Limit+1, 200), maxRows)
	}
	var opts *supabase.RPCOptions
	if s := pp.schema(); s != "" {
		opts = &supabase.RPCOptions{SelectOptions: supabase.SelectOptions{Schema: s}}
	}
	var out []directory.User
	for scans := 0; ; {
		args := map[string]any{"page_size": ask}
		if after != "" {
			args["after_id"] = after
		}
		if e, ok := q.Filters[filterEmail]; ok {
			args["email"] = e
		}
		if f := q.Remote.Get("filter"); f != "" {
			args["search"] = f
		}
		var users []*supabase.User
		if _, err := pp.c.REST.RPC(ctx, fn, args, opts, &users); err != nil {
			if keysetMissing(err) {
				return nil, nil, err
			}
			return nil, nil, upstream(err, dataAPI)
		}
		more := len(users) == ask
		cand := users
		if !filtered && len(cand) > q.Limit-len(out) {
			cand = cand[:q.Limit-len(out)]
		}
		ids := make([]string, len(cand))
		for i, u := range cand {
			ids[i] = u.ID
		}
		entries, err := pp.directoryRead(ctx, ids)
		if err != nil {
			return nil, nil, err
		}
		for i, u := range cand {
			after = u.ID
			v := pp.toUser(u, entries[u.ID], q.Raw, true)
			if filtered && !matches(&v, q) {
				continue
			}
			out = append(out, v)
			if len(out) == q.Limit {
				if !more && i == len(users)-1 {
					return out, nil, nil
				}
				return out, usersPos{K: &keyPos{After: after}}, nil
			}
		}
		if !more {
			return out, nil, nil
		}
		scans++
		if scans >= maxScanWindows {
			return out, usersPos{K: &keyPos{After: after}}, nil
		}
	}
}

// listWindows pages Auth's users sorted by created_at ascending.
//
// Auth's admin list pages by number only, and a page's users shift when
// earlier users are deleted. Each cursor therefore remembers the last user
// examined (the anchor) and its index. The next request reads the window
// that should still hold the anchor and, within it, continues after the
// last user that is not newer than the anchor. A window whose first user is
// already newer means users before the anchor were deleted: the previous
// window is read until the boundary is found. Users created after the
// listing began sort after everything (created_at is set on insert), so
// they can only appear at the end. Every user that exists for the whole
// listing is returned exactly once; memory holds one window (at most twice
// the limit) whatever the number of users.
func (pp *projectPlane) listWindows(ctx context.Context, q *listReq, pos *userPos) ([]directory.User, any, error) {
	opts := supabase.ListUsersOptions{Sort: "created_at asc", Filter: q.Remote.Get("filter")}
	if e, ok := q.Filters[filterEmail]; ok {
		opts.Filter = e
	}
	filtered := len(q.Filters) > 0
	var out []directory.User
	opts.PerPage, opts.Page = window(pos.O, q.Limit)
	found := pos.O == 0
	next := func() any { return usersPos{W: pos} }
	for scans := 0; ; {
		users, resp, err := pp.c.Auth.ListUsers(ctx, &opts)
		if err != nil {
			return nil, nil, upstream(err, authAPI)
		}
		start := (opts.Page - 1) * opts.PerPage
		total := int(resp.Total)
		idx := 0
		for idx < len(users) && !pos.isNew(users[idx]) {
			idx++
		}
		if !found && idx == 0 && start > 0 {
			// The anchor's boundary lies before this window.
			opts.Page--
			if total >= 0 && total <= start {
				opts.Page = max(1, (total+opts.PerPage-1)/opts.PerPage)
			}
			continue
		}
		// Past this point the boundary is in or after this window: it held
		// a user not newer than the anchor, or nothing precedes it.
		found = true
		cand := users[idx:]
		if !filtered && len(cand) > q.Limit-len(out) {
			cand = cand[:q.Limit-len(out)]
		}
		ids := make([]string, len(cand))
		for i, u := range cand {
			ids[i] = u.ID
		}
		entries, err := pp.directoryRead(ctx, ids)
		if err != nil {
			return nil, nil, err
		}
		atEnd := len(users) < opts.PerPage || (total >= 0 && start+len(users) >= total)
		for i, u := range cand {
			pos.advance(u, start+idx+i)
			v := pp.toUser(u, entries[u.ID], q.Raw, true)
			if filtered && !matches(&v, q) {
				continue
			}
			out = append(out, v)
			if len(out) == q.Limit {
				if atEnd && idx+i+1 == len(users) {
					return out, nil, nil
				}
				return out, next(), nil
			}
		}
		if atEnd {
			return out, nil, nil
		}
		scans++
		if scans >= maxScanWindows {
			return out, next(), nil
		}
		opts.Page++
	}
}

// ---- reads and writes of one user

func (pp *projectPlane) GetUser(ctx context.Context, id string, raw bool) (*directory.User, error) {
	u, _, err := pp.c.Auth.GetUser(ctx, id)
	if err != nil {
		return nil, upstream(err, authAPI)
	}
	entries, err := pp.directoryRead(ctx, []string{u.ID})
	if err != nil {
		return nil, err
	}
	v := pp.toUser(u, entries[u.ID], raw, false)
	return &v, nil
}
