package main

import (
	"bufio"
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestCommandStartsServesAndCleansUp builds the command, runs it with a
// private cluster, calls the API it announces, then stops it with SIGTERM
// and checks the cluster is gone.
func TestCommandStartsServesAndCleansUp(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "supabase-local")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-oauth-auto-approve")
	cmd.Env = append(cmd.Environ(), "SUPABASE_LOCAL_DB_URL=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	env := map[string]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	for env["FAULTS_URL"] == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("command exited early; saw %v", env)
			}
			k, v, _ := strings.Cut(l, "=")
			env[k] = v
		case <-timeout:
			t.Fatal("no env lines within 60s")
		}
	}
	for _, k := range []string{"API_URL", "DB_URL", "JWT_SECRET", "ANON_KEY", "SERVICE_ROLE_KEY", "PUBLISHABLE_KEY", "SECRET_KEY",
		"PROJECT_REF", "MANAGEMENT_API_URL", "ORG_SLUG", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "ACCESS_TOKEN"} {
		if env[k] == "" {
			t.Errorf("missing %s", k)
		}
	}
	checks := []struct{ url, header, value string }{
		{env["API_URL"] + "/auth/v1/health", "apikey", env["ANON_KEY"]},
		{env["API_URL"] + "/auth/v1/admin/users", "apikey", env["SECRET_KEY"]},
		{env["MANAGEMENT_API_URL"] + "/v1/projects/" + env["PROJECT_REF"], "Authorization", "Bearer " + env["ACCESS_TOKEN"]},
	}
	for _, c := range checks {
		req, _ := http.NewRequest("GET", c.url, nil)
		req.Header.Set(c.header, c.value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d", c.url, resp.StatusCode)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("command did not exit after SIGTERM")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, env["DB_URL"]); err == nil {
		conn.Close(ctx)
		t.Error("the private cluster still accepts connections after exit")
	}
}
