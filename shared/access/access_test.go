package access_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/supabridge/supabridge/shared/access"
	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/app/apptest"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/credentials"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/localsupabase/faults"
	"github.com/supabridge/supabridge/shared/vault"
)

const redirectURI = "http://127.0.0.1:1/callback"

var stack *localsupabase.Stack

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	st, err := localsupabase.Start(ctx, localsupabase.Config{OAuthAutoApprove: true, OAuthRedirectURIs: []string{redirectURI}})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the local Supabase:", err)
		os.Exit(1)
	}
	stack = st
	code := m.Run()
	_ = st.Close()
	os.Exit(code)
}

// countingStore counts account reads.
type countingStore struct {
	access.Store
	reads atomic.Int64
}

func (s *countingStore) GetAccount(ctx context.Context, env, id string) (*bridge.Account, error) {
	s.reads.Add(1)
	return s.Store.GetAccount(ctx, env, id)
}

type fixture struct {
	a     *app.App
	creds *credentials.Manager
	store *countingStore
	r     *access.Resolver
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	oc := stack.OAuthClient()
	a := apptest.New(t, "access-test", map[string]string{
		"SUPABRIDGE_MANAGEMENT_API_URL":  stack.ManagementURL(),
		"SUPABRIDGE_OAUTH_CLIENT_ID":     oc.ID,
		"SUPABRIDGE_OAUTH_CLIENT_SECRET": oc.Secret,
		"SUPABRIDGE_OAUTH_REDIRECT_URL":  redirectURI,
	}, nil)
	a.ProjectURL = func(ref string) string {
		if p, ok := stack.ProjectByRef(ref); ok {
			return p.APIURL
		}
		return "http://127.0.0.1:1/no-such-project"
	}
	creds := credentials.New(a, events.New(a))
	f := &fixture{a: a, creds: creds, store: &countingStore{Store: a.Store}}
	f.r = access.New(a, creds)
	f.r.Store = f.store
	return f
}

// link stores an account and its credential as linking would.
func (f *fixture) link(t *testing.T, acct *bridge.Account, cred bridge.Credential) *bridge.Account {
	t.Helper()
	ctx := context.Background()
	acct.ID, acct.Environment, acct.TenantID, acct.Status = bridge.NewID(), "production", "tenant", bridge.StatusActive
	if err := f.creds.Save(ctx, acct, cred); err != nil {
		t.Fatal(err)
	}
	if err := f.a.Store.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	return acct
}

func (f *fixture) patAccount(t *testing.T) *bridge.Account {
	t.Helper()
	org := stack.Organization()
	return f.link(t, &bridge.Account{AuthMethod: bridge.AuthAccessToken, OrganizationID: org.ID, OrganizationSlug: org.Slug, OrganizationName: org.Name},
		bridge.Credential{Method: bridge.AuthAccessToken, PersonalAccessToken: bridge.Secret(stack.AccessToken())})
}

