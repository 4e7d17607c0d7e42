package link

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/netguard"
	"github.com/supabridge/supabridge/shared/supabase"
)

// validationTimeout bounds one validation call to Supabase, so a project
// that hangs cannot hold the end customer's page.
const validationTimeout = 20 * time.Second

// linked is a validated credential and the identity it reaches, ready to be
// stored.
type linked struct {
	method bridge.AuthMethod
	cred   bridge.Credential
	// apply writes the identity onto an account, replacing any earlier one.
	apply func(a *bridge.Account)
	// problem, when set, is why the account is stored as validation_error
	// rather than active (the credential itself was accepted).
	problem string
}

// fieldErr is a validation failure to show next to one form field. Its
// message never contains what was submitted.
func fieldErr(field, format string, args ...any) *bridge.Error {
	return bridge.Errorf(bridge.EVALIDATION, format, args...).WithDetails(map[string]any{"field": field})
}

// errField returns the form field a validation error belongs to.
func errField(err error, def string) string {
	var e *bridge.Error
	if errors.As(err, &e) {
		if d, ok := e.Details.(map[string]any); ok {
			if f, ok := d["field"].(string); ok {
				return f
			}
		}
	}
	return def
}

// projectHost is a hosted project's API host; its first label is the ref.
var projectHost = regexp.MustCompile(`^([a-z]{20})\.supabase\.(co|in)$`)

// validateAPIKey checks a project URL and key: the URL's shape and
// network, the key's kind, and then the key against the project itself —
// an Auth admin call for keys that bypass RLS (which proves admin rights),
// Auth's public settings for the others.
func (h *Handler) validateAPIKey(ctx context.Context, rawURL, key string) (linked, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return linked{}, fieldErr("api_key", "Enter the project's API key.")
	}
	info, err := supabase.ClassifyKey(key)
	if err != nil {
		return linked{}, fieldErr("api_key", "This is not a Supabase project API key. Use a secret (sb_secret_…) or publishable (sb_publishable_…) key, or the legacy service_role or anon key.")
	}
	u, err := h.Upstreams.CheckURL(ctx, rawURL)
	if err != nil {
		return linked{}, fieldErr("project_url", "%s", bridge.ErrorMessage(err))
	}
	ref := ""
	if m := projectHost.FindStringSubmatch(u.Hostname()); m != nil {
		ref = m[1]
	}
	switch {
	case info.Ref != "" && ref != "" && info.Ref != ref:
		return linked{}, fieldErr("api_key", "This key belongs to another project than the URL's (%s).", ref)
	case ref == "":
		ref = info.Ref
	}
	if !info.ExpiresAt.IsZero() && info.ExpiresAt.Before(h.now()) {
		return linked{}, fieldErr("api_key", "This key has expired. Copy the current key from the project's API settings.")
	}

	c, err := supabase.NewProjectClient(u.String(), key, supabase.WithHTTPClient(h.Upstreams.Client(validationTimeout)))
	if err != nil {
		return linked{}, fieldErr("project_url", "Enter the project URL as a full address, for example https://abcdefghijklmnopqrst.supabase.co.")
	}
	ctx, cancel := context.WithTimeout(ctx, validationTimeout)
	defer cancel()
	if info.BypassesRLS {
		_, _, err = c.Auth.ListUsers(ctx, &supabase.ListUsersOptions{Page: 1, PerPage: 1})
	} else {
		_, _, err = c.Auth.Settings(ctx)
	}
	if err != nil {
		return linked{}, projectError(err, u.Hostname())
	}

	kind := keyKind(info)
	cred := bridge.Credential{Method: bridge.AuthAPIKey, APIKey: bridge.Secret(key), UpdatedAt: h.now()}
	projectURL := u.String()
	return linked{
		method: bridge.AuthAPIKey,
		cred:   cred,
		apply: func(a *bridge.Account) {
			clearIdentity(a)
			a.ProjectURL, a.ProjectRef, a.KeyKind, a.BypassesRLS = projectURL, ref, kind, info.BypassesRLS
		},
	}, nil
}

func keyKind(info supabase.KeyInfo) bridge.KeyKind {
	switch {
	case info.Kind == supabase.KeySecret:
		return bridge.KeySecret
	case info.Kind == supabase.KeyPublishable:
		return bridge.KeyPublishable
	case info.BypassesRLS:
		return bridge.KeyLegacyServiceRole
	}
	return bridge.KeyLegacyAnon
}

