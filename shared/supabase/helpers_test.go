package supabase

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// Credentials the fake servers expect; shaped like the real ones so the
// scrubbing tests see realistic values.
const (
	testKey = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"
	testPAT = "sbp_0123456789abcdef0123456789abcdef01234567"
)

// basePath is where every fake server mounts the API, so tests catch
// requests that drop the base URL's path.
const basePath = "/mount/point"

// recorded is one request as a fake server saw it.
type recorded struct {
	Method string
	Path   string // with basePath removed
	Query  url.Values
	Header http.Header
	Body   []byte
}

// fakeServer answers every request with the canned response its handler
// picks and records what it received.
type fakeServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newFakeServer(t *testing.T, h func(w http.ResponseWriter, r *recorded)) *fakeServer {
	t.Helper()
	fs := &fakeServer{}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rest, ok := strings.CutPrefix(r.URL.Path, basePath+"/")
		if !ok {
			http.Error(w, `{"message":"outside the base path"}`, http.StatusTeapot)
			return
		}
		rec := recorded{Method: r.Method, Path: rest, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body}
		fs.mu.Lock()
		fs.reqs = append(fs.reqs, rec)
		fs.mu.Unlock()
		h(w, &rec)
	}))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *fakeServer) requests() []recorded {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]recorded(nil), fs.reqs...)
}

func (fs *fakeServer) last(t *testing.T) recorded {
	t.Helper()
	reqs := fs.requests()
	if len(reqs) == 0 {
		t.Fatal("no request reached the server")
	}
	return reqs[len(reqs)-1]
}

func (fs *fakeServer) base() string { return fs.URL + basePath }

// reply writes a canned answer.
func reply(w http.ResponseWriter, status int, header map[string]string, body string) {
	for k, v := range header {
		w.Header().Set(k, v)
	}
	if body != "" && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func projectClient(t *testing.T, fs *fakeServer) *Client {
	t.Helper()
	c, err := NewProjectClient(fs.base(), testKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func managementClient(t *testing.T, fs *fakeServer) *Client {
	t.Helper()
	c, err := NewPersonalAccessTokenClient(fs.base(), testPAT)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantRequest is what a test expects a request to look like. Empty fields
// are not checked, except Query, which must match exactly when non-nil,
// and Body, which must be JSON-equal when set ("-" means no body).
type wantRequest struct {
	Method string
	Path   string
	Query  url.Values
	Header map[string]string
	Body   string
}

func assertRequest(t *testing.T, got recorded, want wantRequest) {
	t.Helper()
	if want.Method != "" && got.Method != want.Method {
		t.Errorf("method = %s, want %s", got.Method, want.Method)
	}
	if want.Path != "" && got.Path != want.Path {
		t.Errorf("path = %q, want %q", got.Path, want.Path)
	}
	if want.Query != nil {
		gq := got.Query
		if len(gq) == 0 && len(want.Query) == 0 {
			gq = want.Query
		}
		if !reflect.DeepEqual(gq, want.Query) {
			t.Errorf("query = %v, want %v", got.Query, want.Query)
		}
	}
	for k, v := range want.Header {
		if g := got.Header.Get(k); g != v {
			t.Errorf("header %s = %q, want %q", k, g, v)
		}
	}
	switch want.Body {
	case "":
	case "-":
		if len(got.Body) != 0 {
			t.Errorf("body = %s, want none", got.Body)
		}
	default:
		assertJSONEqual(t, got.Body, []byte(want.Body))
	}
}

func assertJSONEqual(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("body %q is not JSON: %v", got, err)
		return
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want %q is not JSON: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body = %s, want %s", got, want)
	}
}

func assertEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func assertNoError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// assertNoSecret fails if s contains any of the secrets.
func assertNoSecret(t *testing.T, what, s string, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			t.Errorf("%s contains a credential: %q", what, s)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
