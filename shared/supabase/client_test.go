package supabase

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestNewRequest(t *testing.T) {
	c, err := NewClient("https://bridge.example/proxy")
	assertNoError(t, err)
	ctx := context.Background()
	for _, tc := range []struct {
		path    string
		want    string
		wantErr bool
	}{
		{"v1/projects", "https://bridge.example/proxy/v1/projects", false},
		{"rest/v1/t?select=*&a=eq.1", "https://bridge.example/proxy/rest/v1/t?select=*&a=eq.1", false},
		{"/v1/projects", "", true},
		{"https://evil.example/v1", "", true},
		{"//evil.example/v1", "", true},
		{"%zz", "", true},
	} {
		req, err := c.NewRequest(ctx, "GET", tc.path, nil)
		if tc.wantErr {
			if err == nil {
				t.Errorf("NewRequest(%q) = %s, want an error", tc.path, req.URL)
			}
			continue
		}
		assertNoError(t, err)
		assertEqual(t, tc.path, req.URL.String(), tc.want)
		assertEqual(t, "user agent", req.Header.Get("User-Agent"), "supabridge")
	}

	req, err := c.NewRequest(ctx, "POST", "x", map[string]string{"html": "<&>"})
	assertNoError(t, err)
	body, _ := io.ReadAll(req.Body)
	assertEqual(t, "JSON body", string(body), "{\"html\":\"<&>\"}\n")
	assertEqual(t, "content type", req.Header.Get("Content-Type"), "application/json")

	if _, err := c.NewRequest(ctx, "POST", "x", func() {}); err == nil {
		t.Error("an unencodable body was accepted")
	}
}

func TestConstructors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mk   func() (*Client, error)
		ok   bool
	}{
		{"project", func() (*Client, error) { return NewProjectClient("https://abc.supabase.co", "k") }, true},
		{"project without key", func() (*Client, error) { return NewProjectClient("https://abc.supabase.co", "") }, false},
		{"project relative URL", func() (*Client, error) { return NewProjectClient("abc.supabase.co", "k") }, false},
		{"project URL with query", func() (*Client, error) { return NewProjectClient("https://abc.supabase.co?apikey=k", "k") }, false},
		{"project URL with userinfo", func() (*Client, error) { return NewProjectClient("https://u:p@abc.supabase.co", "k") }, false},
		{"management default URL", func() (*Client, error) { return NewManagementClient("", StaticToken("t")) }, true},
		{"management nil token source", func() (*Client, error) { return NewManagementClient("", nil) }, false},
		{"PAT", func() (*Client, error) { return NewPersonalAccessTokenClient("", "sbp_x") }, true},
		{"PAT empty", func() (*Client, error) { return NewPersonalAccessTokenClient("", "") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.mk()
			if !tc.ok {
				if err == nil {
					t.Fatal("constructor accepted bad input")
				}
				return
			}
			assertNoError(t, err)
			if c.HTTPClient() == http.DefaultClient || c.HTTPClient().Timeout != DefaultTimeout {
				t.Errorf("client %p timeout %s, want a private client with %s", c.HTTPClient(), c.HTTPClient().Timeout, DefaultTimeout)
			}
			if !strings.HasSuffix(c.BaseURL().Path, "/") {
				t.Errorf("base URL %s lacks its trailing slash", c.BaseURL())
			}
		})
	}
	c, err := NewManagementClient("", StaticToken("t"))
	assertNoError(t, err)
	assertEqual(t, "default base", c.BaseURL().String(), DefaultManagementURL+"/")
}

func TestOptions(t *testing.T) {
	mine := &http.Client{Timeout: 5 * time.Second}
	c, err := NewProjectClient("https://abc.supabase.co", "k", WithHTTPClient(mine), WithUserAgent("ua/1"))
	assertNoError(t, err)
	assertEqual(t, "caller's client untouched", mine.Transport, http.RoundTripper(nil))
	assertEqual(t, "kept timeout", c.HTTPClient().Timeout, 5*time.Second)
	if _, ok := c.HTTPClient().Transport.(*APIKeyTransport); !ok {
		t.Errorf("transport %T is not the API key transport", c.HTTPClient().Transport)
	}
	req, _ := c.NewRequest(context.Background(), "GET", "x", nil)
	assertEqual(t, "user agent", req.Header.Get("User-Agent"), "ua/1")

	c, err = NewProjectClient("https://abc.supabase.co", "k", WithHTTPClient(mine), WithTimeout(0))
	assertNoError(t, err)
	assertEqual(t, "timeout disabled", c.HTTPClient().Timeout, time.Duration(0))
}

