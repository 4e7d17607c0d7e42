package userdir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/directory"
	"github.com/supabridge/supabridge/shared/supabase"
)

// banForever is the ban set for status inactive: Auth bans for a
// duration, and a century is as close to "until lifted" as it offers.
const banForever = "876000h"

// compensationTimeout bounds the calls that undo a half-done write; they
// run even when the caller has gone.
const compensationTimeout = 30 * time.Second

// nameFields maps the unified name fields to the user_metadata keys they
// fall back to when the profiles table has no column for them.
func nameFields() [5][2]string {
	return [5][2]string{
		{"first_name", "first_name"}, {"last_name", "last_name"}, {"name", "full_name"},
		{"username", "user_name"}, {"avatar", "avatar_url"},
	}
}

// placeNames splits name values between profile columns and Auth's
// user_metadata (for fields the profiles table has no column for). Nil
// values are absent.
func (pp *projectPlane) placeNames(vals map[string]*string) (profile map[string]any, meta map[string]any) {
	profile, meta = map[string]any{}, map[string]any{}
	for _, nf := range nameFields() {
		v := vals[nf[0]]
		if v == nil {
			continue
		}
		if c := pp.t.Profiles.col(nf[0]); c != "" {
			profile[c] = *v
		} else {
			meta[nf[1]] = *v
		}
	}
	return profile, meta
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// upsertProfile writes the user's profile row (creating it if needed) and
// returns it.
func (pp *projectPlane) upsertProfile(ctx context.Context, userID string, values map[string]any) (row, error) {
	t := pp.t.Profiles
	v := map[string]any{t.col("id"): userID}
	for k, x := range values {
		v[k] = x
	}
	var buf bytes.Buffer
	_, err := pp.c.REST.Upsert(ctx, t.Name, v, &supabase.InsertOptions{
		OnConflict: []string{t.col("id")}, Return: supabase.ReturnRepresentation, Schema: pp.schema(),
	}, &buf)
	if err != nil {
		return nil, upstream(err, dataAPI)
	}
	rows, err := decodeRows(buf.Bytes())
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, bridge.Errorf(bridge.EREMOTE, "%s returned %d rows for one profile.", dataAPI, len(rows))
	}
	return rows[0], nil
}

// insertAssignments writes role assignments of one user and returns them
// with their roles' and organizations' names.
func (pp *projectPlane) insertAssignments(ctx context.Context, userID string, grants []directory.RoleGrant) ([]assignment, error) {
	t := pp.t.UserRoles
	rows := make([]map[string]any, len(grants))
	for i, g := range grants {
		rows[i] = map[string]any{t.col("user_id"): userID, t.col("role_id"): g.RoleID, t.col("organization_id"): g.OrganizationID}
	}
	var buf bytes.Buffer
	_, err := pp.c.REST.Insert(ctx, t.Name, rows, &supabase.InsertOptions{
		Return: supabase.ReturnRepresentation, Select: []string{"*", pp.embeds()}, Schema: pp.schema(),
	}, &buf)
	if err != nil {
		return nil, upstream(err, dataAPI)
	}
	got, err := decodeRows(buf.Bytes())
	if err != nil {
		return nil, err
	}
	out := make([]assignment, len(got))
	for i, r := range got {
		out[i] = pp.toAssignment(r)
	}
	return out, nil
}

// deleteRows deletes rows of t matching f and returns them.
func (pp *projectPlane) deleteRows(ctx context.Context, t table, f supabase.Filter) ([]row, error) {
	var buf bytes.Buffer
	_, err := pp.c.REST.Delete(ctx, t.Name, &supabase.UpdateOptions{Filters: []supabase.Filter{f}, Return: supabase.ReturnRepresentation, Schema: pp.schema()}, &buf)
	if err != nil {
		return nil, upstream(err, dataAPI)
	}
	return decodeRows(buf.Bytes())
}

