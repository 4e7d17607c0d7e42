package userdir

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/directory"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/logs"
)

// listReq is a list request as a plane sees it.
type listReq struct {
	Limit int
	// After is the cursor's position (the plane's own encoding); nil on
	// the first page.
	After        json.RawMessage
	Filters      map[string]string
	UpdatedAfter time.Time
	Remote       url.Values
	// Raw asks for remote_data.
	Raw bool
}

// plane is one data plane's implementation of the directory. List methods
// return the page and the position to continue after (nil at the end).
// Operations a plane cannot perform return ENOTSUPPORTED naming why.
type plane interface {
	// Supports returns ENOTSUPPORTED, naming the limitation, for an
	// operation the plane cannot perform; it is checked before the body is
	// read.
	Supports(res directory.Resource, o op) error

	ListUsers(ctx context.Context, q *listReq) ([]directory.User, any, error)
	GetUser(ctx context.Context, id string, raw bool) (*directory.User, error)
	CreateUser(ctx context.Context, in *directory.UserInput, invite, raw bool) (*directory.User, error)
	UpdateUser(ctx context.Context, id string, p *directory.UserPatch, raw bool) (*directory.User, error)
	DeleteUser(ctx context.Context, id string) error

	ListRoles(ctx context.Context, q *listReq) ([]directory.Role, any, error)
	GetRole(ctx context.Context, id string, raw bool) (*directory.Role, error)
	CreateRole(ctx context.Context, in *directory.RoleInput, raw bool) (*directory.Role, error)
	UpdateRole(ctx context.Context, id string, p *directory.RolePatch, raw bool) (*directory.Role, error)
	DeleteRole(ctx context.Context, id string) error

	ListOrganizations(ctx context.Context, q *listReq) ([]directory.Organization, any, error)
	GetOrganization(ctx context.Context, id string, raw bool) (*directory.Organization, error)
	CreateOrganization(ctx context.Context, in *directory.OrganizationInput, raw bool) (*directory.Organization, error)
	UpdateOrganization(ctx context.Context, id string, p *directory.OrganizationPatch, raw bool) (*directory.Organization, error)

	ListRoleAssignments(ctx context.Context, q *listReq) ([]directory.RoleAssignment, any, error)
	GetRoleAssignment(ctx context.Context, id string, raw bool) (*directory.RoleAssignment, error)
	CreateRoleAssignment(ctx context.Context, in *directory.RoleAssignmentInput, raw bool) (*directory.RoleAssignment, error)
	DeleteRoleAssignment(ctx context.Context, id string) error
}

// usable refuses accounts that cannot be used right now.
func usable(acct *bridge.Account) error {
	switch acct.Status {
	case bridge.StatusActive:
		return nil
	case bridge.StatusNeedsReauth:
		return bridge.Errorf(bridge.ENEEDSREAUTH, "Integrated account %s needs to be reconnected: Supabase no longer accepts its credentials.", acct.ID).
			WithDetails(map[string]any{"status": acct.Status})
	}
	return bridge.Errorf(bridge.EUNPROCESSABLE, "Integrated account %s is %s; it can be used once linking completes.", acct.ID, acct.Status).
		WithDetails(map[string]any{"status": acct.Status})
}

// planeFor picks the data plane: the Management API for organization
// accounts, unless project_ref names one of their projects; a project's
// Auth and Data APIs otherwise.
func (h *Handler) planeFor(ctx context.Context, acct *bridge.Account, p *params) (plane, error) {
	if acct.AuthMethod.Plane() == bridge.PlaneOrganization && p.ProjectRef == "" {
		return &orgPlane{acct: acct, c: h.Access.Management(acct)}, nil
	}
	if acct.AuthMethod == bridge.AuthAPIKey && !acct.BypassesRLS {
		return nil, bridge.Errorf(bridge.EUNPROCESSABLE,
			"Integrated account %s was linked with a publishable (anon) key, which cannot manage Auth users; reconnect it with a secret key (sb_secret_…) or the service_role key.", acct.ID)
	}
	tables, err := parseSettings(acct.Settings)
	if err != nil {
		return nil, err
	}
	c, err := h.Access.Project(ctx, acct, p.ProjectRef)
	if err != nil {
		return nil, err
	}
	ref := p.ProjectRef
	if ref == "" {
		ref = acct.ProjectRef
	}
	return &projectPlane{h: h, acct: acct, ref: ref, c: c, t: tables}, nil
}

