package userdir_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"sync/atomic"
	"testing"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/app/embedded"
	"github.com/supabridge/supabridge/shared/directory"
	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// counts is how often the state store and the vault were called.
type counts struct{ store, vault atomic.Int64 }

type countingBackend struct {
	store.Backend
	n *counts
}

func (b countingBackend) Get(ctx context.Context, pk, sk string) (*store.Item, error) {
	b.n.store.Add(1)
	return b.Backend.Get(ctx, pk, sk)
}

func (b countingBackend) Put(ctx context.Context, it *store.Item, c store.Condition) error {
	b.n.store.Add(1)
	return b.Backend.Put(ctx, it, c)
}

func (b countingBackend) Delete(ctx context.Context, pk, sk string, c store.Condition) error {
	b.n.store.Add(1)
	return b.Backend.Delete(ctx, pk, sk, c)
}

func (b countingBackend) Query(ctx context.Context, q store.Query) ([]*store.Item, error) {
	b.n.store.Add(1)
	return b.Backend.Query(ctx, q)
}

type countingVault struct {
	vault.Vault
	n *counts
}

func (v countingVault) Get(ctx context.Context, r vault.Ref) ([]byte, error) {
	v.n.vault.Add(1)
	return v.Vault.Get(ctx, r)
}

func (v countingVault) Put(ctx context.Context, r vault.Ref, b []byte) error {
	v.n.vault.Add(1)
	return v.Vault.Put(ctx, r, b)
}

func (v countingVault) Delete(ctx context.Context, r vault.Ref) error {
	v.n.vault.Add(1)
	return v.Vault.Delete(ctx, r)
}

// countingApp is an App on the embedded backend whose store and vault
// calls are counted below every cache.
func countingApp(t *testing.T) (*app.App, *counts) {
	t.Helper()
	n := &counts{}
	dir := t.TempDir()
	cfg, err := app.ConfigFromEnv("directory-test", func(k string) string {
		switch k {
		case "SUPABRIDGE_DATA_DIR":
			return dir
		case "SUPABRIDGE_MANAGEMENT_API_URL":
			return stack.ManagementURL()
		case "SUPABRIDGE_ALLOW_PRIVATE_UPSTREAMS":
			return "true"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	backends := func(ctx context.Context, cfg app.Config) (store.Backend, vault.Vault, []io.Closer, error) {
		b, v, closers, err := embedded.Backends(ctx, cfg)
		if err != nil {
			return nil, nil, nil, err
		}
		return countingBackend{b, n}, countingVault{v, n}, closers, nil
	}
	a, err := app.OpenWithLogger(context.Background(), cfg, slog.New(slog.DiscardHandler), app.WithEmbedded(backends))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a, n
}

// TestWarmRequestsCallOnlySupabase: once warm, a unified read makes only
// the Supabase calls its mapping needs and no store or vault call.
func TestWarmRequestsCallOnlySupabase(t *testing.T) {
	p := newProject(t, "warm")
	seedUsers(t, p, 300)
	a, n := countingApp(t)
	f := fixtureFor(t, a)
	project := f.projectAccount(t, p)
	windows := f.projectAccountWith(t, p, windowsSettings)
	org := f.orgAccount(t, "production")
	var page list[directory.User]
	ok(t, f.do(t, req{method: "GET", path: base + "/users", query: q(project, "limit", "50")}), 200, &page)
	first, cursor := page.Result[0].ID, *page.NextCursor

	api, mgmt := p.ServerName(), localsupabase.ManagementServer
	tests := []struct {
		name string
		r    req
		want map[string]int // server + " " + route → calls
	}{
		{"project users", req{method: "GET", path: base + "/users", query: q(project)},
			map[string]int{api + " POST /rest/v1/rpc/directory_auth_users": 1, api + " GET /rest/v1/profiles": 1}},
		{"project users, next page", req{method: "GET", path: base + "/users", query: q(project, "limit", "50", "next_cursor", cursor)},
			map[string]int{api + " POST /rest/v1/rpc/directory_auth_users": 1, api + " GET /rest/v1/profiles": 1}},
		{"project users through Auth's admin list", req{method: "GET", path: base + "/users", query: q(windows)},
			map[string]int{api + " GET /auth/v1/admin/users": 1, api + " GET /rest/v1/profiles": 1}},
		{"project user", req{method: "GET", path: base + "/users/" + first, query: q(project)},
			map[string]int{api + " GET /auth/v1/admin/users/" + first: 1, api + " GET /rest/v1/profiles": 1}},
		{"project roles", req{method: "GET", path: base + "/roles", query: q(project)},
			map[string]int{api + " GET /rest/v1/roles": 1}},
		{"organization members", req{method: "GET", path: base + "/users", query: q(org)},
			map[string]int{mgmt + " GET /v1/organizations/{slug}/members": 1}},
		{"an organization's project", req{method: "GET", path: base + "/users", query: q(org, "project_ref", p.Ref)},
			map[string]int{api + " POST /rest/v1/rpc/directory_auth_users": 1, api + " GET /rest/v1/profiles": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The cold request reads the account and its credential (and,
			// for an organization's project, fetches its key).
			ok(t, f.do(t, tt.r), 200, nil)
			stack.Faults().ResetCounts()
			n.store.Store(0)
			n.vault.Store(0)
			ok(t, f.do(t, tt.r), 200, nil)
			if s, v := n.store.Load(), n.vault.Load(); s != 0 || v != 0 {
				t.Errorf("a warm request made %d store and %d vault calls, want none", s, v)
			}
			got := map[string]int{}
			for _, c := range stack.Faults().Counts() {
				if c.Server == api || c.Server == mgmt {
					got[c.Server+" "+c.Route] += c.Count
				}
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("Supabase calls = %v, want %v", got, tt.want)
			}
		})
	}
}
