package localsupabase_test

import (
	"testing"

	"github.com/supabridge/supabridge/scripts/js/jstest"
	"github.com/supabridge/supabridge/shared/localsupabase"
)

// TestSupabaseJSAuthAdmin runs scripts/js/conformance/auth.mjs (the
// official supabase-js, pinned in scripts/js's lockfile, on the pinned Node
// 22) against a fresh project, once with the legacy service_role key and
// once with the sb_secret_ key.
func TestSupabaseJSAuthAdmin(t *testing.T) {
	jstest.Node(t) // before starting anything: fail fast without the pinned tools
	st := newStack(t, localsupabase.Config{})
	org := st.Organization()
	for _, tt := range []struct {
		name string
		key  func(*localsupabase.Project) string
	}{
		{"service_role key", func(p *localsupabase.Project) string { return p.ServiceRoleKey }},
		{"secret key", func(p *localsupabase.Project) string { return p.SecretKey }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := st.AddProject(t.Context(), org.Slug, tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if n := jstest.Run(t, "auth.mjs", 0, "SUPABASE_URL="+p.APIURL, "ADMIN_KEY="+tt.key(p)); n != 5 {
				t.Errorf("%d supabase-js tests passed, want 5", n)
			}
		})
	}
}
