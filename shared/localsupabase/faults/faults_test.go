package faults_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/localsupabase/faults"
)

func newServer(t *testing.T, in *faults.Injector) *httptest.Server {
	t.Helper()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "served") })
	srv := httptest.NewServer(in.Wrap("api", ok, faults.ServerOptions{}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, headers ...string) (int, string, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func wantResult(t *testing.T, url string, status int, body string) {
	t.Helper()
	s, b, err := get(t, url)
	if err != nil {
		t.Fatal(err)
	}
	if s != status || !strings.Contains(b, body) {
		t.Errorf("GET %s = %d %q, want %d containing %q", url, s, b, status, body)
	}
}

func TestFaultKinds(t *testing.T) {
	tests := []struct {
		name   string
		add    func(in *faults.Injector) string
		status int
		body   string
	}{
		{"status", func(in *faults.Injector) string {
			return in.FailNext(faults.Match{Path: "/x"}, 503, "", 1)
		}, 503, `{"message":"Service Unavailable"}`},
		{"status with body", func(in *faults.Injector) string {
			return in.FailNext(faults.Match{Method: "GET", Path: "/x*"}, 500, `{"message":"boom"}`, 1)
		}, 500, `{"message":"boom"}`},
		{"rate limit", func(in *faults.Injector) string {
			return in.RateLimitNext(faults.Match{Server: "api"}, 1)
		}, 429, "Too Many Requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := faults.New()
			srv := newServer(t, in)
			tt.add(in)
			wantResult(t, srv.URL+"/x", tt.status, tt.body)
			wantResult(t, srv.URL+"/x", 200, "served") // count 1: used up
			if n := len(in.Rules()); n != 0 {
				t.Errorf("%d rules left after use", n)
			}
		})
	}
}

func TestFaultMatchingAndRemoval(t *testing.T) {
	in := faults.New()
	srv := newServer(t, in)
	id := in.FailNext(faults.Match{Server: "other"}, 500, "", 0)
	wantResult(t, srv.URL+"/x", 200, "served")
	in.Remove(id)
	id = in.FailNext(faults.Match{Credential: "tok-a"}, 401, "", 0)
	if s, _, _ := get(t, srv.URL+"/y", "Authorization", "Bearer tok-a"); s != 401 {
		t.Errorf("credential match: %d", s)
	}
	if s, _, _ := get(t, srv.URL+"/y", "Authorization", "Bearer tok-b"); s != 200 {
		t.Errorf("other credential: %d", s)
	}
	if s, _, _ := get(t, srv.URL+"/y", "Authorization", "Bearer tok-a"); s != 401 {
		t.Errorf("count 0 must persist: %d", s)
	}
	if !in.Remove(id) || in.Remove(id) {
		t.Error("Remove reports wrongly")
	}
	in.FailNext(faults.Match{}, 500, "", 0)
	in.Clear()
	wantResult(t, srv.URL+"/z", 200, "served")
}

func TestLatencyAndDrop(t *testing.T) {
	in := faults.New()
	srv := newServer(t, in)
	in.AddLatency(faults.Match{Path: "/slow"}, 150*time.Millisecond, 1)
	start := time.Now()
	wantResult(t, srv.URL+"/slow", 200, "served")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("latency %v, want at least 150ms", d)
	}
	start = time.Now()
	wantResult(t, srv.URL+"/slow", 200, "served")
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("second request still delayed: %v", d)
	}
	in.DropNext(faults.Match{Path: "/drop"}, 1)
	// A fresh connection: Go's client silently retries an idempotent
	// request whose reused connection closes without an answer.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := fresh.Get(srv.URL + "/drop"); err == nil {
		resp.Body.Close()
		t.Error("dropped request got an answer")
	}
	wantResult(t, srv.URL+"/drop", 200, "served")
}

func TestCounters(t *testing.T) {
	in := faults.New()
	srv := newServer(t, in)
	for _, h := range [][]string{{"Authorization", "Bearer one"}, {"apikey", "two"}, {"Authorization", "Bearer one"}} {
		if _, _, err := get(t, srv.URL+"/c", h...); err != nil {
			t.Fatal(err)
		}
	}
	in.FailNext(faults.Match{}, 500, "", 1)
	_, _, _ = get(t, srv.URL+"/d")
	tests := []struct {
		m    faults.Match
		want int
	}{
		{faults.Match{}, 4},
		{faults.Match{Route: "GET /c"}, 3},
		{faults.Match{Route: "GET /c", Credential: "one"}, 2},
		{faults.Match{Credential: "two"}, 1},
		{faults.Match{Path: "/d"}, 1},
		{faults.Match{Server: "other"}, 0},
	}
	for _, tt := range tests {
		if got := in.Count(tt.m); got != tt.want {
			t.Errorf("Count(%+v) = %d, want %d", tt.m, got, tt.want)
		}
	}
	for _, c := range in.Counts() {
		if strings.Contains(c.Credential, "one") || len(c.Credential) > 12 {
			t.Errorf("counter exposes a credential: %+v", c)
		}
	}
	in.ResetCounts()
	if in.Count(faults.Match{}) != 0 {
		t.Error("ResetCounts left counts")
	}
}

func TestAdminHandler(t *testing.T) {
	in := faults.New()
	srv := newServer(t, in)
	admin := httptest.NewServer(in.Handler())
	defer admin.Close()
	in.Mount("realtime", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "mounted "+r.URL.Path) }))

	post := func(body string) (int, string) {
		resp, err := http.Post(admin.URL+"/faults", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, bad := range []string{`{"kind":"explode"}`, `{"kind":"status","status":42}`, `{`, `{"kind":"latency","latency_ms":-1}`} {
		if s, _ := post(bad); s != 400 {
			t.Errorf("POST %s = %d, want 400", bad, s)
		}
	}
	s, b := post(`{"match":{"path":"/h"},"kind":"status","status":502,"count":2}`)
	if s != 201 {
		t.Fatalf("add rule: %d %s", s, b)
	}
	wantResult(t, srv.URL+"/h", 502, "Bad Gateway")
	wantResult(t, admin.URL+"/faults", 200, `"remaining":1`)
	wantResult(t, admin.URL+"/count?path=/h", 200, `{"count":1}`)
	wantResult(t, admin.URL+"/counts", 200, `"route":"GET /h"`)
	wantResult(t, admin.URL+"/realtime/state", 200, "mounted /state")
	wantResult(t, admin.URL+"/nothing/here", 404, "not found")

	var id struct{ ID string }
	_ = json.Unmarshal([]byte(b), &id)
	req, _ := http.NewRequest("DELETE", admin.URL+"/faults/"+id.ID, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("delete rule: %v %v", err, resp)
	}
	wantResult(t, srv.URL+"/h", 200, "served")
	req, _ = http.NewRequest("DELETE", admin.URL+"/counts", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatal("reset counts failed")
	}
	wantResult(t, admin.URL+"/count", 200, `{"count":0}`)
}
