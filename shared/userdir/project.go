package userdir

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/directory"
	"github.com/supabridge/supabridge/shared/supabase"
)

// maxRows is Supabase's default db-max-rows: no read returns more.
const maxRows = 1000

const dataAPI = "The project's Data API"

// projectPlane is the directory of one project: Auth users joined with the
// customer's directory tables.
type projectPlane struct {
	h    *Handler
	acct *bridge.Account
	ref  string
	c    *supabase.Client
	t    tables
}

var _ plane = (*projectPlane)(nil)

func (pp *projectPlane) Supports(directory.Resource, op) error { return nil }

// schema is the profile header value, empty for the default schema.
func (pp *projectPlane) schema() string {
	if pp.t.Schema == "public" {
		return ""
	}
	return pp.t.Schema
}

// row is one table row as PostgREST returns it.
type row map[string]json.RawMessage

// decodeRows decodes a JSON array of objects, keeping numbers exact.
func decodeRows(b []byte) ([]row, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var rows []row
	if err := dec.Decode(&rows); err != nil {
		return nil, bridge.Errorf(bridge.EREMOTE, "%s returned rows that are not JSON objects.", dataAPI).WithCause(err)
	}
	return rows, nil
}

// str returns a column as text: strings as they are, numbers in decimal,
// null and absent as "".
func (r row) str(col string) string {
	if col == "" {
		return ""
	}
	v := bytes.TrimSpace(r[col])
	switch {
	case len(v) == 0 || string(v) == "null":
		return ""
	case v[0] == '"':
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
		return ""
	}
	return string(v)
}

// time returns a timestamp column, nil when absent or unreadable.
func (r row) time(col string) *time.Time {
	s := r.str(col)
	if s == "" {
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t
		}
	}
	return nil
}

// without returns a copy of the row without the named keys (embeds added
// by a read).
func (r row) without(drop ...string) row {
	c := make(row, len(r))
	for k, v := range r {
		if !slices.Contains(drop, k) {
			c[k] = v
		}
	}
	return c
}

// raw encodes the row without the named keys.
func (r row) raw(drop ...string) json.RawMessage {
	if len(drop) > 0 {
		r = r.without(drop...)
	}
	b, _ := json.Marshal(r) // a map of raw JSON values always encodes
	return b
}

// selectRows reads rows of t.
func (pp *projectPlane) selectRows(ctx context.Context, t table, opts *supabase.SelectOptions) ([]row, error) {
	opts.Schema = pp.schema()
	var buf bytes.Buffer
	if _, err := pp.c.REST.Select(ctx, t.Name, opts, &buf); err != nil {
		return nil, upstream(err, dataAPI)
	}
	return decodeRows(buf.Bytes())
}

// keyPos is a keyset position: the last id returned.
type keyPos struct {
	After string `json:"a"`
}

func openPos(raw json.RawMessage, v any) error {
	if raw == nil {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return bridge.Errorf(bridge.EINVALID, "The cursor is invalid for this request; start again without one.").
			WithDetails(map[string]any{"parameter": "next_cursor"})
	}
	return nil
}

// keyset reads one page of t ordered by id, after the cursor's id, with
// filters and the caller's remote_query; it returns the rows and the next
// position.
func (pp *projectPlane) keyset(ctx context.Context, t table, q *listReq, filters []supabase.Filter) ([]row, any, error) {
	var pos keyPos
	if err := openPos(q.After, &pos); err != nil {
		return nil, nil, err
	}
	id := t.col("id")
	if pos.After != "" {
		filters = append(filters, supabase.Gt(id, pos.After))
	}
	if !q.UpdatedAfter.IsZero() {
		col := t.col("updated_at")
		if col == "" {
			return nil, nil, invalid(filterUpdatedAfter, "updated_after is not available: this account's %s table has no updated_at column.", t.Name)
		}
		filters = append(filters, supabase.Gt(col, q.UpdatedAfter))
	}
	ask := min(q.Limit+1, maxRows)
	rows, err := pp.selectRows(ctx, t, &supabase.SelectOptions{
		Filters: filters, Order: []supabase.Order{{Column: id}}, Limit: ask, Params: q.Remote,
	})
	if err != nil {
		return nil, nil, blameRemoteQuery(err, q)
	}
	// A full page at the server's row cap may have more behind it.
	more := len(rows) > q.Limit || (len(rows) == ask && ask == q.Limit)
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
	}
	if !more || len(rows) == 0 {
		return rows, nil, nil
	}
	return rows, keyPos{After: rows[len(rows)-1].str(id)}, nil
}