// roundTripFunc is a RoundTripper from a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func okResponse(r *http.Request) *http.Response {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: r}
}

func TestAPIKeyTransport(t *testing.T) {
	for _, tc := range []struct {
		name     string
		key      string
		authz    string
		wantAuth string
	}{
		{"legacy JWT", "eyJa.b.c", "", "Bearer eyJa.b.c"},
		{"publishable key as bearer, equal to apikey", "sb_publishable_x", "", "Bearer sb_publishable_x"},
		{"secret key", "sb_secret_x", "", "Bearer sb_secret_x"},
		{"user token kept", "sb_publishable_x", "Bearer user-jwt", "Bearer user-jwt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen *http.Request
			tr := &APIKeyTransport{Key: tc.key, Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				seen = r
				return okResponse(r), nil
			})}
			req, _ := http.NewRequest("GET", "https://abc.supabase.co/rest/v1/t", nil)
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			_, err := tr.RoundTrip(req)
			assertNoError(t, err)
			assertEqual(t, "apikey", seen.Header.Get("apikey"), tc.key)
			assertEqual(t, "authorization", seen.Header.Get("Authorization"), tc.wantAuth)
			if seen == req {
				t.Error("the request was not cloned")
			}
			assertEqual(t, "caller's apikey", req.Header.Get("apikey"), "")
			assertEqual(t, "caller's authorization", req.Header.Get("Authorization"), tc.authz)
		})
	}
}

type countingSource struct {
	n   int
	tok string
	err error
}

func (s *countingSource) Token() (*oauth2.Token, error) {
	s.n++
	if s.err != nil {
		return nil, s.err
	}
	return &oauth2.Token{AccessToken: s.tok, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

func TestBearerTransport(t *testing.T) {
	var seen *http.Request
	src := &countingSource{tok: "sbp_oauth_abcdef0123456789"}
	tr := BearerTransport(src, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r
		return okResponse(r), nil
	}))
	req, _ := http.NewRequest("GET", "https://api.supabase.com/v1/organizations", nil)
	_, err := tr.RoundTrip(req)
	assertNoError(t, err)
	assertEqual(t, "authorization", seen.Header.Get("Authorization"), "Bearer sbp_oauth_abcdef0123456789")
	assertEqual(t, "caller's header", req.Header.Get("Authorization"), "")

	// A failing token source fails the call with a scrubbed error.
	fs := newFakeServer(t, func(w http.ResponseWriter, _ *recorded) { reply(w, 200, nil, `[]`) })
	c, err := NewManagementClient(fs.base(), &countingSource{err: errors.New("refresh failed for sbp_oauth_abcdef0123456789")})
	assertNoError(t, err)
	_, _, err = c.Management.ListOrganizations(context.Background())
	if err == nil {
		t.Fatal("no error from a failing token source")
	}
	assertNoSecret(t, "error", err.Error(), "sbp_oauth_abcdef0123456789")
	assertEqual(t, "requests", len(fs.requests()), 0)
}

func TestDo_Decoding(t *testing.T) {
	fs := newFakeServer(t, func(w http.ResponseWriter, r *recorded) {
		switch r.Path {
		case "bad":
			reply(w, 200, nil, `{"users":`)
		case "empty":
			reply(w, 204, nil, "")
		default:
			reply(w, 200, nil, `[1,2,3]`)
		}
	})
	c := projectClient(t, fs)
	ctx := context.Background()

	var buf bytes.Buffer
	req, _ := c.NewRequest(ctx, "GET", "raw", nil)
	_, err := c.Do(req, &buf)
	assertNoError(t, err)
	assertEqual(t, "raw copy", buf.String(), "[1,2,3]")

	req, _ = c.NewRequest(ctx, "GET", "bad", nil)
	var v map[string]any
	if _, err := c.Do(req, &v); err == nil {
		t.Error("truncated JSON decoded without error")
	}

	req, _ = c.NewRequest(ctx, "DELETE", "empty", nil)
	v = map[string]any{"kept": true}
	resp, err := c.Do(req, &v)
	assertNoError(t, err)
	assertEqual(t, "status", resp.StatusCode, 204)
	assertEqual(t, "untouched", v, map[string]any{"kept": true})
}