// restoreRows inserts rows back as they were (ids included).
func (pp *projectPlane) restoreRows(ctx context.Context, t table, rows []row) error {
	if len(rows) == 0 {
		return nil
	}
	body := make([]map[string]json.RawMessage, len(rows))
	for i, r := range rows {
		body[i] = map[string]json.RawMessage(r)
	}
	_, err := pp.c.REST.Insert(ctx, t.Name, body, &supabase.InsertOptions{Schema: pp.schema()}, nil)
	return upstream(err, dataAPI)
}

// halfDone reports a write that failed after some of its steps: what
// failed, with the cause's code, status and upstream body, and whether the
// steps already done were undone.
func halfDone(cause error, userID, failed string, done []string, undoErr error, undone string) error {
	msg := fmt.Sprintf("%s failed: %s", failed, bridge.ErrorMessage(cause))
	details := map[string]any{"failed_step": failed, "completed_steps": done, "user_id": userID}
	if len(done) > 0 {
		if undoErr == nil {
			msg += " " + undone
			details["compensated"] = true
		} else {
			msg += fmt.Sprintf(" Undoing the steps already done (%s) failed too (%s): user %s is left with them; retry, or delete the user.",
				strings.Join(done, ", "), bridge.ErrorMessage(undoErr), userID)
			details["compensated"] = false
			details["compensation_error"] = bridge.ErrorMessage(undoErr)
		}
	}
	var be *bridge.Error
	if errors.As(cause, &be) && be.Details != nil {
		details["remote"] = be.Details
	}
	return &bridge.Error{Code: bridge.ErrorCode(cause), Message: msg, Details: details, Err: cause}
}

// CreateUser creates the Auth user (or invites it), then its profile row,
// then its role assignments. If a directory write fails, the Auth user is
// deleted again, so a failed create leaves nothing behind; if that fails
// too, the error says exactly what exists.
func (pp *projectPlane) CreateUser(ctx context.Context, in *directory.UserInput, invite, raw bool) (*directory.User, error) {
	profileVals, meta := pp.placeNames(map[string]*string{
		"first_name": strp(in.FirstName), "last_name": strp(in.LastName), "name": strp(in.Name),
		"username": strp(in.Username), "avatar": strp(in.Avatar),
	})
	for k, v := range in.UserMetadata {
		if _, set := meta[k]; !set {
			meta[k] = v
		}
	}
	if len(meta) == 0 {
		meta = nil
	}
	var u *supabase.User
	var err error
	if invite {
		switch {
		case in.Email == "":
			return nil, bridge.Errorf(bridge.EUNPROCESSABLE, "invite=true needs an email: the invitation is sent there.")
		case in.Phone != "" || in.Password != "" || in.EmailVerified:
			return nil, bridge.Errorf(bridge.EUNPROCESSABLE, "An invited user confirms their email and sets a password from the invitation: send email, names, roles and user_metadata only.")
		}
		u, _, err = pp.c.Auth.InviteUser(ctx, in.Email, &supabase.InviteOptions{Data: meta})
	} else {
		u, _, err = pp.c.Auth.CreateUser(ctx, &supabase.AdminUserAttributes{
			Email: in.Email, Phone: in.Phone, Password: in.Password, EmailConfirm: in.EmailVerified, UserMetadata: meta,
		})
	}
	if err != nil {
		return nil, upstream(err, authAPI)
	}
	done := []string{"auth_user"}
	entry := &dirEntry{}
	entry.profile, err = pp.upsertProfile(ctx, u.ID, profileVals)
	failed := "profile"
	if err == nil && len(in.Roles) > 0 {
		done = append(done, "profile")
		failed = "role_assignments"
		entry.assignments, err = pp.insertAssignments(ctx, u.ID, in.Roles)
	}
	if err != nil {
		undoErr := pp.removeCreated(ctx, u.ID)
		undone := "The Auth user created first was deleted again: nothing was created."
		if invite {
			undone = "The invited Auth user was deleted again (its invitation email was already sent; its link no longer works): nothing was created."
		}
		return nil, halfDone(err, u.ID, failed, done, undoErr, undone)
	}
	v := pp.toUser(u, entry, raw, false)
	return &v, nil
}

