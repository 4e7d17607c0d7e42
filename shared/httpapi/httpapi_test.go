package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/logs"
)

// keyStore is a KeyStore backed by a map, counting lookups.
type keyStore struct {
	keys    map[string]*bridge.APIKey
	lookups int
}

func (s *keyStore) APIKeyByHash(_ context.Context, hash string) (*bridge.APIKey, error) {
	s.lookups++
	if k, ok := s.keys[hash]; ok {
		return k, nil
	}
	return nil, bridge.Errorf(bridge.ENOTFOUND, "API key not found.")
}

type fixture struct {
	handler http.Handler
	keys    *keyStore
	key     string
	logs    *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	k, secret, err := bridge.NewAPIKey("production", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ks := &keyStore{keys: map[string]*bridge.APIKey{k.Hash: k}}
	auth := &httpapi.Authenticator{Keys: ks}
	rt := httpapi.NewRouter()
	rt.Handle("GET /things/{id}", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.JSON(w, 200, map[string]string{"id": r.PathValue("id"), "env": httpapi.Environment(r)})
	})))
	rt.Handle("POST /things", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Name  string `json:"name"`
			Count int    `json:"count"`
		}
		if err := httpapi.Decode(r, &body); err != nil {
			httpapi.Error(w, r, err)
			return
		}
		httpapi.JSON(w, 201, body)
	})))
	rt.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("kaboom " + secret.Reveal()) })
	rt.HandleFunc("GET /fail", func(w http.ResponseWriter, r *http.Request) {
		httpapi.Error(w, r, bridge.Errorf(bridge.EINTERNAL, "x").WithCause(context.DeadlineExceeded))
	})
	buf := new(bytes.Buffer)
	return &fixture{
		handler: httpapi.Serve(rt, httpapi.Options{Logger: logs.New(buf, slog.LevelDebug), MaxBody: 64}),
		keys:    ks, key: secret.Reveal(), logs: buf,
	}
}

func (f *fixture) do(t *testing.T, method, path, body string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

func assertEnvelope(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) httpapi.ErrorBody {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var b httpapi.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("body is not the envelope: %v: %s", err, rec.Body)
	}
	if b.StatusCode != status || b.Error != http.StatusText(status) || b.Code != code || b.Message == "" {
		t.Errorf("envelope = %+v, want statusCode %d, error %q, code %q and a message", b, status, http.StatusText(status), code)
	}
	if rec.Header().Get(httpapi.RequestIDHeader) == "" {
		t.Error("no X-Request-Id on the response")
	}
	return b
}

func TestErrorsAreEnvelopes(t *testing.T) {
	f := newFixture(t)
	auth := map[string]string{"Authorization": "Bearer " + f.key}
	json := map[string]string{"Authorization": "Bearer " + f.key, "Content-Type": "application/json"}
	tests := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		code, msgHas             string
	}{
		{"unknown route", "GET", "/nope", "", auth, 404, bridge.ENOTFOUND, "No route"},
		{"wrong method", "DELETE", "/things/1", "", auth, 405, bridge.EMETHOD, "GET"},
		{"no key", "GET", "/things/1", "", nil, 401, bridge.EUNAUTHORIZED, "Bearer"},
		{"malformed key", "GET", "/things/1", "", map[string]string{"Authorization": "Bearer nope"}, 401, bridge.EUNAUTHORIZED, "invalid"},
		{"unknown key", "GET", "/things/1", "", map[string]string{"Authorization": "Bearer sbk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 401, bridge.EUNAUTHORIZED, "invalid"},
		{"basic auth", "GET", "/things/1", "", map[string]string{"Authorization": "Basic Zm9vOmJhcg=="}, 401, bridge.EUNAUTHORIZED, "Bearer"},
		{"malformed JSON", "POST", "/things", `{"name":`, json, 400, bridge.EINVALID, "ends unexpectedly"},
		{"syntax error", "POST", "/things", `{"name" 1}`, json, 400, bridge.EINVALID, "syntax error at byte"},
		{"wrong type", "POST", "/things", `{"count":"x"}`, json, 400, bridge.EINVALID, `"count" must be a number`},
		{"unknown field", "POST", "/things", `{"nmae":"x"}`, json, 400, bridge.EINVALID, `"nmae" is not recognised`},
		{"two values", "POST", "/things", `{} {}`, json, 400, bridge.EINVALID, "single JSON value"},
		{"empty body", "POST", "/things", ``, json, 400, bridge.EINVALID, "empty"},
		{"not JSON", "POST", "/things", `a=b`, map[string]string{"Authorization": "Bearer " + f.key, "Content-Type": "application/x-www-form-urlencoded"}, 415, bridge.EUNSUPPORTEDMED, "JSON"},
		{"oversized", "POST", "/things", `{"name":"` + strings.Repeat("x", 100) + `"}`, json, 413, bridge.ETOOLARGE, "64 bytes"},
		{"panic", "GET", "/boom", "", nil, 500, bridge.EINTERNAL, "internal"},
		{"dot segments", "GET", "/things/../things/1", "", auth, 400, bridge.EINVALID, "not canonical"},
		{"double slash", "GET", "//things/1", "", auth, 400, bridge.EINVALID, "not canonical"},
		{"encoded dots", "GET", "/things/%2e%2e/things/1", "", auth, 400, bridge.EINVALID, "not canonical"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.do(t, tt.method, tt.path, tt.body, tt.header)
			b := assertEnvelope(t, rec, tt.status, tt.code)
			if !strings.Contains(b.Message, tt.msgHas) {
				t.Errorf("message %q does not mention %q", b.Message, tt.msgHas)
			}
		})
	}
}

