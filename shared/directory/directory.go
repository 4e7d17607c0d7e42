// Package directory is the unified User Directory: users, roles,
// organizations and role assignments as every integrated account shows
// them, whichever Supabase data plane holds them, with the rules that
// derive a user's status and names from what the upstream knows.
//
// It imports nothing else of Supabridge and knows no upstream wire format:
// the feature that talks to Supabase translates at its edge, and fills
// RemoteData with the raw upstream objects.
package directory

import (
	"encoding/json"
	"time"
)

// Resource names a unified resource, as it appears in the API path.
type Resource string

// Resources.
const (
	Users           Resource = "users"
	Roles           Resource = "roles"
	Organizations   Resource = "organizations"
	RoleAssignments Resource = "role_assignments"
)

// Status is a user's lifecycle state.
type Status string

// User statuses.
const (
	StatusActive   Status = "active"
	StatusInactive Status = "inactive"
	StatusInvited  Status = "invited"
	StatusDeleted  Status = "deleted"
)

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusInactive, StatusInvited, StatusDeleted:
		return true
	}
	return false
}

// Email is one of a user's email addresses.
type Email struct {
	Email     string `json:"email"`
	Type      string `json:"type,omitempty"`
	IsPrimary bool   `json:"is_primary"`
}

// Phone is one of a user's phone numbers, in E.164 form with its "+".
type Phone struct {
	Number    string `json:"number"`
	Extension string `json:"extension,omitempty"`
	Type      string `json:"type,omitempty"`
}

// OrganizationRef names an organization from another object.
type OrganizationRef struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// RoleRef is a role a user holds, and the organization it holds it in.
type RoleRef struct {
	ID           string           `json:"id"`
	Name         string           `json:"name,omitempty"`
	Organization *OrganizationRef `json:"organization,omitempty"`
}

// User is a person in the directory.
type User struct {
	ID        string  `json:"id"`
	FirstName string  `json:"first_name,omitempty"`
	LastName  string  `json:"last_name,omitempty"`
	Name      string  `json:"name,omitempty"`
	Username  string  `json:"username,omitempty"`
	Emails    []Email `json:"emails"`
	Phones    []Phone `json:"phones"`
	Status    Status  `json:"status"`
	// IsEmailVerified and Is2FAEnabled are nil when the upstream does not
	// say (for example MFA factors, which Auth's admin list leaves out).
	IsEmailVerified *bool             `json:"is_email_verified"`
	Is2FAEnabled    *bool             `json:"is_2fa_enabled"`
	Roles           []RoleRef         `json:"roles"`
	Organizations   []OrganizationRef `json:"organizations"`
	Avatar          string            `json:"avatar,omitempty"`
	LastActiveAt    *time.Time        `json:"last_active_at"`
	CreatedAt       *time.Time        `json:"created_at"`
	UpdatedAt       *time.Time        `json:"updated_at"`
	RemoteData      json.RawMessage   `json:"remote_data,omitempty"`
}

// Role is a named set of permissions.
type Role struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Label       string          `json:"label,omitempty"`
	Description string          `json:"description,omitempty"`
	CreatedAt   *time.Time      `json:"created_at"`
	UpdatedAt   *time.Time      `json:"updated_at"`
	RemoteData  json.RawMessage `json:"remote_data,omitempty"`
}

// Organization is a tenant users belong to.
type Organization struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	PricingPlan string          `json:"pricing_plan,omitempty"`
	CreatedAt   *time.Time      `json:"created_at"`
	UpdatedAt   *time.Time      `json:"updated_at"`
	RemoteData  json.RawMessage `json:"remote_data,omitempty"`
}

// RoleAssignment gives a user a role in an organization.
type RoleAssignment struct {
	ID             string          `json:"id"`
	UserID         string          `json:"user_id"`
	RoleID         string          `json:"role_id"`
	OrganizationID string          `json:"organization_id"`
	CreatedAt      *time.Time      `json:"created_at"`
	UpdatedAt      *time.Time      `json:"updated_at"`
	RemoteData     json.RawMessage `json:"remote_data,omitempty"`
}

// FieldNames returns a resource's top-level fields, the names
// exclude_fields accepts (nil for an unknown resource).
func FieldNames(r Resource) []string {
	switch r {
	case Users:
		return []string{"id", "first_name", "last_name", "name", "username", "emails", "phones", "status",
			"is_email_verified", "is_2fa_enabled", "roles", "organizations", "avatar", "last_active_at",
			"created_at", "updated_at", "remote_data"}
	case Roles:
		return []string{"id", "name", "label", "description", "created_at", "updated_at", "remote_data"}
	case Organizations:
		return []string{"id", "name", "pricing_plan", "created_at", "updated_at", "remote_data"}
	case RoleAssignments:
		return []string{"id", "user_id", "role_id", "organization_id", "created_at", "updated_at", "remote_data"}
	}
	return nil
}
