package directory

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
)

// RoleGrant asks for a role in an organization.
type RoleGrant struct {
	RoleID         string `json:"id"`
	OrganizationID string `json:"organization_id"`
}

// UserInput is the body of a user creation.
type UserInput struct {
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	// Password is optional; without one the user signs in another way
	// (invitation link, magic link, OAuth). It is never echoed or logged.
	Password      string      `json:"password,omitempty"`
	FirstName     string      `json:"first_name,omitempty"`
	LastName      string      `json:"last_name,omitempty"`
	Name          string      `json:"name,omitempty"`
	Username      string      `json:"username,omitempty"`
	Avatar        string      `json:"avatar,omitempty"`
	EmailVerified bool        `json:"is_email_verified,omitempty"`
	Roles         []RoleGrant `json:"roles,omitempty"`
	// UserMetadata is passed to the upstream as is (Auth's user_metadata).
	UserMetadata map[string]any `json:"user_metadata,omitempty"`
}

// String keeps the password out of anything that prints the input.
func (u UserInput) String() string {
	return fmt.Sprintf("UserInput{Email: %q, Phone: %q, Password: [REDACTED]}", u.Email, u.Phone)
}

// GoString keeps the password out of %#v.
func (u UserInput) GoString() string { return u.String() }

// UserPatch is the body of a user update: absent (nil) fields are left as
// they are; Roles, when present, replaces the user's role assignments.
type UserPatch struct {
	Email         *string `json:"email,omitempty"`
	Phone         *string `json:"phone,omitempty"`
	Password      *string `json:"password,omitempty"`
	FirstName     *string `json:"first_name,omitempty"`
	LastName      *string `json:"last_name,omitempty"`
	Name          *string `json:"name,omitempty"`
	Username      *string `json:"username,omitempty"`
	Avatar        *string `json:"avatar,omitempty"`
	EmailVerified *bool   `json:"is_email_verified,omitempty"`
	// Status may be set to active (lifts a ban) or inactive (bans).
	Status       *Status        `json:"status,omitempty"`
	Roles        *[]RoleGrant   `json:"roles,omitempty"`
	UserMetadata map[string]any `json:"user_metadata,omitempty"`
}

// String keeps the password out of anything that prints the patch.
func (p UserPatch) String() string { return "UserPatch{Password: [REDACTED]}" }

// GoString keeps the password out of %#v.
func (p UserPatch) GoString() string { return p.String() }

// RoleInput is the body of a role creation.
type RoleInput struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// RolePatch is the body of a role update.
type RolePatch struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
}

// OrganizationInput is the body of an organization creation.
type OrganizationInput struct {
	Name string `json:"name"`
}

// OrganizationPatch is the body of an organization update.
type OrganizationPatch struct {
	Name *string `json:"name,omitempty"`
}

// RoleAssignmentInput is the body of a role assignment creation.
type RoleAssignmentInput struct {
	UserID         string `json:"user_id"`
	RoleID         string `json:"role_id"`
	OrganizationID string `json:"organization_id"`
}

// FieldError is one invalid field of an input.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every invalid field of an input; nil when it is
// valid.
type ValidationError []FieldError

// Error joins the messages.
func (v ValidationError) Error() string {
	parts := make([]string, len(v))
	for i, f := range v {
		parts[i] = f.Message
	}
	return strings.Join(parts, " ")
}