// oauthAccount links the stand-in's organization through a real OAuth
// grant (authorization code with PKCE).
func (f *fixture) oauthAccount(t *testing.T) *bridge.Account {
	t.Helper()
	ctx := context.Background()
	cfg := f.creds.OAuthConfig(redirectURI)
	verifier := oauth2.GenerateVerifier()
	code, err := stack.Authorize(cfg.AuthCodeURL("state", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	org := stack.Organization()
	return f.link(t, &bridge.Account{AuthMethod: bridge.AuthOAuth, OrganizationID: org.ID, OrganizationSlug: org.Slug, OrganizationName: org.Name},
		bridge.Credential{Method: bridge.AuthOAuth, AccessToken: bridge.Secret(tok.AccessToken), RefreshToken: bridge.Secret(tok.RefreshToken), TokenType: tok.TokenType, Expiry: tok.Expiry})
}

func keyCalls() int {
	return stack.Faults().Count(faults.Match{Server: localsupabase.ManagementServer, Route: "GET /v1/projects/{ref}/api-keys"})
}

func TestAccountsAreCachedPerEnvironment(t *testing.T) {
	f := newFixture(t)
	acct := f.patAccount(t)
	ctx := context.Background()
	for range 5 {
		got, err := f.r.Account(ctx, "production", acct.ID)
		if err != nil || got.ID != acct.ID {
			t.Fatalf("Account = %v, %v", got, err)
		}
	}
	if n := f.store.reads.Load(); n != 1 {
		t.Errorf("store reads = %d, want 1 (warm reads from memory)", n)
	}
	if _, err := f.r.Account(ctx, "staging", acct.ID); !bridge.IsCode(err, bridge.ENOTFOUND) {
		t.Errorf("another environment's account: %v, want ENOTFOUND", err)
	}
	f.r.Forget(acct)
	if _, err := f.r.Account(ctx, "production", acct.ID); err != nil {
		t.Fatal(err)
	}
	if n := f.store.reads.Load(); n != 3 {
		t.Errorf("store reads = %d, want 3 (after Forget, the store again)", n)
	}
}

func TestOrganizationProjectKey(t *testing.T) {
	f := newFixture(t)
	acct := f.patAccount(t)
	ctx := context.Background()
	ref := stack.Project().Ref
	before := keyCalls()

	pk, err := f.r.ProjectKey(ctx, acct, ref)
	if err != nil {
		t.Fatal(err)
	}
	if pk.URL != stack.Project().APIURL || pk.Kind != bridge.KeySecret || !pk.BypassesRLS || pk.Key.Reveal() != stack.Project().SecretKey {
		t.Fatalf("project key = %+v (kind %s), want the project's secret key", pk, pk.Kind)
	}
	if _, err := f.r.ProjectKey(ctx, acct, ref); err != nil {
		t.Fatal(err)
	}
	if n := keyCalls() - before; n != 1 {
		t.Errorf("Management API key reads = %d, want 1 (then memory)", n)
	}
	// A cold resolver (another process) finds it in the vault.
	cold := access.New(f.a, f.creds)
	if _, err := cold.ProjectKey(ctx, acct, ref); err != nil {
		t.Fatal(err)
	}
	if n := keyCalls() - before; n != 1 {
		t.Errorf("Management API key reads = %d after a cold start, want 1 (the vault has it)", n)
	}
	if _, err := f.a.Vault.GetFresh(ctx, vault.Ref{Environment: "production", Kind: vault.KindProject, ID: acct.ID + "/" + ref}); err != nil {
		t.Errorf("project key not in the vault: %v", err)
	}

	// The key works.
	c, err := f.r.Project(ctx, acct, ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Auth.ListUsers(ctx, nil); err != nil {
		t.Errorf("Auth admin call with the fetched key: %v", err)
	}

	// After Supabase rejects it, the next call fetches it again.
	if err := f.r.ProjectKeyRejected(ctx, acct, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := cold.ProjectKey(ctx, acct, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.ProjectKey(ctx, acct, ref); err != nil {
		t.Fatal(err)
	}
	if n := keyCalls() - before; n != 2 {
		t.Errorf("Management API key reads = %d, want 2 (one more after the rejection)", n)
	}
}

func TestProjectKeyErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	org := f.patAccount(t)
	p := stack.Project()
	proj := f.link(t, &bridge.Account{AuthMethod: bridge.AuthAPIKey, ProjectRef: p.Ref, ProjectURL: p.APIURL, KeyKind: bridge.KeySecret, BypassesRLS: true},
		bridge.Credential{Method: bridge.AuthAPIKey, APIKey: bridge.Secret(p.SecretKey)})
	tests := []struct {
		name string
		acct *bridge.Account
		ref  string
		code string
	}{
		{"organization, no ref", org, "", bridge.EINVALID},
		{"organization, malformed ref", org, "../../v1/organizations", bridge.EINVALID},
		{"organization, unknown project", org, "zzzzzzzzzzzzzzzzzzzz", bridge.ENOTFOUND},
		{"project account, other project", proj, "zzzzzzzzzzzzzzzzzzzz", bridge.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.r.ProjectKey(ctx, tt.acct, tt.ref)
			if !bridge.IsCode(err, tt.code) {
				t.Errorf("ProjectKey = %v, want %s", err, tt.code)
			}
			if err != nil && strings.Contains(err.Error(), stack.AccessToken()) {
				t.Errorf("error carries the access token: %v", err)
			}
		})
	}
	pk, err := f.r.ProjectKey(ctx, proj, "")
	if err != nil || pk.Ref != p.Ref || pk.Key.Reveal() != p.SecretKey {
		t.Errorf("project account's own key = %+v, %v", pk, err)
	}
}

// TestManagementRetriesOnceAfterRefresh: a 401 from the Management API on an
// OAuth account refreshes the grant once and replays the request.
func TestManagementRetriesOnceAfterRefresh(t *testing.T) {
	f := newFixture(t)
	acct := f.oauthAccount(t)
	ctx := context.Background()
	tokenCalls := func() int {
		return stack.Faults().Count(faults.Match{Server: localsupabase.ManagementServer, Route: "POST /v1/oauth/token"})
	}
	orgCalls := func() int {
		return stack.Faults().Count(faults.Match{Server: localsupabase.ManagementServer, Route: "GET /v1/organizations"})
	}
	tokens, orgs := tokenCalls(), orgCalls()
	stack.Faults().FailNext(faults.Match{Server: localsupabase.ManagementServer, Route: "GET /v1/organizations"}, 401, `{"message":"Unauthorized"}`, 1)

	got, _, err := f.r.Management(acct).Management.ListOrganizations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Slug != stack.Organization().Slug {
		t.Errorf("organizations = %+v", got)
	}
	if n := tokenCalls() - tokens; n != 1 {
		t.Errorf("token endpoint calls = %d, want 1", n)
	}
	if n := orgCalls() - orgs; n != 2 {
		t.Errorf("organization list calls = %d, want 2 (the rejected one and its replay)", n)
	}
}

// TestPersonalAccessTokenRejected: a PAT Supabase refuses is not retried;
// the caller gets the 401 and the account needs re-linking.
func TestPersonalAccessTokenRejected(t *testing.T) {
	f := newFixture(t)
	acct := f.patAccount(t)
	ctx := context.Background()
	stack.Faults().FailNext(faults.Match{Server: localsupabase.ManagementServer, Route: "GET /v1/organizations"}, 401, `{"message":"Unauthorized"}`, 1)
	_, _, err := f.r.Management(acct).Management.ListOrganizations(ctx)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want the 401", err)
	}
	stored, err := f.a.Store.GetAccount(ctx, "production", acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != bridge.StatusNeedsReauth {
		t.Errorf("status = %s, want needs_reauth", stored.Status)
	}
	var be *bridge.Error
	if _, err := f.r.Credential(ctx, stored); !errors.As(err, &be) || be.Code != bridge.ENEEDSREAUTH {
		t.Errorf("Credential after rejection = %v, want ENEEDSREAUTH", err)
	}
}

// TestProjectKeyRejectedFlagsAKeyAccount: a project account's key is its
// credential, so its rejection means the account must be linked again.
func TestProjectKeyRejectedFlagsAKeyAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := stack.Project()
	acct := f.link(t, &bridge.Account{AuthMethod: bridge.AuthAPIKey, ProjectRef: p.Ref, ProjectURL: p.APIURL, KeyKind: bridge.KeySecret, BypassesRLS: true},
		bridge.Credential{Method: bridge.AuthAPIKey, APIKey: bridge.Secret(p.SecretKey)})
	if err := f.r.ProjectKeyRejected(ctx, acct, ""); !bridge.IsCode(err, bridge.ENEEDSREAUTH) {
		t.Errorf("ProjectKeyRejected = %v, want ENEEDSREAUTH", err)
	}
	stored, err := f.a.Store.GetAccount(ctx, "production", acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != bridge.StatusNeedsReauth {
		t.Errorf("status = %s, want needs_reauth", stored.Status)
	}
}
