package userdir

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/directory"
	"github.com/supabridge/supabridge/shared/supabase"
)

const managementAPI = "The Supabase Management API"

// orgPlane is the directory of the organizations an OAuth grant or a
// personal access token reaches, through the Management API: the
// organizations themselves, their members, the four organization roles,
// and each member's role. The Management API's lists are not paginated, so
// a page is cut from the whole (small) member list, by id.
type orgPlane struct {
	acct *bridge.Account
	c    *supabase.Client
}

var _ plane = (*orgPlane)(nil)

// orgRoles are Supabase's organization roles, sorted by id.
func orgRoles() []directory.Role {
	return []directory.Role{
		{ID: "administrator", Name: "administrator", Label: "Administrator", Description: "Manages the organization's projects, members and settings, except billing and the owners."},
		{ID: "developer", Name: "developer", Label: "Developer", Description: "Works on the organization's projects' content; cannot change their settings."},
		{ID: "owner", Name: "owner", Label: "Owner", Description: "Full control of the organization, billing included."},
		{ID: "read-only", Name: "read-only", Label: "Read-only", Description: "Reads the organization's projects (Team and Enterprise plans)."},
	}
}

// Supports allows reads only: the Management API (v1) offers no way for an
// integration to change organizations, members or their roles.
func (o *orgPlane) Supports(res directory.Resource, op op) error {
	if op == opList || op == opGet {
		return nil
	}
	var why string
	switch res {
	case directory.Users:
		why = "Organization accounts cannot create, change or remove users: the Supabase Management API has no endpoint to invite, edit or remove organization members. Pass project_ref to manage a project's Auth users instead."
	case directory.Roles:
		why = "Organization roles are fixed by Supabase (owner, administrator, developer, read-only): they cannot be created, changed or deleted."
	case directory.Organizations:
		why = "The Supabase Management API does not let an integration create or rename organizations."
	default:
		why = "The Supabase Management API has no endpoint to change an organization member's role."
	}
	return bridge.Errorf(bridge.ENOTSUPPORTED, "%s", why).WithDetails(map[string]any{"plane": bridge.PlaneOrganization})
}

// org is one granted organization.
type org struct {
	slug, name string
	raw        json.RawMessage
}

// orgs returns the granted organizations: the account's own (no call), or
// for a token that reaches several, all of them.
func (o *orgPlane) orgs(ctx context.Context) ([]org, error) {
	if o.acct.OrganizationSlug != "" {
		return []org{{slug: o.acct.OrganizationSlug, name: o.acct.OrganizationName}}, nil
	}
	list, _, err := o.c.Management.ListOrganizations(ctx)
	if err != nil {
		return nil, upstream(err, managementAPI)
	}
	out := make([]org, 0, len(list))
	for _, x := range list {
		slug := cmp.Or(x.Slug, x.ID)
		raw, _ := json.Marshal(x)
		out = append(out, org{slug: slug, name: x.Name, raw: raw})
	}
	slices.SortFunc(out, func(a, b org) int { return strings.Compare(a.slug, b.slug) })
	return out, nil
}

func noRemote(q *listReq) error {
	for k := range q.Remote {
		return invalid("remote_query["+k+"]", "remote_query is not available on organization accounts: the Management API's lists take no query parameters.")
	}
	if !q.UpdatedAfter.IsZero() {
		return invalid(filterUpdatedAfter, "updated_after is not available on organization accounts: the Management API reports no update times.")
	}
	return nil
}

// pageByID cuts the page after the cursor's id from items sorted by id.
func pageByID[T any](items []T, id func(T) string, q *listReq) ([]T, any, error) {
	var pos keyPos
	if err := openPos(q.After, &pos); err != nil {
		return nil, nil, err
	}
	i := 0
	if pos.After != "" {
		i, _ = slices.BinarySearchFunc(items, pos.After, func(x T, k string) int {
			c := strings.Compare(id(x), k)
			if c == 0 {
				return -1 // start strictly after the cursor's id
			}
			return c
		})
	}
	items = items[i:]
	if len(items) <= q.Limit {
		return items, nil, nil
	}
	items = items[:q.Limit]
	return items, keyPos{After: id(items[len(items)-1])}, nil
}

// member is an organization member with the organizations they belong to.
type member struct {
	m       *supabase.Member
	entries []memberEntry
}

type memberEntry struct {
	org org
	raw *supabase.Member
}