func TestMethodNotAllowedListsAllow(t *testing.T) {
	f := newFixture(t)
	rec := f.do(t, "PUT", "/things", "", nil)
	assertEnvelope(t, rec, 405, bridge.EMETHOD)
	if got := rec.Header().Get("Allow"); got != "POST" {
		t.Errorf("Allow = %q, want POST", got)
	}
}

func TestAuthenticatedRequestAndCache(t *testing.T) {
	f := newFixture(t)
	for range 3 {
		rec := f.do(t, "GET", "/things/42", "", map[string]string{"Authorization": "Bearer " + f.key})
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"env":"production"`) {
			t.Fatalf("got %d %s", rec.Code, rec.Body)
		}
	}
	if f.keys.lookups != 1 {
		t.Errorf("store lookups = %d, want 1 (later requests served from the cache)", f.keys.lookups)
	}
}

func TestRequestIDPropagation(t *testing.T) {
	f := newFixture(t)
	rec := f.do(t, "GET", "/nope", "", map[string]string{httpapi.RequestIDHeader: "caller-chosen-id-123"})
	if got := rec.Header().Get(httpapi.RequestIDHeader); got != "caller-chosen-id-123" {
		t.Errorf("request id = %q, want the caller's", got)
	}
	rec = f.do(t, "GET", "/nope", "", map[string]string{httpapi.RequestIDHeader: "bad id\nwith newline"})
	if got := rec.Header().Get(httpapi.RequestIDHeader); !strings.HasPrefix(got, "req_") {
		t.Errorf("malformed caller id was kept: %q", got)
	}
	for _, line := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["request_id"] == nil || m["request_id"] == "" {
			t.Errorf("log line without request_id: %s", line)
		}
	}
}

func TestLogsNeverCarryCredentials(t *testing.T) {
	f := newFixture(t)
	f.do(t, "GET", "/boom", "", map[string]string{"Authorization": "Bearer " + f.key})
	f.do(t, "GET", "/fail", "", nil)
	if !strings.Contains(f.logs.String(), "panic") || !strings.Contains(f.logs.String(), "deadline") {
		t.Fatalf("expected the panic and the internal cause to be logged:\n%s", f.logs)
	}
	if strings.Contains(f.logs.String(), f.key) {
		t.Errorf("an API key reached the logs:\n%s", f.logs)
	}
}

func TestLimitBody(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]string
		if err := httpapi.Decode(r, &v); err != nil {
			httpapi.Error(w, r, err)
			return
		}
		httpapi.JSON(w, 200, v)
	})
	h := httpapi.LimitBody(echo, 16)
	for _, tt := range []struct {
		name   string
		body   string
		chunk  bool
		status int
	}{
		{"within", `{"a":"b"}`, false, 200},
		{"declared over", `{"a":"0123456789abcdef"}`, false, 413},
		{"streamed over", `{"a":"0123456789abcdef"}`, true, 413},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.chunk {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
		})
	}
	if httpapi.LimitBody(echo, 0) == nil || httpapi.LimitBody(echo, -1) == nil {
		t.Error("no limit must still serve")
	}
}
