package directory_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/directory"
)

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func TestDeriveStatus(t *testing.T) {
	now := *at("2026-06-01T00:00:00Z")
	tests := []struct {
		name string
		l    directory.Lifecycle
		want directory.Status
	}{
		{"confirmed", directory.Lifecycle{ConfirmedAt: at("2026-01-01T00:00:00Z")}, directory.StatusActive},
		{"never confirmed", directory.Lifecycle{}, directory.StatusInvited},
		{"invited, not accepted", directory.Lifecycle{InvitedAt: at("2026-05-01T00:00:00Z")}, directory.StatusInvited},
		{"invited and accepted", directory.Lifecycle{InvitedAt: at("2026-05-01T00:00:00Z"), ConfirmedAt: at("2026-05-02T00:00:00Z")}, directory.StatusActive},
		{"banned", directory.Lifecycle{ConfirmedAt: at("2026-01-01T00:00:00Z"), BannedUntil: at("2126-01-01T00:00:00Z")}, directory.StatusInactive},
		{"ban over", directory.Lifecycle{ConfirmedAt: at("2026-01-01T00:00:00Z"), BannedUntil: at("2026-02-01T00:00:00Z")}, directory.StatusActive},
		{"banned before confirming", directory.Lifecycle{BannedUntil: at("2126-01-01T00:00:00Z")}, directory.StatusInactive},
		{"deleted wins", directory.Lifecycle{DeletedAt: at("2026-03-01T00:00:00Z"), BannedUntil: at("2126-01-01T00:00:00Z")}, directory.StatusDeleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := directory.DeriveStatus(tt.l, now); got != tt.want {
				t.Errorf("DeriveStatus = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestResolveNames(t *testing.T) {
	tests := []struct {
		name    string
		sources []directory.Names
		want    directory.Names
	}{
		{"profile first", []directory.Names{{First: "Ada"}, {First: "Augusta", Last: "King"}}, directory.Names{First: "Ada", Last: "King", Full: "Ada King"}},
		{"full name split", []directory.Names{{Full: "Grace Brewster Hopper"}}, directory.Names{First: "Grace", Last: "Brewster Hopper", Full: "Grace Brewster Hopper"}},
		{"one word", []directory.Names{{Full: "Plato"}}, directory.Names{First: "Plato", Full: "Plato"}},
		{"blank ignored", []directory.Names{{First: "  ", Avatar: ""}, {First: "Ada", Avatar: "a.png", Username: "ada"}}, directory.Names{First: "Ada", Full: "Ada", Avatar: "a.png", Username: "ada"}},
		{"nothing", nil, directory.Names{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := directory.ResolveNames(tt.sources...); got != tt.want {
				t.Errorf("ResolveNames = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLaterOf(t *testing.T) {
	a, b := at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z")
	for _, tt := range []struct{ x, y, want *time.Time }{{a, b, b}, {b, a, b}, {nil, a, a}, {a, nil, a}, {nil, nil, nil}} {
		if got := directory.LaterOf(tt.x, tt.y); got != tt.want {
			t.Errorf("LaterOf(%v, %v) = %v", tt.x, tt.y, got)
		}
	}
}

func str(s string) *string { return &s }

func TestValidation(t *testing.T) {
	inactive, deleted := directory.StatusInactive, directory.StatusDeleted
	tests := []struct {
		name   string
		v      interface{ Validate() error }
		fields string // the failing fields, sorted and joined; "" for valid
	}{
		{"user", &directory.UserInput{Email: "ada@example.com", Roles: []directory.RoleGrant{{RoleID: "r", OrganizationID: "o"}}}, ""},
		{"phone user", &directory.UserInput{Phone: "+15551234567"}, ""},
		{"no contact", &directory.UserInput{Name: "x"}, "email"},
		{"bad email and phone", &directory.UserInput{Email: "Ada <ada@example.com>", Phone: "555"}, "email,phone"},
		{"incomplete and repeated grants", &directory.UserInput{Email: "a@b.co", Roles: []directory.RoleGrant{{RoleID: "r"}, {RoleID: "r", OrganizationID: "o"}, {RoleID: "r", OrganizationID: "o"}}}, "roles[0],roles[2]"},
		{"long password", &directory.UserInput{Email: "a@b.co", Password: strings.Repeat("p", 73)}, "password"},
		{"long name", &directory.UserInput{Email: "a@b.co", FirstName: strings.Repeat("n", 2000)}, "first_name"},
		{"empty patch", &directory.UserPatch{}, ""},
		{"ban", &directory.UserPatch{Status: &inactive}, ""},
		{"status a caller cannot set", &directory.UserPatch{Status: &deleted}, "status"},
		{"emptied email", &directory.UserPatch{Email: str("")}, "email"},
		{"role", &directory.RoleInput{Name: "editor"}, ""},
		{"role without name", &directory.RoleInput{Name: " "}, "name"},
		{"empty role patch", &directory.RolePatch{}, ""},
		{"organization", &directory.OrganizationInput{Name: "Acme"}, ""},
		{"organization renamed to nothing", &directory.OrganizationPatch{Name: str("")}, "name"},
		{"assignment", &directory.RoleAssignmentInput{UserID: "u", RoleID: "r", OrganizationID: "o"}, ""},
		{"assignment without role", &directory.RoleAssignmentInput{UserID: "u", OrganizationID: "o"}, "role_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Validate()
			var ve directory.ValidationError
			switch {
			case tt.fields == "" && strings.Contains(tt.name, "empty"):
				if !errors.As(err, &ve) || ve[0].Field != "" {
					t.Fatalf("an update that changes nothing: %v", err)
				}
				return
			case tt.fields == "":
				if err != nil {
					t.Fatalf("valid input refused: %v", err)
				}
				return
			}
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			var fields []string
			for _, f := range ve {
				fields = append(fields, f.Field)
				if f.Message == "" {
					t.Errorf("%s has no message", f.Field)
				}
			}
			if got := strings.Join(fields, ","); got != tt.fields {
				t.Errorf("failing fields = %s, want %s", got, tt.fields)
			}
		})
	}
}

func TestPasswordsNeverPrint(t *testing.T) {
	pw := "hunter2-very-secret"
	for _, v := range []any{directory.UserInput{Email: "a@b.co", Password: pw}, directory.UserPatch{Password: &pw}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(verb, v); strings.Contains(s, pw) {
				t.Errorf("%s printed the password: %s", verb, s)
			}
		}
	}
}

func TestFieldNames(t *testing.T) {
	for _, r := range []directory.Resource{directory.Users, directory.Roles, directory.Organizations, directory.RoleAssignments} {
		f := directory.FieldNames(r)
		if len(f) == 0 || f[0] != "id" || f[len(f)-1] != "remote_data" {
			t.Errorf("%s: %v", r, f)
		}
	}
	if directory.FieldNames("groups") != nil {
		t.Error("an unknown resource has fields")
	}
}