// members lists the members of every granted organization, merged by user
// id and sorted by it.
func (o *orgPlane) members(ctx context.Context) ([]*member, error) {
	orgs, err := o.orgs(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]*member{}
	for _, g := range orgs {
		list, _, err := o.c.Management.ListMembers(ctx, g.slug)
		if err != nil {
			return nil, upstream(err, managementAPI)
		}
		for _, m := range list {
			x := byID[m.UserID]
			if x == nil {
				x = &member{m: m}
				byID[m.UserID] = x
			}
			x.entries = append(x.entries, memberEntry{org: g, raw: m})
		}
	}
	out := make([]*member, 0, len(byID))
	for _, m := range byID {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *member) int { return strings.Compare(a.m.UserID, b.m.UserID) })
	return out, nil
}

// memberRemote is an organization member's remote_data.
type memberRemote struct {
	Organization string           `json:"organization"`
	Member       *supabase.Member `json:"member"`
}

func (o *orgPlane) user(m *member, raw bool) directory.User {
	t := true
	v := directory.User{
		ID: m.m.UserID, Name: m.m.UserName, Username: m.m.UserName,
		Emails: []directory.Email{}, Phones: []directory.Phone{}, Roles: []directory.RoleRef{}, Organizations: []directory.OrganizationRef{},
		// Members are people who accepted an invitation: active.
		Status: directory.StatusActive,
	}
	if m.m.Email != "" {
		v.Emails = append(v.Emails, directory.Email{Email: m.m.Email, Type: "primary", IsPrimary: true})
		v.IsEmailVerified = &t
	}
	mfa := false
	var rd []memberRemote
	for _, e := range m.entries {
		ref := directory.OrganizationRef{ID: e.org.slug, Name: e.org.name}
		v.Organizations = append(v.Organizations, ref)
		v.Roles = append(v.Roles, directory.RoleRef{ID: e.raw.RoleName, Name: e.raw.RoleName, Organization: &ref})
		mfa = mfa || e.raw.MFAEnabled
		rd = append(rd, memberRemote{Organization: e.org.slug, Member: e.raw})
	}
	v.Is2FAEnabled = &mfa
	if raw {
		v.RemoteData, _ = json.Marshal(rd)
	}
	return v
}

func (o *orgPlane) ListUsers(ctx context.Context, q *listReq) ([]directory.User, any, error) {
	if err := noRemote(q); err != nil {
		return nil, nil, err
	}
	ms, err := o.members(ctx)
	if err != nil {
		return nil, nil, err
	}
	all := make([]directory.User, 0, len(ms))
	for _, m := range ms {
		v := o.user(m, q.Raw)
		if matches(&v, q) {
			all = append(all, v)
		}
	}
	return pageByID(all, func(u directory.User) string { return u.ID }, q)
}

func (o *orgPlane) GetUser(ctx context.Context, id string, raw bool) (*directory.User, error) {
	ms, err := o.members(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.m.UserID == id {
			v := o.user(m, raw)
			return &v, nil
		}
	}
	return nil, bridge.Errorf(bridge.ENOTFOUND, "User %s is not a member of this account's organizations.", id)
}

func (o *orgPlane) CreateUser(context.Context, *directory.UserInput, bool, bool) (*directory.User, error) {
	return nil, o.Supports(directory.Users, opCreate)
}

func (o *orgPlane) UpdateUser(context.Context, string, *directory.UserPatch, bool) (*directory.User, error) {
	return nil, o.Supports(directory.Users, opUpdate)
}

func (o *orgPlane) DeleteUser(context.Context, string) error {
	return o.Supports(directory.Users, opDelete)
}

func (o *orgPlane) ListRoles(_ context.Context, q *listReq) ([]directory.Role, any, error) {
	if err := noRemote(q); err != nil {
		return nil, nil, err
	}
	return pageByID(orgRoles(), func(r directory.Role) string { return r.ID }, q)
}

func (o *orgPlane) GetRole(_ context.Context, id string, _ bool) (*directory.Role, error) {
	for _, r := range orgRoles() {
		if r.ID == id {
			return &r, nil
		}
	}
	return nil, bridge.Errorf(bridge.ENOTFOUND, "Role %s not found: organization roles are owner, administrator, developer and read-only.", id)
}

func (o *orgPlane) CreateRole(context.Context, *directory.RoleInput, bool) (*directory.Role, error) {
	return nil, o.Supports(directory.Roles, opCreate)
}

func (o *orgPlane) UpdateRole(context.Context, string, *directory.RolePatch, bool) (*directory.Role, error) {
	return nil, o.Supports(directory.Roles, opUpdate)
}

func (o *orgPlane) DeleteRole(context.Context, string) error {
	return o.Supports(directory.Roles, opDelete)
}

