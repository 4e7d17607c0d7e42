package userdir

import (
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/directory"
	"github.com/supabridge/supabridge/shared/httpapi"
)

// Page size bounds.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Filter names.
const (
	filterEmail          = "email"
	filterStatus         = "status"
	filterRoleID         = "role_id"
	filterOrganizationID = "organization_id"
	filterUserID         = "user_id"
	filterUpdatedAfter   = "updated_after"
)

// listFilters are the filters each resource's list accepts.
func listFilters(r directory.Resource) []string {
	switch r {
	case directory.Users:
		return []string{filterEmail, filterStatus, filterRoleID, filterOrganizationID, filterUpdatedAfter}
	case directory.RoleAssignments:
		return []string{filterUserID, filterRoleID, filterOrganizationID, filterUpdatedAfter}
	case directory.Roles, directory.Organizations:
		return []string{filterUpdatedAfter}
	}
	return nil
}

// reservedRemote reports upstream parameters the API itself sets to page
// and shape results; passing them through would break paging.
func reservedRemote(k string) bool {
	switch strings.ToLower(k) {
	case "select", "order", "limit", "offset", "columns", "on_conflict", "page", "per_page", "sort", "apikey":
		return true
	}
	return false
}

// params is a request's parsed query string.
type params struct {
	AccountID  string
	ProjectRef string
	Limit      int
	Cursor     string
	// Filters holds the filters given, by name; UpdatedAfter is the parsed
	// updated_after.
	Filters      map[string]string
	UpdatedAfter time.Time
	// Remote holds remote_query[key]=value pairs, passed upstream as is.
	Remote           url.Values
	Exclude          []string
	IgnoreRemoteData bool
	Invite           bool
}

func invalid(param, format string, args ...any) error {
	return bridge.Errorf(bridge.EINVALID, format, args...).WithDetails(map[string]any{"parameter": param})
}

// single returns the only value of a parameter, or EINVALID when it was
// given several times.
func single(q url.Values, k string) (string, error) {
	vs := q[k]
	if len(vs) > 1 {
		return "", invalid(k, "%s may be given only once.", k)
	}
	if len(vs) == 0 {
		return "", nil
	}
	return vs[0], nil
}

func parseBool(k, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, invalid(k, "%s must be true or false.", k)
}

// parseParams reads the query string of one operation on one resource.
// Every problem is an EINVALID naming the parameter; it never panics,
// whatever q holds.
func parseParams(res directory.Resource, o op, q url.Values) (*params, error) {
	p := &params{Limit: DefaultLimit, Filters: map[string]string{}}
	allowed := []string{"integrated_account_id", "project_ref", "ignore_remote_data", "exclude_fields[]", "exclude_fields"}
	filters := []string(nil)
	switch o {
	case opList:
		filters = listFilters(res)
		allowed = append(allowed, "limit", "next_cursor", "remote_query[…]")
		allowed = append(allowed, filters...)
	case opCreate:
		if res == directory.Users {
			allowed = append(allowed, "invite")
		}
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first unknown parameter named is deterministic
	for _, k := range keys {
		vs := q[k]
		if !utf8.ValidString(k) || len(k) > 256 {
			return nil, invalid("", "A query parameter name is not valid UTF-8 or is too long.")
		}
		for _, v := range vs {
			if !utf8.ValidString(v) || len(v) > 4096 {
				return nil, invalid(k, "%s is not valid UTF-8 or is longer than 4096 bytes.", k)
			}
		}
		if rk, ok := remoteKey(k); ok && o == opList {
			if rk == "" || strings.ContainsAny(rk, "[]") {
				return nil, invalid(k, "Write remote parameters as remote_query[name]=value.")
			}
			if reservedRemote(rk) {
				return nil, invalid(k, "remote_query[%s] is reserved: Supabridge sets it to page and shape the result.", rk)
			}
			if p.Remote == nil {
				p.Remote = url.Values{}
			}
			p.Remote[rk] = append(p.Remote[rk], vs...)
			continue
		}
		if !slices.Contains(allowed, k) {
			return nil, invalid(k, "Unknown query parameter %q; allowed: %s.", k, strings.Join(allowed, ", "))
		}
		var err error
		switch k {
		case "integrated_account_id":
			p.AccountID, err = single(q, k)
		case "project_ref":
			p.ProjectRef, err = single(q, k)
		case "next_cursor":
			p.Cursor, err = single(q, k)
		case "limit":
			if _, err = single(q, k); err == nil {
				p.Limit, err = httpapi.Limit(q, DefaultLimit, MaxLimit)
			}
		case "ignore_remote_data":
			var v string
			if v, err = single(q, k); err == nil {
				p.IgnoreRemoteData, err = parseBool(k, v)
			}
		case "invite":
			var v string
			if v, err = single(q, k); err == nil {
				p.Invite, err = parseBool(k, v)
			}
		case "exclude_fields[]", "exclude_fields":
			err = p.addExclusions(res, k, vs)
		default: // a filter
			var v string
			if v, err = single(q, k); err == nil {
				err = p.addFilter(k, v)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(p.AccountID) == "" {
		return nil, invalid("integrated_account_id", "integrated_account_id is required: name the integrated account to read.")
	}
	return p, nil
}

// remoteKey returns name for "remote_query[name]".
func remoteKey(k string) (string, bool) {
	inner, ok := strings.CutPrefix(k, "remote_query[")
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(inner, "]")
	if !ok {
		return "", true
	}
	return name, true
}

func (p *params) addExclusions(res directory.Resource, k string, vs []string) error {
	known := directory.FieldNames(res)
	for _, v := range vs {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if !slices.Contains(known, f) {
				return invalid(k, "%s: %q is not a field of %s; fields: %s.", k, f, res, strings.Join(known, ", "))
			}
			if !slices.Contains(p.Exclude, f) {
				p.Exclude = append(p.Exclude, f)
			}
		}
	}
	return nil
}

func (p *params) addFilter(k, v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return invalid(k, "The %s filter needs a value.", k)
	}
	if len(v) > 255 {
		return invalid(k, "The %s filter is longer than 255 bytes.", k)
	}
	switch k {
	case filterStatus:
		if !directory.Status(v).Valid() {
			return invalid(k, "status must be active, inactive, invited or deleted.")
		}
	case filterUpdatedAfter:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return invalid(k, "updated_after must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z.")
		}
		p.UpdatedAfter = t.UTC()
		v = p.UpdatedAfter.Format(time.RFC3339Nano)
	case filterEmail:
		if !strings.Contains(v, "@") {
			return invalid(k, "The email filter needs a whole email address.")
		}
		v = strings.ToLower(v)
	}
	p.Filters[k] = v
	return nil
}

// scope binds a list cursor: the environment, account, plane target,
// resource and every parameter that selects items (not limit, nor those
// that only shape the output).
func (p *params) scope(env string, res directory.Resource) string {
	var b strings.Builder
	for _, s := range []string{"userdir/v1", env, p.AccountID, p.ProjectRef, string(res)} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	names := make([]string, 0, len(p.Filters))
	for k := range p.Filters {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b.WriteString("f:" + k + "=" + p.Filters[k])
		b.WriteByte(0)
	}
	b.WriteString("r:" + p.Remote.Encode())
	return b.String()
}