// one reads the row of t whose id is id, or ENOTFOUND.
func (pp *projectPlane) one(ctx context.Context, t table, what, id string) (row, error) {
	rows, err := pp.selectRows(ctx, t, &supabase.SelectOptions{Filters: []supabase.Filter{supabase.Eq(t.col("id"), id)}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, bridge.Errorf(bridge.ENOTFOUND, "%s %s not found.", what, id)
	}
	return rows[0], nil
}

// insert inserts values into t and returns the row written.
func (pp *projectPlane) insert(ctx context.Context, t table, values map[string]any) (row, error) {
	var buf bytes.Buffer
	_, err := pp.c.REST.Insert(ctx, t.Name, values, &supabase.InsertOptions{Return: supabase.ReturnRepresentation, Schema: pp.schema()}, &buf)
	if err != nil {
		return nil, upstream(err, dataAPI)
	}
	rows, err := decodeRows(buf.Bytes())
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, bridge.Errorf(bridge.EREMOTE, "%s returned %d rows for one insert.", dataAPI, len(rows))
	}
	return rows[0], nil
}

// change updates (values non-nil) or deletes the row of t with id; a
// missing row is ENOTFOUND.
func (pp *projectPlane) change(ctx context.Context, t table, what, id string, values map[string]any) (row, error) {
	opts := &supabase.UpdateOptions{Filters: []supabase.Filter{supabase.Eq(t.col("id"), id)}, Return: supabase.ReturnRepresentation, Schema: pp.schema()}
	var buf bytes.Buffer
	var err error
	if values != nil {
		_, err = pp.c.REST.Update(ctx, t.Name, values, opts, &buf)
	} else {
		_, err = pp.c.REST.Delete(ctx, t.Name, opts, &buf)
	}
	if err != nil {
		return nil, upstream(err, dataAPI)
	}
	rows, err := decodeRows(buf.Bytes())
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, bridge.Errorf(bridge.ENOTFOUND, "%s %s not found.", what, id)
	}
	return rows[0], nil
}

// set adds v under the column of field, if the table has one.
func set(values map[string]any, t table, field string, v any) {
	if c := t.col(field); c != "" {
		values[c] = v
	}
}

// ---- roles

func (pp *projectPlane) role(r row, raw bool) directory.Role {
	t := pp.t.Roles
	v := directory.Role{
		ID: r.str(t.col("id")), Name: r.str(t.col("name")), Description: r.str(t.col("description")),
		CreatedAt: r.time(t.col("created_at")), UpdatedAt: r.time(t.col("updated_at")),
	}
	if raw {
		v.RemoteData = r.raw()
	}
	return v
}

func (pp *projectPlane) ListRoles(ctx context.Context, q *listReq) ([]directory.Role, any, error) {
	rows, next, err := pp.keyset(ctx, pp.t.Roles, q, nil)
	if err != nil {
		return nil, nil, err
	}
	out := make([]directory.Role, len(rows))
	for i, r := range rows {
		out[i] = pp.role(r, q.Raw)
	}
	return out, next, nil
}

func (pp *projectPlane) GetRole(ctx context.Context, id string, raw bool) (*directory.Role, error) {
	r, err := pp.one(ctx, pp.t.Roles, "Role", id)
	if err != nil {
		return nil, err
	}
	v := pp.role(r, raw)
	return &v, nil
}

func (pp *projectPlane) CreateRole(ctx context.Context, in *directory.RoleInput, raw bool) (*directory.Role, error) {
	values := map[string]any{}
	set(values, pp.t.Roles, "name", strings.TrimSpace(in.Name))
	if in.Description != "" {
		if pp.t.Roles.col("description") == "" {
			return nil, bridge.Errorf(bridge.EUNPROCESSABLE, "This account's roles table has no description column.")
		}
		set(values, pp.t.Roles, "description", in.Description)
	}
	r, err := pp.insert(ctx, pp.t.Roles, values)
	if err != nil {
		return nil, err
	}
	v := pp.role(r, raw)
	return &v, nil
}

func (pp *projectPlane) UpdateRole(ctx context.Context, id string, p *directory.RolePatch, raw bool) (*directory.Role, error) {
	values := map[string]any{}
	if p.Name != nil {
		set(values, pp.t.Roles, "name", strings.TrimSpace(*p.Name))
	}
	if p.Description != nil {
		if pp.t.Roles.col("description") == "" {
			return nil, bridge.Errorf(bridge.EUNPROCESSABLE, "This account's roles table has no description column.")
		}
		set(values, pp.t.Roles, "description", *p.Description)
	}
	r, err := pp.change(ctx, pp.t.Roles, "Role", id, values)
	if err != nil {
		return nil, err
	}
	v := pp.role(r, raw)
	return &v, nil
}

// DeleteRole deletes the role; the default schema removes its assignments
// with it (ON DELETE CASCADE), a schema without the cascade refuses (409).
func (pp *projectPlane) DeleteRole(ctx context.Context, id string) error {
	_, err := pp.change(ctx, pp.t.Roles, "Role", id, nil)
	return err
}

// ---- organizations

func (pp *projectPlane) organization(r row, raw bool) directory.Organization {
	t := pp.t.Organizations
	v := directory.Organization{
		ID: r.str(t.col("id")), Name: r.str(t.col("name")),
		CreatedAt: r.time(t.col("created_at")), UpdatedAt: r.time(t.col("updated_at")),
	}
	if raw {
		v.RemoteData = r.raw()
	}
	return v
}