// serve runs one route.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, rt route) {
	ctx, env := r.Context(), httpapi.Environment(r)
	p, err := parseParams(rt.resource, rt.op, r.URL.Query())
	if err != nil {
		writeError(w, r, err)
		return
	}
	var after json.RawMessage
	if rt.op == opList && p.Cursor != "" {
		if err := h.Cursors.Open(p.scope(env, rt.resource), p.Cursor, &after); err != nil {
			writeError(w, r, err)
			return
		}
	}
	acct, err := h.Access.Account(ctx, env, p.AccountID)
	if err == nil {
		err = usable(acct)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	pl, err := h.planeFor(ctx, acct, p)
	if err == nil {
		err = h.dispatch(w, r, rt, p, pl, env, after)
	}
	if err != nil {
		if _, project := pl.(*projectPlane); project && isStatus(err, http.StatusUnauthorized) {
			// The project no longer accepts the key: drop it so the next
			// request fetches the current one (organization accounts) or
			// the account is marked for reconnection (project accounts).
			if rerr := h.Access.ProjectKeyRejected(context.WithoutCancel(ctx), acct, p.ProjectRef); rerr != nil {
				logs.From(ctx).Warn("drop rejected project key", slog.String("error", logs.Scrub(rerr.Error())))
			}
		}
		writeError(w, r, err)
	}
}

// dispatch calls the plane for the route and writes its answer; errors are
// returned for serve to write.
func (h *Handler) dispatch(w http.ResponseWriter, r *http.Request, rt route, p *params, pl plane, env string, after json.RawMessage) error {
	// remote_data costs an encoding per object: skip it when it is not shown.
	ctx, id, raw := r.Context(), r.PathValue("id"), !p.IgnoreRemoteData && !slices.Contains(p.Exclude, "remote_data")
	if err := pl.Supports(rt.resource, rt.op); err != nil {
		return err
	}
	q := &listReq{Limit: p.Limit, After: after, Filters: p.Filters, UpdatedAfter: p.UpdatedAfter, Remote: p.Remote, Raw: raw}
	scope := p.scope(env, rt.resource)
	switch rt.resource {
	case directory.Users:
		switch rt.op {
		case opList:
			return list(h, w, r, p, scope, q, pl.ListUsers)
		case opGet:
			return get(w, r, p, func() (*directory.User, error) { return pl.GetUser(ctx, id, raw) })
		case opCreate:
			return create(w, r, p, (*directory.UserInput).Validate, func(in *directory.UserInput) (*directory.User, error) {
				return pl.CreateUser(ctx, in, p.Invite, raw)
			})
		case opUpdate:
			return update(w, r, p, (*directory.UserPatch).Validate, func(in *directory.UserPatch) (*directory.User, error) {
				return pl.UpdateUser(ctx, id, in, raw)
			})
		case opDelete:
			return remove(w, id, func() error { return pl.DeleteUser(ctx, id) })
		}
	case directory.Roles:
		switch rt.op {
		case opList:
			return list(h, w, r, p, scope, q, pl.ListRoles)
		case opGet:
			return get(w, r, p, func() (*directory.Role, error) { return pl.GetRole(ctx, id, raw) })
		case opCreate:
			return create(w, r, p, (*directory.RoleInput).Validate, func(in *directory.RoleInput) (*directory.Role, error) {
				return pl.CreateRole(ctx, in, raw)
			})
		case opUpdate:
			return update(w, r, p, (*directory.RolePatch).Validate, func(in *directory.RolePatch) (*directory.Role, error) {
				return pl.UpdateRole(ctx, id, in, raw)
			})
		case opDelete:
			return remove(w, id, func() error { return pl.DeleteRole(ctx, id) })
		}
	case directory.Organizations:
		switch rt.op {
		case opList:
			return list(h, w, r, p, scope, q, pl.ListOrganizations)
		case opGet:
			return get(w, r, p, func() (*directory.Organization, error) { return pl.GetOrganization(ctx, id, raw) })
		case opCreate:
			return create(w, r, p, (*directory.OrganizationInput).Validate, func(in *directory.OrganizationInput) (*directory.Organization, error) {
				return pl.CreateOrganization(ctx, in, raw)
			})
		case opUpdate:
			return update(w, r, p, (*directory.OrganizationPatch).Validate, func(in *directory.OrganizationPatch) (*directory.Organization, error) {
				return pl.UpdateOrganization(ctx, id, in, raw)
			})
		}
	case directory.RoleAssignments:
		switch rt.op {
		case opList:
			return list(h, w, r, p, scope, q, pl.ListRoleAssignments)
		case opGet:
			return get(w, r, p, func() (*directory.RoleAssignment, error) { return pl.GetRoleAssignment(ctx, id, raw) })
		case opCreate:
			return create(w, r, p, (*directory.RoleAssignmentInput).Validate, func(in *directory.RoleAssignmentInput) (*directory.RoleAssignment, error) {
				return pl.CreateRoleAssignment(ctx, in, raw)
			})
		case opDelete:
			return remove(w, id, func() error { return pl.DeleteRoleAssignment(ctx, id) })
		}
	}
	return bridge.Errorf(bridge.EINTERNAL, "No handler for %s %s.", rt.op, rt.resource)
}

