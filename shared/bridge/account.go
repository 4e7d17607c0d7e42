package bridge

import (
	"encoding/json"
	"time"
)

// AuthMethod is how an integrated account was linked.
type AuthMethod string

// Authentication methods.
const (
	// AuthOAuth is an OAuth 2.1 grant on one Supabase organization
	// (Management API).
	AuthOAuth AuthMethod = "oauth"
	// AuthAPIKey is a project URL plus one of its API keys.
	AuthAPIKey AuthMethod = "api_key"
	// AuthAccessToken is a personal access token (sbp_…) for the
	// Management API.
	AuthAccessToken AuthMethod = "access_token"
)

// Valid reports whether m is a known method.
func (m AuthMethod) Valid() bool {
	switch m {
	case AuthOAuth, AuthAPIKey, AuthAccessToken:
		return true
	}
	return false
}

// Plane is the Supabase surface an account reaches.
type Plane string

// Planes.
const (
	// PlaneOrganization reaches the Management API of one or more
	// organizations (OAuth and personal access tokens).
	PlaneOrganization Plane = "organization"
	// PlaneProject reaches one project's APIs (URL plus key).
	PlaneProject Plane = "project"
)

// Plane returns the data plane an account linked by m reaches.
func (m AuthMethod) Plane() Plane {
	if m == AuthAPIKey {
		return PlaneProject
	}
	return PlaneOrganization
}

// AccountStatus is an integrated account's lifecycle state.
type AccountStatus string

// Account statuses.
const (
	StatusConnecting      AccountStatus = "connecting"
	StatusActive          AccountStatus = "active"
	StatusNeedsReauth     AccountStatus = "needs_reauth"
	StatusValidationError AccountStatus = "validation_error"
)

// Valid reports whether s is a known status.
func (s AccountStatus) Valid() bool {
	switch s {
	case StatusConnecting, StatusActive, StatusNeedsReauth, StatusValidationError:
		return true
	}
	return false
}

// KeyKind is the kind of project API key an account was linked with.
type KeyKind string

// Key kinds.
const (
	KeyLegacyServiceRole KeyKind = "legacy_service_role" // HS256 JWT with role service_role
	KeyLegacyAnon        KeyKind = "legacy_anon"         // HS256 JWT with role anon
	KeySecret            KeyKind = "secret"              // sb_secret_…
	KeyPublishable       KeyKind = "publishable"         // sb_publishable_…
)

// Account is an integrated account: one end customer's linked Supabase
// organization or project, in one environment. It holds no credential; those
// live in the vault under the account's ID.
type Account struct {
	ID          string          `json:"id"`
	Environment string          `json:"environment"`
	TenantID    string          `json:"tenant_id"`
	Status      AccountStatus   `json:"status"`
	AuthMethod  AuthMethod      `json:"authentication_method"`
	LastError   string          `json:"last_error,omitempty"`
	Context     json.RawMessage `json:"context,omitempty"`

	// Organization identity (organization plane).
	OrganizationID   string   `json:"organization_id,omitempty"`
	OrganizationSlug string   `json:"organization_slug,omitempty"`
	OrganizationName string   `json:"organization_name,omitempty"`
	Scopes           []string `json:"scopes,omitempty"`

	// Project identity (project plane).
	ProjectRef  string  `json:"project_ref,omitempty"`
	ProjectURL  string  `json:"project_url,omitempty"`
	KeyKind     KeyKind `json:"key_kind,omitempty"`
	BypassesRLS bool    `json:"bypasses_rls,omitempty"`

	// Settings holds per-account feature settings (for example the
	// directory's table mapping) as a JSON object.
	Settings json.RawMessage `json:"settings,omitempty"`

	// Refresh bookkeeping. None of it is secret.
	TokenExpiresAt  time.Time `json:"token_expires_at,omitzero"`
	LastRefreshedAt time.Time `json:"last_refreshed_at,omitzero"`
	NextRefreshAt   time.Time `json:"next_refresh_at,omitzero"`
	RefreshFailures int       `json:"refresh_failures,omitempty"`

	// DeletionEventID is fixed by the first attempt to delete the account,
	// so a retried delete records integrated_account:deleted only once.
	DeletionEventID string `json:"deletion_event_id,omitempty"`

	// Version increases by one with every stored write; writes conditional
	// on it detect lost updates.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AccountFilter selects accounts in one environment. Zero fields do not
// filter.
type AccountFilter struct {
	Environment string
	TenantID    string
	Status      AccountStatus
	// After continues a listing after this account ID (exclusive).
	After string
	// Limit caps the page size; stores apply their own default and maximum.
	Limit int
}