func (pp *projectPlane) ListOrganizations(ctx context.Context, q *listReq) ([]directory.Organization, any, error) {
	rows, next, err := pp.keyset(ctx, pp.t.Organizations, q, nil)
	if err != nil {
		return nil, nil, err
	}
	out := make([]directory.Organization, len(rows))
	for i, r := range rows {
		out[i] = pp.organization(r, q.Raw)
	}
	return out, next, nil
}

func (pp *projectPlane) GetOrganization(ctx context.Context, id string, raw bool) (*directory.Organization, error) {
	r, err := pp.one(ctx, pp.t.Organizations, "Organization", id)
	if err != nil {
		return nil, err
	}
	v := pp.organization(r, raw)
	return &v, nil
}

func (pp *projectPlane) CreateOrganization(ctx context.Context, in *directory.OrganizationInput, raw bool) (*directory.Organization, error) {
	values := map[string]any{}
	set(values, pp.t.Organizations, "name", strings.TrimSpace(in.Name))
	r, err := pp.insert(ctx, pp.t.Organizations, values)
	if err != nil {
		return nil, err
	}
	v := pp.organization(r, raw)
	return &v, nil
}

func (pp *projectPlane) UpdateOrganization(ctx context.Context, id string, p *directory.OrganizationPatch, raw bool) (*directory.Organization, error) {
	values := map[string]any{}
	set(values, pp.t.Organizations, "name", strings.TrimSpace(*p.Name))
	r, err := pp.change(ctx, pp.t.Organizations, "Organization", id, values)
	if err != nil {
		return nil, err
	}
	v := pp.organization(r, raw)
	return &v, nil
}

// ---- role assignments

func (pp *projectPlane) assignment(r row, raw bool) directory.RoleAssignment {
	t := pp.t.UserRoles
	v := directory.RoleAssignment{
		ID: r.str(t.col("id")), UserID: r.str(t.col("user_id")), RoleID: r.str(t.col("role_id")),
		OrganizationID: r.str(t.col("organization_id")),
		CreatedAt:      r.time(t.col("created_at")), UpdatedAt: r.time(t.col("updated_at")),
	}
	if raw {
		v.RemoteData = r.raw(embedRole, embedOrg)
	}
	return v
}

func (pp *projectPlane) ListRoleAssignments(ctx context.Context, q *listReq) ([]directory.RoleAssignment, any, error) {
	t := pp.t.UserRoles
	var fs []supabase.Filter
	for _, f := range []string{filterUserID, filterRoleID, filterOrganizationID} {
		if v, ok := q.Filters[f]; ok {
			fs = append(fs, supabase.Eq(t.col(f), v))
		}
	}
	rows, next, err := pp.keyset(ctx, t, q, fs)
	if err != nil {
		return nil, nil, err
	}
	out := make([]directory.RoleAssignment, len(rows))
	for i, r := range rows {
		out[i] = pp.assignment(r, q.Raw)
	}
	return out, next, nil
}

func (pp *projectPlane) GetRoleAssignment(ctx context.Context, id string, raw bool) (*directory.RoleAssignment, error) {
	r, err := pp.one(ctx, pp.t.UserRoles, "Role assignment", id)
	if err != nil {
		return nil, err
	}
	v := pp.assignment(r, raw)
	return &v, nil
}

// ensureProfile makes sure the user has a profile row, which role
// assignments reference in the default schema (and which the schema's
// trigger creates for every new Auth user; users older than the schema may
// lack one). A user_id that is no Auth user fails here (409).
func (pp *projectPlane) ensureProfile(ctx context.Context, userID string) error {
	values := map[string]any{pp.t.Profiles.col("id"): userID}
	_, err := pp.c.REST.Upsert(ctx, pp.t.Profiles.Name, values, &supabase.InsertOptions{
		OnConflict: []string{pp.t.Profiles.col("id")}, Resolution: supabase.IgnoreDuplicates, Schema: pp.schema(),
	}, nil)
	return upstream(err, dataAPI)
}

func (pp *projectPlane) CreateRoleAssignment(ctx context.Context, in *directory.RoleAssignmentInput, raw bool) (*directory.RoleAssignment, error) {
	if err := pp.ensureProfile(ctx, in.UserID); err != nil {
		return nil, err
	}
	t := pp.t.UserRoles
	values := map[string]any{t.col("user_id"): in.UserID, t.col("role_id"): in.RoleID, t.col("organization_id"): in.OrganizationID}
	r, err := pp.insert(ctx, t, values)
	if err != nil {
		return nil, err
	}
	v := pp.assignment(r, raw)
	return &v, nil
}

func (pp *projectPlane) DeleteRoleAssignment(ctx context.Context, id string) error {
	_, err := pp.change(ctx, pp.t.UserRoles, "Role assignment", id, nil)
	return err
}