// removeCreated undoes a half-done create: directory rows first (for
// schemas without cascades), then the Auth user.
func (pp *projectPlane) removeCreated(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), compensationTimeout)
	defer cancel()
	if _, err := pp.deleteRows(ctx, pp.t.UserRoles, supabase.Eq(pp.t.UserRoles.col("user_id"), id)); err != nil {
		return err
	}
	if _, err := pp.deleteRows(ctx, pp.t.Profiles, supabase.Eq(pp.t.Profiles.col("id"), id)); err != nil {
		return err
	}
	_, err := pp.c.Auth.DeleteUser(ctx, id, false)
	return upstream(err, authAPI)
}

// undo is one step to reverse a half-done update.
type undo struct {
	step string
	fn   func(ctx context.Context) error
}

// UpdateUser changes the directory rows first (profile, removed and added
// role assignments), each with a way back, then the Auth user. A failed
// step undoes the steps before it, so an update applies entirely or not at
// all; when undoing fails too, the error lists what was left applied.
func (pp *projectPlane) UpdateUser(ctx context.Context, id string, p *directory.UserPatch, raw bool) (*directory.User, error) {
	u, _, err := pp.c.Auth.GetUser(ctx, id)
	if err != nil {
		return nil, upstream(err, authAPI)
	}
	entries, err := pp.directoryRead(ctx, []string{u.ID})
	if err != nil {
		return nil, err
	}
	cur := entries[u.ID]
	profileVals, meta := pp.placeNames(map[string]*string{
		"first_name": p.FirstName, "last_name": p.LastName, "name": p.Name, "username": p.Username, "avatar": p.Avatar,
	})
	for k, v := range p.UserMetadata {
		if _, set := meta[k]; !set {
			meta[k] = v
		}
	}
	attrs := supabase.AdminUserAttributes{UserMetadata: meta}
	if p.Email != nil {
		attrs.Email = *p.Email
	}
	if p.Phone != nil {
		attrs.Phone = *p.Phone
	}
	if p.Password != nil {
		attrs.Password = *p.Password
	}
	if p.EmailVerified != nil {
		if !*p.EmailVerified && u.EmailConfirmedAt != nil {
			return nil, bridge.Errorf(bridge.EUNPROCESSABLE, "Auth cannot mark a confirmed email as unverified.").
				WithDetails(map[string]any{"failures": []directory.FieldError{{Field: "is_email_verified", Message: "A confirmed email cannot be unverified."}}})
		}
		attrs.EmailConfirm = *p.EmailVerified
	}
	if p.Status != nil {
		attrs.BanDuration = "none"
		if *p.Status == directory.StatusInactive {
			attrs.BanDuration = banForever
		}
	}
	if len(attrs.UserMetadata) == 0 {
		attrs.UserMetadata = nil
	}
	authChange := attrs.Email != "" || attrs.Phone != "" || attrs.Password != "" || attrs.EmailConfirm || attrs.BanDuration != "" || attrs.UserMetadata != nil

	var undos []undo
	var done []string
	fail := func(step string, cause error) error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), compensationTimeout)
		defer cancel()
		var undoErr error
		for i := len(undos) - 1; i >= 0 && undoErr == nil; i-- {
			undoErr = undos[i].fn(ctx)
		}
		return halfDone(cause, u.ID, step, done, undoErr, "The steps already done were undone: the user is unchanged.")
	}

	if len(profileVals) > 0 {
		prev := map[string]any{}
		for c := range profileVals {
			if cur.profile != nil {
				prev[c] = cur.profile[c]
			} else {
				prev[c] = nil
			}
		}
		if _, err := pp.upsertProfile(ctx, u.ID, profileVals); err != nil {
			return nil, fail("profile", err)
		}
		done = append(done, "profile")
		undos = append(undos, undo{"profile", func(ctx context.Context) error {
			_, err := pp.upsertProfile(ctx, u.ID, prev)
			return err
		}})
	}
	if p.Roles != nil {
		want := *p.Roles
		var remove []string
		var removed []row
		for _, a := range cur.assignments {
			if !slices.Contains(want, directory.RoleGrant{RoleID: a.roleID, OrganizationID: a.orgID}) {
				remove = append(remove, a.id)
				removed = append(removed, a.row.without(embedRole, embedOrg))
			}
		}
		var add []directory.RoleGrant
		for _, g := range want {
			if !slices.ContainsFunc(cur.assignments, func(a assignment) bool { return a.roleID == g.RoleID && a.orgID == g.OrganizationID }) {
				add = append(add, g)
			}
		}
		ur := pp.t.UserRoles
		if len(remove) > 0 {
			if _, err := pp.deleteRows(ctx, ur, supabase.In(ur.col("id"), remove...)); err != nil {
				return nil, fail("role_assignments", err)
			}
			done = append(done, "role_assignments_removed")
			undos = append(undos, undo{"role_assignments_removed", func(ctx context.Context) error { return pp.restoreRows(ctx, ur, removed) }})
		}
		if len(add) > 0 {
			added, err := pp.insertAssignments(ctx, u.ID, add)
			if err != nil {
				return nil, fail("role_assignments", err)
			}
			ids := make([]string, len(added))
			for i, a := range added {
				ids[i] = a.id
			}
			done = append(done, "role_assignments_added")
			undos = append(undos, undo{"role_assignments_added", func(ctx context.Context) error {
				_, err := pp.deleteRows(ctx, ur, supabase.In(ur.col("id"), ids...))
				return err
			}})
		}
	}
	if authChange {
		nu, _, err := pp.c.Auth.UpdateUser(ctx, u.ID, &attrs)
		if err != nil {
			return nil, fail("auth_user", upstream(err, authAPI))
		}
		if nu.Factors == nil {
			// Auth's update answer may leave factors out; an update does
			// not change them.
			nu.Factors = u.Factors
		}
		u = nu
	}
	entries, err = pp.directoryRead(ctx, []string{u.ID})
	if err != nil {
		return nil, err
	}
	v := pp.toUser(u, entries[u.ID], raw, false)
	return &v, nil
}