func list[T any](h *Handler, w http.ResponseWriter, r *http.Request, p *params, scope string, q *listReq,
	fn func(context.Context, *listReq) ([]T, any, error)) error {
	items, pos, err := fn(r.Context(), q)
	if err != nil {
		return err
	}
	next := ""
	if pos != nil {
		if next, err = h.Cursors.Sign(scope, pos); err != nil {
			return bridge.Errorf(bridge.EINTERNAL, "The next cursor could not be signed.").WithCause(err)
		}
	}
	writeList(w, r, items, next, p)
	return nil
}

func get[T any](w http.ResponseWriter, r *http.Request, p *params, fn func() (*T, error)) error {
	v, err := fn()
	if err != nil {
		return err
	}
	writeObject(w, r, http.StatusOK, v, p)
	return nil
}

func decodeValid[I any](r *http.Request, validate func(*I) error) (*I, error) {
	in := new(I)
	if err := httpapi.Decode(r, in); err != nil {
		return nil, err
	}
	if err := validate(in); err != nil {
		return nil, validation(err)
	}
	return in, nil
}

func create[I, T any](w http.ResponseWriter, r *http.Request, p *params, validate func(*I) error, fn func(*I) (*T, error)) error {
	in, err := decodeValid(r, validate)
	if err != nil {
		return err
	}
	v, err := fn(in)
	if err != nil {
		return err
	}
	writeObject(w, r, http.StatusCreated, v, p)
	return nil
}

func update[I, T any](w http.ResponseWriter, r *http.Request, p *params, validate func(*I) error, fn func(*I) (*T, error)) error {
	in, err := decodeValid(r, validate)
	if err != nil {
		return err
	}
	v, err := fn(in)
	if err != nil {
		return err
	}
	writeObject(w, r, http.StatusOK, v, p)
	return nil
}

func remove(w http.ResponseWriter, id string, fn func() error) error {
	if err := fn(); err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, map[string]string{"id": id})
	return nil
}
