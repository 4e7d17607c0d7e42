package userdir

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/cursor"
	"github.com/supabridge/supabridge/shared/directory"
)

func TestParseParams(t *testing.T) {
	tests := []struct {
		name    string
		res     directory.Resource
		op      op
		query   string
		wantErr string
		check   func(t *testing.T, p *params)
	}{
		{"defaults", directory.Users, opList, "integrated_account_id=a", "", func(t *testing.T, p *params) {
			if p.Limit != DefaultLimit || p.IgnoreRemoteData || len(p.Filters) != 0 {
				t.Errorf("%+v", p)
			}
		}},
		{"everything", directory.Users, opList,
			"integrated_account_id=a&limit=7&email=Ada@Example.com&status=invited&role_id=r&organization_id=o&updated_after=2026-01-02T03:04:05%2B01:00" +
				"&ignore_remote_data=1&exclude_fields[]=phones&exclude_fields=emails,phones&remote_query[filter]=x", "",
			func(t *testing.T, p *params) {
				if p.Limit != 7 || p.Filters["email"] != "ada@example.com" || p.Filters["status"] != "invited" ||
					p.UpdatedAfter.Hour() != 2 || !p.IgnoreRemoteData || strings.Join(p.Exclude, ",") != "emails,phones" ||
					p.Remote.Get("filter") != "x" {
					t.Errorf("%+v", p)
				}
			}},
		{"invite on create", directory.Users, opCreate, "integrated_account_id=a&invite=true", "", func(t *testing.T, p *params) {
			if !p.Invite {
				t.Error("invite not set")
			}
		}},
		{"missing account", directory.Users, opList, "limit=3", "integrated_account_id is required", nil},
		{"invite on roles", directory.Roles, opCreate, "integrated_account_id=a&invite=true", `Unknown query parameter "invite"`, nil},
		{"filters on get", directory.Users, opGet, "integrated_account_id=a&email=a@b.c", `Unknown query parameter "email"`, nil},
		{"remote_query on get", directory.Users, opGet, "integrated_account_id=a&remote_query[x]=1", "Unknown query parameter", nil},
		{"remote_query without a name", directory.Roles, opList, "integrated_account_id=a&remote_query[]=1", "remote_query[name]=value", nil},
		{"remote_query unclosed", directory.Roles, opList, "integrated_account_id=a&remote_query[x=1", "remote_query[name]=value", nil},
		{"remote_query reserved", directory.Roles, opList, "integrated_account_id=a&remote_query[Select]=*", "reserved", nil},
		{"bad boolean", directory.Roles, opList, "integrated_account_id=a&ignore_remote_data=maybe", "true or false", nil},
		{"empty filter", directory.Users, opList, "integrated_account_id=a&role_id=", "needs a value", nil},
		{"email without @", directory.Users, opList, "integrated_account_id=a&email=ada", "whole email address", nil},
		{"account twice", directory.Users, opList, "integrated_account_id=a&integrated_account_id=b", "only once", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			p, err := parseParams(tt.res, tt.op, q)
			if tt.wantErr != "" {
				if !bridge.IsCode(err, bridge.EINVALID) || !strings.Contains(bridge.ErrorMessage(err), tt.wantErr) {
					t.Fatalf("err = %v, want EINVALID mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}

func TestScopeSeparatesListings(t *testing.T) {
	mk := func(query string) string {
		q, _ := url.ParseQuery(query)
		p, err := parseParams(directory.Users, opList, q)
		if err != nil {
			t.Fatal(err)
		}
		return p.scope("production", directory.Users)
	}
	base := mk("integrated_account_id=a")
	for _, other := range []string{"integrated_account_id=b", "integrated_account_id=a&status=active", "integrated_account_id=a&project_ref=x",
		"integrated_account_id=a&remote_query[filter]=x"} {
		if mk(other) == base {
			t.Errorf("%s shares a cursor scope with integrated_account_id=a", other)
		}
	}
	if mk("integrated_account_id=a&limit=5&ignore_remote_data=true&exclude_fields[]=id") != base {
		t.Error("limit and output shaping must not change the cursor scope")
	}
}

// FuzzParseParams: whatever the query string, parsing never panics and
// fails only with EINVALID.
func FuzzParseParams(f *testing.F) {
	for _, s := range []string{
		"integrated_account_id=a&limit=5", "limit=abc", "remote_query[filter]=x&email=a@b", "exclude_fields[]=x",
		"updated_after=2026-01-01T00:00:00Z&status=active", "remote_query[=1", "a=%ff", "invite=true&integrated_account_id=a",
		"integrated_account_id=a&remote_query[a][b]=1", strings.Repeat("x=1&", 50),
	} {
		f.Add(s, uint8(0), uint8(0))
	}
	resources := []directory.Resource{directory.Users, directory.Roles, directory.Organizations, directory.RoleAssignments}
	ops := []op{opList, opGet, opCreate, opUpdate, opDelete}
	f.Fuzz(func(t *testing.T, query string, r, o uint8) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		res, op := resources[int(r)%len(resources)], ops[int(o)%len(ops)]
		p, err := parseParams(res, op, q)
		if err != nil {
			if !bridge.IsCode(err, bridge.EINVALID) {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		if p.AccountID == "" || p.Limit < 1 || p.Limit > MaxLimit {
			t.Fatalf("accepted %+v", p)
		}
		_ = p.scope("env", res)
	})
}

// FuzzCursor: a cursor from anywhere either opens as the position it was
// signed with, or is refused with EINVALID; positions that open but do not
// decode are refused the same way.
func FuzzCursor(f *testing.F) {
	signer := cursor.New([]byte(strings.Repeat("k", 32)))
	good, _ := signer.Sign("scope", usersPos{W: &userPos{O: 3, IDs: []string{"a"}}})
	keyset, _ := signer.Sign("scope", keyPos{After: "x"})
	wrongShape, _ := signer.Sign("scope", []int{1, 2})
	for _, s := range []string{good, keyset, wrongShape, "", ".", "e30.", "e30.AAAA", good[:len(good)-2], strings.Repeat("A", 5000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		var raw json.RawMessage
		if err := signer.Open("scope", c, &raw); err != nil {
			if !bridge.IsCode(err, bridge.EINVALID) {
				t.Fatalf("Open: %v", err)
			}
			return
		}
		var up usersPos
		if err := openPos(raw, &up); err != nil && !bridge.IsCode(err, bridge.EINVALID) {
			t.Fatalf("usersPos: %v", err)
		}
		var kp keyPos
		if err := openPos(raw, &kp); err != nil && !bridge.IsCode(err, bridge.EINVALID) {
			t.Fatalf("keyPos: %v", err)
		}
	})
}

// TestWindowHoldsTheAnchor: the window always starts at or before the
// anchor, holds it, is at most twice the limit plus one, and usually leaves
// a whole page after the anchor.
func TestWindowHoldsTheAnchor(t *testing.T) {
	full, total := 0, 0
	for _, limit := range []int{1, 2, 7, 50, 100, 1000} {
		for o := 0; o < 30_000; o += 1 + o/50 {
			per, page := window(o, limit)
			start := (page - 1) * per
			total++
			if per < limit || per > 2*limit+1 || page < 1 {
				t.Fatalf("window(%d, %d) = per %d page %d", o, limit, per, page)
			}
			if o == 0 {
				if start != 0 {
					t.Fatalf("first window starts at %d", start)
				}
				full++
				continue
			}
			if a := o - 1; a < start || a >= start+per {
				t.Fatalf("window(%d, %d) = [%d, %d) misses the anchor %d", o, limit, start, start+per, a)
			}
			if start+per-o >= limit {
				full++
			}
		}
	}
	if full*100 < total*95 {
		t.Errorf("only %d of %d windows hold a whole page after the anchor", full, total)
	}
}

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name, raw, wantErr string
		check              func(t *testing.T, tb tables)
	}{
		{"none", ``, "", func(t *testing.T, tb tables) {
			if tb.Profiles.col("name") != "full_name" || tb.Schema != "public" || tb.AuthUsersFunction != "directory_auth_users" {
				t.Errorf("%+v", tb)
			}
		}},
		{"other settings only", `{"webhooks":true}`, "", func(t *testing.T, tb tables) {
			if tb.Roles.Name != "roles" {
				t.Errorf("%+v", tb)
			}
		}},
		{"renamed", `{"directory":{"schema":"app","profiles":{"table":"members","columns":{"avatar":"","name":"display_name"}}}}`, "",
			func(t *testing.T, tb tables) {
				if tb.Schema != "app" || tb.Profiles.Name != "members" || tb.Profiles.col("avatar") != "" || tb.Profiles.col("name") != "display_name" ||
					tb.Profiles.col("first_name") != "first_name" {
					t.Errorf("%+v", tb.Profiles)
				}
			}},
		{"not an object", `[1]`, "must be an object", nil},
		{"injection", `{"directory":{"roles":{"table":"roles;drop table x"}}}`, "not a plain identifier", nil},
		{"unknown column field", `{"directory":{"roles":{"columns":{"colour":"c"}}}}`, `no field "colour"`, nil},
		{"required column removed", `{"directory":{"user_roles":{"columns":{"role_id":""}}}}`, "user_roles.columns.role_id is required", nil},
		{"bad schema", `{"directory":{"schema":"a b"}}`, "schema", nil},
		{"windows instead of keyset", `{"directory":{"auth_users_function":""}}`, "", func(t *testing.T, tb tables) {
			if tb.AuthUsersFunction != "" {
				t.Errorf("%+v", tb)
			}
		}},
		{"bad function", `{"directory":{"auth_users_function":"f()"}}`, "auth_users_function", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, err := parseSettings(json.RawMessage(tt.raw))
			if tt.wantErr != "" {
				if !bridge.IsCode(err, bridge.EUNPROCESSABLE) || !strings.Contains(bridge.ErrorMessage(err), tt.wantErr) {
					t.Fatalf("err = %v, want EUNPROCESSABLE mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tb)
		})
	}
}
