package link_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/link"
	"github.com/supabridge/supabridge/shared/store"
)

func TestEnvironmentSettings(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend, envOptions{})
			ctx := context.Background()
			st := e.app.Store

			if _, err := st.GetEnvironmentSettings(ctx, "production"); !bridge.IsCode(err, bridge.ENOTFOUND) {
				t.Fatalf("unset settings: %v, want not found", err)
			}
			s := &store.EnvironmentSettings{Environment: "production", RedirectURIs: []string{"https://a.example/cb"}}
			if err := st.PutEnvironmentSettings(ctx, s); err != nil || s.Version != 1 {
				t.Fatalf("create: %v (version %d)", err, s.Version)
			}
			if err := st.PutEnvironmentSettings(ctx, &store.EnvironmentSettings{Environment: "production"}); !bridge.IsCode(err, bridge.ECONFLICT) {
				t.Errorf("second create: %v, want conflict", err)
			}
			stale := *s
			s.RedirectURIs = append(s.RedirectURIs, "https://b.example/cb")
			if err := st.PutEnvironmentSettings(ctx, s); err != nil || s.Version != 2 {
				t.Fatalf("update: %v (version %d)", err, s.Version)
			}
			if err := st.PutEnvironmentSettings(ctx, &stale); !bridge.IsCode(err, bridge.ECONFLICT) || stale.Version != 1 {
				t.Errorf("stale update: %v (version %d), want conflict and no change", err, stale.Version)
			}
			got, err := st.GetEnvironmentSettings(ctx, "production")
			if err != nil || got.Version != 2 || !slices.Equal(got.RedirectURIs, s.RedirectURIs) {
				t.Errorf("read back %+v, %v", got, err)
			}
			if err := st.PutEnvironmentSettings(ctx, &store.EnvironmentSettings{Environment: "Bad Env"}); !bridge.IsCode(err, bridge.EINVALID) {
				t.Errorf("invalid environment: %v", err)
			}

			// Concurrent admins each get their entry in.
			var wg sync.WaitGroup
			for i := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := link.AllowRedirect(ctx, st, "staging", fmt.Sprintf("https://app%d.example/cb", i)); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			list, err := link.RedirectAllowlist(ctx, st, "staging")
			if err != nil || len(list) != 6 {
				t.Fatalf("allowlist after concurrent adds: %v, %v", list, err)
			}
			if _, err := link.AllowRedirect(ctx, st, "staging", "https://app0.example/cb"); err != nil {
				t.Error(err)
			}
			if _, err := link.AllowRedirect(ctx, st, "staging", "https://app.example*"); !bridge.IsCode(err, bridge.EINVALID) {
				t.Errorf("invalid entry: %v", err)
			}
			list, err = link.DisallowRedirect(ctx, st, "staging", "https://app3.example/cb")
			if err != nil || len(list) != 5 || slices.Contains(list, "https://app3.example/cb") {
				t.Errorf("after removal: %v, %v", list, err)
			}
			if _, err := link.DisallowRedirect(ctx, st, "staging", "https://app3.example/cb"); !bridge.IsCode(err, bridge.ENOTFOUND) {
				t.Errorf("removing a missing entry: %v", err)
			}

			// The allowlist governs link tokens at once.
			if status, body := e.api(e.prodKey, "POST", "/link-tokens", map[string]any{"tenant_id": "t", "redirect_uri": "https://b.example/cb"}); status != 201 {
				t.Errorf("allowlisted redirect: %d %s", status, body)
			}
		})
	}
}
