package userdir

import (
	"bytes"
	"encoding/json"
	"regexp"

	"github.com/supabridge/supabridge/shared/bridge"
)

// table names one directory table and the columns the directory uses. An
// empty column means the table has none: the field is then left out (on
// profiles, the name parts go to Auth's user_metadata instead).
type table struct {
	Name    string            `json:"table"`
	Columns map[string]string `json:"columns"`
}

// col returns the configured column for a unified field.
func (t table) col(field string) string { return t.Columns[field] }

// tables is the project plane's view of the customer's directory schema.
type tables struct {
	// Schema is the exposed schema holding the tables (default public).
	Schema string `json:"schema"`
	// AuthUsersFunction names the function that pages auth.users by
	// keyset (schema.sql's directory_auth_users); empty pages users
	// through Auth's admin list instead.
	AuthUsersFunction string `json:"auth_users_function"`
	Organizations     table  `json:"organizations"`
	Roles             table  `json:"roles"`
	UserRoles         table  `json:"user_roles"`
	Profiles          table  `json:"profiles"`
}

// defaultTables matches schema.sql.
func defaultTables() tables {
	return tables{
		Schema: "public", AuthUsersFunction: "directory_auth_users",
		Organizations: table{Name: "organizations", Columns: map[string]string{
			"id": "id", "name": "name", "created_at": "created_at", "updated_at": "updated_at"}},
		Roles: table{Name: "roles", Columns: map[string]string{
			"id": "id", "name": "name", "description": "description", "created_at": "created_at", "updated_at": "updated_at"}},
		UserRoles: table{Name: "user_roles", Columns: map[string]string{
			"id": "id", "user_id": "user_id", "role_id": "role_id", "organization_id": "organization_id",
			"created_at": "created_at", "updated_at": "updated_at"}},
		Profiles: table{Name: "profiles", Columns: map[string]string{
			"id": "id", "first_name": "first_name", "last_name": "last_name", "name": "full_name",
			"username": "username", "avatar": "avatar_url", "created_at": "created_at", "updated_at": "updated_at"}},
	}
}

// identifier is what schema, table and column names may be, so that they
// never need quoting.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// parseSettings reads the "directory" member of an account's settings
// over the defaults:
//
//	{"directory": {"schema": "public",
//	  "profiles": {"table": "members", "columns": {"avatar": "", "name": "display_name"}}}}
//
// Tables and columns not mentioned keep their defaults; a column set to ""
// does not exist. Errors are EUNPROCESSABLE naming the bad setting.
func parseSettings(raw json.RawMessage) (tables, error) {
	t := defaultTables()
	if len(bytes.TrimSpace(raw)) == 0 {
		return t, nil
	}
	var s struct {
		Directory *struct {
			Schema        *string `json:"schema"`
			AuthUsers     *string `json:"auth_users_function"`
			Organizations *table  `json:"organizations"`
			Roles         *table  `json:"roles"`
			UserRoles     *table  `json:"user_roles"`
			Profiles      *table  `json:"profiles"`
		} `json:"directory"`
	}
	bad := func(format string, args ...any) error {
		return bridge.Errorf(bridge.EUNPROCESSABLE, "The integrated account's directory settings are invalid: "+format, args...)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return t, bad("settings.directory must be an object of tables.")
	}
	if s.Directory == nil {
		return t, nil
	}
	d := s.Directory
	if d.Schema != nil {
		t.Schema = *d.Schema
	}
	if !identifier.MatchString(t.Schema) {
		return t, bad("schema %q is not a plain identifier.", t.Schema)
	}
	if d.AuthUsers != nil {
		t.AuthUsersFunction = *d.AuthUsers
		if t.AuthUsersFunction != "" && !identifier.MatchString(t.AuthUsersFunction) {
			return t, bad("auth_users_function %q is not a plain identifier.", t.AuthUsersFunction)
		}
	}
	merge := func(name string, dst *table, src *table, required ...string) error {
		if src != nil {
			if src.Name != "" {
				dst.Name = src.Name
			}
			for k, v := range src.Columns {
				if _, known := dst.Columns[k]; !known {
					return bad("%s has no field %q.", name, k)
				}
				dst.Columns[k] = v
			}
		}
		if !identifier.MatchString(dst.Name) {
			return bad("%s.table %q is not a plain identifier.", name, dst.Name)
		}
		for k, v := range dst.Columns {
			if v != "" && !identifier.MatchString(v) {
				return bad("%s.columns.%s %q is not a plain identifier.", name, k, v)
			}
		}
		for _, k := range required {
			if dst.Columns[k] == "" {
				return bad("%s.columns.%s is required.", name, k)
			}
		}
		return nil
	}
	if err := merge("organizations", &t.Organizations, d.Organizations, "id", "name"); err != nil {
		return t, err
	}
	if err := merge("roles", &t.Roles, d.Roles, "id", "name"); err != nil {
		return t, err
	}
	if err := merge("user_roles", &t.UserRoles, d.UserRoles, "id", "user_id", "role_id", "organization_id"); err != nil {
		return t, err
	}
	if err := merge("profiles", &t.Profiles, d.Profiles, "id"); err != nil {
		return t, err
	}
	return t, nil
}
