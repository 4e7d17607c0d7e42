package bridge

import (
	"encoding/json"
	"time"
)

// AccountView is an integrated account as the API, events and webhooks show
// it: everything but credentials and internal bookkeeping.
type AccountView struct {
	ID                   string               `json:"id"`
	TenantID             string               `json:"tenant_id"`
	Environment          string               `json:"environment"`
	Status               string               `json:"status"`
	AuthenticationMethod string               `json:"authentication_method"`
	LastError            *string              `json:"last_error"`
	Context              json.RawMessage      `json:"context"`
	Organization         *AccountOrganization `json:"organization"`
	Project              *AccountProject      `json:"project"`
	TokenExpiresAt       *time.Time           `json:"token_expires_at"`
	LastRefreshedAt      *time.Time           `json:"last_refreshed_at"`
	CreatedAt            time.Time            `json:"created_at"`
	UpdatedAt            time.Time            `json:"updated_at"`
}

// AccountOrganization identifies the linked organization.
type AccountOrganization struct {
	ID     string   `json:"id"`
	Slug   string   `json:"slug"`
	Name   string   `json:"name"`
	Scopes []string `json:"scopes,omitempty"`
}

// AccountProject identifies the linked project.
type AccountProject struct {
	Ref         string `json:"ref"`
	URL         string `json:"url"`
	KeyKind     string `json:"key_kind"`
	BypassesRLS bool   `json:"bypasses_rls"`
}

// View renders the account for the API.
func (a *Account) View() AccountView {
	v := AccountView{
		ID: a.ID, TenantID: a.TenantID, Environment: a.Environment, Status: string(a.Status),
		AuthenticationMethod: string(a.AuthMethod), Context: a.Context,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
	if v.Context == nil {
		v.Context = json.RawMessage("{}")
	}
	if a.LastError != "" {
		v.LastError = &a.LastError
	}
	if a.OrganizationID != "" || a.OrganizationSlug != "" {
		v.Organization = &AccountOrganization{ID: a.OrganizationID, Slug: a.OrganizationSlug, Name: a.OrganizationName, Scopes: a.Scopes}
	}
	if a.ProjectRef != "" || a.ProjectURL != "" {
		v.Project = &AccountProject{Ref: a.ProjectRef, URL: a.ProjectURL, KeyKind: string(a.KeyKind), BypassesRLS: a.BypassesRLS}
	}
	if !a.TokenExpiresAt.IsZero() {
		t := a.TokenExpiresAt
		v.TokenExpiresAt = &t
	}
	if !a.LastRefreshedAt.IsZero() {
		t := a.LastRefreshedAt
		v.LastRefreshedAt = &t
	}
	return v
}
