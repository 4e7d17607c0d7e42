package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runner is the built local runner, started once per test.
type runner struct {
	cmd   *exec.Cmd
	lines map[string]string // KEY=value lines printed on stdout
	order []string
}

func buildRunner(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "local")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// start runs the binary and reads its KEY=value lines until last appears.
func start(t *testing.T, bin, last string, args ...string) *runner {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-data", t.TempDir()}, args...)...)
	cmd.Env = append(os.Environ(), "SUPABRIDGE_API_KEY=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &runner{cmd: cmd, lines: map[string]string{}}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	got := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), "=")
			if !ok {
				continue
			}
			r.lines[k] = v
			r.order = append(r.order, k)
			if k == last {
				got <- nil
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		got <- io.ErrUnexpectedEOF
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the runner stopped before printing %s: %v (printed %v)", last, err, r.order)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("the runner did not print %s in time", last)
	}
	return r
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// The sandbox prints the runner's lines, a link, then the stand-in's lines,
// and a newcomer can link with what it printed.
func TestSandbox(t *testing.T) {
	bin := buildRunner(t)

	t.Run("plain runner starts without the stand-in", func(t *testing.T) {
		began := time.Now()
		r := start(t, bin, "SUPABRIDGE_API_KEY")
		if _, ok := r.lines["API_URL"]; ok {
			t.Error("the plain runner printed the stand-in's settings")
		}
		t.Logf("plain runner ready in %v", time.Since(began).Round(time.Millisecond))
	})

	r := start(t, bin, "FAULTS_URL", "-sandbox")
	want := []string{"SUPABRIDGE_URL", "SUPABRIDGE_API_KEY", "SUPABRIDGE_LINK_URL", "API_URL", "SERVICE_ROLE_KEY", "SECRET_KEY", "ACCESS_TOKEN", "DB_URL", "MANAGEMENT_API_URL"}
	for _, k := range want {
		if r.lines[k] == "" {
			t.Fatalf("%s not printed; got %v", k, r.order)
		}
	}
	if !strings.HasPrefix(r.order[0], "SUPABRIDGE_") || !strings.HasPrefix(r.order[2], "SUPABRIDGE_") || strings.HasPrefix(r.order[3], "SUPABRIDGE_") {
		t.Errorf("the SUPABRIDGE_ lines do not come first: %v", r.order)
	}

	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	link := func(linkURL string, path string, fields url.Values) {
		t.Helper()
		resp, err := client.Get(linkURL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := csrfField.FindSubmatch(b)
		if resp.StatusCode != 200 || m == nil {
			t.Fatalf("connect page: %d %s", resp.StatusCode, b)
		}
		u, _ := url.Parse(linkURL)
		fields.Set("link_token", u.Query().Get("link_token"))
		fields.Set("csrf_token", string(m[1]))
		resp, err = client.PostForm(r.lines["SUPABRIDGE_URL"]+path, fields)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "is connected") {
			t.Fatalf("link: %d %s", resp.StatusCode, b)
		}
	}
	// The printed link, with the printed project URL and secret key.
	link(r.lines["SUPABRIDGE_LINK_URL"], "/connect/api-key", url.Values{"project_url": {r.lines["API_URL"]}, "api_key": {r.lines["SECRET_KEY"]}})

	// A second link through the API, with the printed access token.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.lines["SUPABRIDGE_URL"]+"/link-tokens", strings.NewReader(`{"tenant_id":"newcomer"}`))
	req.Header.Set("Authorization", "Bearer "+r.lines["SUPABRIDGE_API_KEY"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`"link_url":"([^"]+)"`).FindSubmatch(b)
	if resp.StatusCode != 201 || m == nil {
		t.Fatalf("POST /link-tokens: %d %s", resp.StatusCode, b)
	}
	link(string(m[1]), "/connect/access-token", url.Values{"access_token": {r.lines["ACCESS_TOKEN"]}})

	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, r.lines["SUPABRIDGE_URL"]+"/integrated-accounts", nil)
	req.Header.Set("Authorization", "Bearer "+r.lines["SUPABRIDGE_API_KEY"])
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"result_count":2`) || strings.Count(string(b), `"status":"active"`) != 2 {
		t.Errorf("accounts after two links: %s", b)
	}
}