func (o *orgPlane) organization(ctx context.Context, g org, raw bool) (directory.Organization, error) {
	v := directory.Organization{ID: g.slug, Name: g.name}
	if g.raw == nil {
		// The account's own organization: one read gives its name and
		// plan as they are now.
		d, _, err := o.c.Management.GetOrganization(ctx, g.slug)
		if err != nil {
			return v, upstream(err, managementAPI)
		}
		v.Name, v.PricingPlan = d.Name, d.Plan
		g.raw, _ = json.Marshal(d)
	}
	if raw {
		v.RemoteData = g.raw
	}
	return v, nil
}

func (o *orgPlane) ListOrganizations(ctx context.Context, q *listReq) ([]directory.Organization, any, error) {
	if err := noRemote(q); err != nil {
		return nil, nil, err
	}
	orgs, err := o.orgs(ctx)
	if err != nil {
		return nil, nil, err
	}
	all := make([]directory.Organization, 0, len(orgs))
	for _, g := range orgs {
		v, err := o.organization(ctx, g, q.Raw)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, v)
	}
	return pageByID(all, func(x directory.Organization) string { return x.ID }, q)
}

func (o *orgPlane) GetOrganization(ctx context.Context, id string, raw bool) (*directory.Organization, error) {
	orgs, err := o.orgs(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range orgs {
		if g.slug == id {
			g.raw = nil // read the detail (plan) of this one
			v, err := o.organization(ctx, g, raw)
			if err != nil {
				return nil, err
			}
			return &v, nil
		}
	}
	return nil, bridge.Errorf(bridge.ENOTFOUND, "Organization %s is not one this account reaches.", id)
}

func (o *orgPlane) CreateOrganization(context.Context, *directory.OrganizationInput, bool) (*directory.Organization, error) {
	return nil, o.Supports(directory.Organizations, opCreate)
}

func (o *orgPlane) UpdateOrganization(context.Context, string, *directory.OrganizationPatch, bool) (*directory.Organization, error) {
	return nil, o.Supports(directory.Organizations, opUpdate)
}

// assignmentID names a member's role in an organization.
func assignmentID(slug, userID string) string { return slug + ":" + userID }

func (o *orgPlane) assignments(ctx context.Context, raw bool) ([]directory.RoleAssignment, error) {
	ms, err := o.members(ctx)
	if err != nil {
		return nil, err
	}
	var out []directory.RoleAssignment
	for _, m := range ms {
		for _, e := range m.entries {
			a := directory.RoleAssignment{ID: assignmentID(e.org.slug, m.m.UserID), UserID: m.m.UserID, RoleID: e.raw.RoleName, OrganizationID: e.org.slug}
			if raw {
				a.RemoteData, _ = json.Marshal(memberRemote{Organization: e.org.slug, Member: e.raw})
			}
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b directory.RoleAssignment) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (o *orgPlane) ListRoleAssignments(ctx context.Context, q *listReq) ([]directory.RoleAssignment, any, error) {
	if err := noRemote(q); err != nil {
		return nil, nil, err
	}
	all, err := o.assignments(ctx, q.Raw)
	if err != nil {
		return nil, nil, err
	}
	kept := all[:0]
	for _, a := range all {
		if v, ok := q.Filters[filterUserID]; ok && a.UserID != v {
			continue
		}
		if v, ok := q.Filters[filterRoleID]; ok && a.RoleID != v {
			continue
		}
		if v, ok := q.Filters[filterOrganizationID]; ok && a.OrganizationID != v {
			continue
		}
		kept = append(kept, a)
	}
	return pageByID(kept, func(a directory.RoleAssignment) string { return a.ID }, q)
}

func (o *orgPlane) GetRoleAssignment(ctx context.Context, id string, raw bool) (*directory.RoleAssignment, error) {
	all, err := o.assignments(ctx, raw)
	if err != nil {
		return nil, err
	}
	for _, a := range all {
		if a.ID == id {
			return &a, nil
		}
	}
	return nil, bridge.Errorf(bridge.ENOTFOUND, "Role assignment %s not found (organization role assignments are named <organization slug>:<user id>).", id)
}

func (o *orgPlane) CreateRoleAssignment(context.Context, *directory.RoleAssignmentInput, bool) (*directory.RoleAssignment, error) {
	return nil, o.Supports(directory.RoleAssignments, opCreate)
}

func (o *orgPlane) DeleteRoleAssignment(context.Context, string) error {
	return o.Supports(directory.RoleAssignments, opDelete)
}