// DeleteUser removes the user's role assignments and profile, then the
// Auth user. If Auth refuses, the rows are put back as they were.
func (pp *projectPlane) DeleteUser(ctx context.Context, id string) error {
	u, _, err := pp.c.Auth.GetUser(ctx, id)
	if err != nil {
		return upstream(err, authAPI)
	}
	ur, pt := pp.t.UserRoles, pp.t.Profiles
	roles, err := pp.deleteRows(ctx, ur, supabase.Eq(ur.col("user_id"), u.ID))
	if err != nil {
		return halfDone(err, u.ID, "role_assignments", nil, nil, "")
	}
	profile, err := pp.deleteRows(ctx, pt, supabase.Eq(pt.col("id"), u.ID))
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), compensationTimeout)
		defer cancel()
		undoErr := pp.restoreRows(rctx, ur, roles)
		return halfDone(err, u.ID, "profile", []string{"role_assignments_removed"}, undoErr, "The role assignments were put back: the user is unchanged.")
	}
	if _, err := pp.c.Auth.DeleteUser(ctx, u.ID, false); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), compensationTimeout)
		defer cancel()
		undoErr := pp.restoreRows(rctx, pt, profile)
		if undoErr == nil {
			undoErr = pp.restoreRows(rctx, ur, roles)
		}
		return halfDone(upstream(err, authAPI), u.ID, "auth_user", []string{"role_assignments_removed", "profile_removed"}, undoErr,
			"The profile and role assignments were put back: the user is unchanged.")
	}
	return nil
}