func (v *ValidationError) add(field, format string, args ...any) {
	*v = append(*v, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// err returns v sorted by field (map-driven checks run in random order),
// or nil when empty.
func (v ValidationError) err() error {
	if len(v) == 0 {
		return nil
	}
	slices.SortStableFunc(v, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
	return v
}

const maxText = 1024

func checkEmail(v *ValidationError, field, s string) {
	if s == "" {
		return
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 255 {
		v.add(field, "%s must be a plain email address such as ada@example.com.", field)
	}
}

func checkPhone(v *ValidationError, field, s string) {
	if s == "" {
		return
	}
	digits := strings.TrimPrefix(s, "+")
	ok := len(digits) >= 8 && len(digits) <= 15
	for _, r := range digits {
		ok = ok && r >= '0' && r <= '9'
	}
	if !ok {
		v.add(field, "%s must be an E.164 number such as +15551234567.", field)
	}
}

func checkText(v *ValidationError, field, s string) {
	if len(s) > maxText {
		v.add(field, "%s must be at most %d bytes.", field, maxText)
	}
}

func checkGrants(v *ValidationError, grants []RoleGrant) {
	if len(grants) > 100 {
		v.add("roles", "roles holds at most 100 grants.")
		return
	}
	seen := map[RoleGrant]bool{}
	for i, g := range grants {
		if strings.TrimSpace(g.RoleID) == "" || strings.TrimSpace(g.OrganizationID) == "" {
			v.add(fmt.Sprintf("roles[%d]", i), "roles[%d] needs an id (the role) and an organization_id.", i)
			continue
		}
		if seen[g] {
			v.add(fmt.Sprintf("roles[%d]", i), "roles[%d] repeats an earlier grant.", i)
		}
		seen[g] = true
	}
}

// Validate checks a creation: an email or a phone is required.
func (u *UserInput) Validate() error {
	var v ValidationError
	if u.Email == "" && u.Phone == "" {
		v.add("email", "A user needs an email or a phone.")
	}
	checkEmail(&v, "email", u.Email)
	checkPhone(&v, "phone", u.Phone)
	for f, s := range map[string]string{"first_name": u.FirstName, "last_name": u.LastName, "name": u.Name, "username": u.Username, "avatar": u.Avatar} {
		checkText(&v, f, s)
	}
	if len(u.Password) > 72 {
		v.add("password", "password must be at most 72 bytes.")
	}
	checkGrants(&v, u.Roles)
	return v.err()
}

// Validate checks an update: at least one field, and only the statuses a
// caller may set.
func (p *UserPatch) Validate() error {
	var v ValidationError
	if p.Email == nil && p.Phone == nil && p.Password == nil && p.FirstName == nil && p.LastName == nil &&
		p.Name == nil && p.Username == nil && p.Avatar == nil && p.EmailVerified == nil && p.Status == nil &&
		p.Roles == nil && p.UserMetadata == nil {
		v.add("", "The update changes nothing: send at least one field.")
	}
	if p.Email != nil {
		if *p.Email == "" {
			v.add("email", "email cannot be emptied.")
		}
		checkEmail(&v, "email", *p.Email)
	}
	if p.Phone != nil {
		checkPhone(&v, "phone", *p.Phone)
	}
	for f, s := range map[string]*string{"first_name": p.FirstName, "last_name": p.LastName, "name": p.Name, "username": p.Username, "avatar": p.Avatar} {
		if s != nil {
			checkText(&v, f, *s)
		}
	}
	if p.Password != nil && (len(*p.Password) == 0 || len(*p.Password) > 72) {
		v.add("password", "password must be 1 to 72 bytes.")
	}
	if p.Status != nil && *p.Status != StatusActive && *p.Status != StatusInactive {
		v.add("status", "status can be set to active or inactive only.")
	}
	if p.Roles != nil {
		checkGrants(&v, *p.Roles)
	}
	return v.err()
}

// Validate checks a role creation.
func (r *RoleInput) Validate() error {
	var v ValidationError
	if strings.TrimSpace(r.Name) == "" {
		v.add("name", "A role needs a name.")
	}
	checkText(&v, "name", r.Name)
	checkText(&v, "description", r.Description)
	return v.err()
}

// Validate checks a role update.
func (r *RolePatch) Validate() error {
	var v ValidationError
	switch {
	case r.Name == nil && r.Description == nil:
		v.add("", "The update changes nothing: send name or description.")
	case r.Name != nil && strings.TrimSpace(*r.Name) == "":
		v.add("name", "name cannot be emptied.")
	}
	if r.Name != nil {
		checkText(&v, "name", *r.Name)
	}
	if r.Description != nil {
		checkText(&v, "description", *r.Description)
	}
	return v.err()
}

// Validate checks an organization creation.
func (o *OrganizationInput) Validate() error {
	var v ValidationError
	if strings.TrimSpace(o.Name) == "" {
		v.add("name", "An organization needs a name.")
	}
	checkText(&v, "name", o.Name)
	return v.err()
}

// Validate checks an organization update.
func (o *OrganizationPatch) Validate() error {
	var v ValidationError
	switch {
	case o.Name == nil:
		v.add("", "The update changes nothing: send name.")
	case strings.TrimSpace(*o.Name) == "":
		v.add("name", "name cannot be emptied.")
	default:
		checkText(&v, "name", *o.Name)
	}
	return v.err()
}

// Validate checks a role assignment creation.
func (a *RoleAssignmentInput) Validate() error {
	var v ValidationError
	for f, s := range map[string]string{"user_id": a.UserID, "role_id": a.RoleID, "organization_id": a.OrganizationID} {
		if strings.TrimSpace(s) == "" {
			v.add(f, "%s is required.", f)
		}
		checkText(&v, f, s)
	}
	return v.err()
}