// projectError explains a failed validation call to a project.
func projectError(err error, host string) error {
	var api *supabase.APIError
	switch {
	case errors.As(err, &api) && (api.StatusCode == http.StatusUnauthorized || api.StatusCode == http.StatusForbidden):
		return fieldErr("api_key", "The project rejected this key. Check that it belongs to this project, has not been revoked, and is the right kind.")
	case errors.As(err, &api) && api.StatusCode == http.StatusNotFound:
		return fieldErr("project_url", "No Supabase project answered at %s. Check the project URL.", host)
	case errors.As(err, &api) && api.StatusCode == http.StatusTooManyRequests:
		return fieldErr("api_key", "The project is rate limiting requests. Wait a minute and try again.")
	case errors.As(err, &api):
		return fieldErr("project_url", "The project at %s answered with an error (HTTP %d). Try again later.", host, api.StatusCode)
	case errors.Is(err, netguard.ErrNotPublic):
		return fieldErr("project_url", "The project host %s points to a private or reserved network address; only public Supabase projects can be linked.", host)
	}
	return fieldErr("project_url", "The project at %s could not be reached. Check the URL and try again.", host)
}

func clearIdentity(a *bridge.Account) {
	a.OrganizationID, a.OrganizationSlug, a.OrganizationName, a.Scopes = "", "", "", nil
	a.ProjectURL, a.ProjectRef, a.KeyKind, a.BypassesRLS = "", "", "", false
	a.TokenExpiresAt, a.NextRefreshAt, a.RefreshFailures = time.Time{}, time.Time{}, 0
}

func listOrganizations(ctx context.Context, c *supabase.Client) ([]*supabase.Organization, error) {
	ctx, cancel := context.WithTimeout(ctx, validationTimeout)
	defer cancel()
	orgs, _, err := c.Management.ListOrganizations(ctx)
	return orgs, err
}

func setOrganization(a *bridge.Account, o *supabase.Organization) {
	a.OrganizationID, a.OrganizationSlug, a.OrganizationName = o.ID, o.Slug, o.Name
	if a.OrganizationSlug == "" {
		a.OrganizationSlug = o.ID
	}
}

// validateAccessToken checks a personal access token with the Management
// API and records the organization it reaches when there is exactly one.
func (h *Handler) validateAccessToken(ctx context.Context, tok string) (linked, error) {
	tok = strings.TrimSpace(tok)
	switch {
	case tok == "":
		return linked{}, fieldErr("access_token", "Enter a personal access token.")
	case strings.HasPrefix(tok, "sbp_oauth_"):
		return linked{}, fieldErr("access_token", "This is an OAuth access token, which expires within a day. Use “Sign in with Supabase” instead, or a personal access token.")
	case !strings.HasPrefix(tok, "sbp_") || len(tok) < 12 || len(tok) > 512 || strings.ContainsAny(tok, " \t\r\n"):
		return linked{}, fieldErr("access_token", "This is not a personal access token; those start with sbp_.")
	}
	c, err := supabase.NewPersonalAccessTokenClient(h.ManagementURL, tok, supabase.WithHTTPClient(h.ManagementHTTP))
	if err != nil {
		return linked{}, err
	}
	orgs, err := listOrganizations(ctx, c)
	if err != nil {
		var api *supabase.APIError
		if errors.As(err, &api) && (api.StatusCode == http.StatusUnauthorized || api.StatusCode == http.StatusForbidden) {
			return linked{}, fieldErr("access_token", "Supabase rejected this access token. It may have expired or been revoked, or it lacks permission to read organizations.")
		}
		return linked{}, fieldErr("access_token", "Supabase could not be reached to check the token. Try again in a moment.")
	}
	cred := bridge.Credential{Method: bridge.AuthAccessToken, PersonalAccessToken: bridge.Secret(tok), UpdatedAt: h.now()}
	return linked{
		method: bridge.AuthAccessToken,
		cred:   cred,
		apply: func(a *bridge.Account) {
			clearIdentity(a)
			if len(orgs) == 1 {
				setOrganization(a, orgs[0])
			}
		},
	}, nil
}

// oauthLinked reads the organization an OAuth grant covers. A grant whose
// organization cannot be read is still stored (it is a real grant that
// refreshes), but the account says validation_error.
func (h *Handler) oauthLinked(ctx context.Context, tok *oauth2.Token) linked {
	cred := bridge.Credential{
		Method: bridge.AuthOAuth, AccessToken: bridge.Secret(tok.AccessToken), RefreshToken: bridge.Secret(tok.RefreshToken),
		TokenType: "Bearer", Expiry: tok.Expiry.UTC(), UpdatedAt: h.now(),
	}
	l := linked{method: bridge.AuthOAuth, cred: cred}
	c, err := supabase.NewManagementClient(h.ManagementURL, oauth2.StaticTokenSource(tok), supabase.WithHTTPClient(h.ManagementHTTP))
	var orgs []*supabase.Organization
	if err == nil {
		orgs, err = listOrganizations(ctx, c)
	}
	switch {
	case err != nil:
		l.problem = "Supabase did not list the granted organization; reconnect to try again."
	case len(orgs) == 0:
		l.problem = "The grant covers no organization; reconnect and choose one."
	}
	l.apply = func(a *bridge.Account) {
		clearIdentity(a)
		if len(orgs) > 0 {
			setOrganization(a, orgs[0])
		}
		a.TokenExpiresAt = cred.Expiry
	}
	return l
}
