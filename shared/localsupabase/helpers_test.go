package localsupabase_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/localsupabase/pgcluster"
)

var (
	cluster *pgcluster.Cluster
	dbSeq   atomic.Int64
	specs   *specValidators
)

func TestMain(m *testing.M) {
	c, err := pgcluster.Start(context.Background(), pgcluster.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgcluster:", err)
		os.Exit(1)
	}
	cluster = c
	specs, err = loadSpecs()
	if err != nil {
		_ = c.Stop()
		fmt.Fprintln(os.Stderr, "specs:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = c.Stop()
	os.Exit(code)
}

// newStack starts a stack whose default project lives in a fresh database
// of the package's cluster; it is closed when the test ends.
func newStack(t *testing.T, cfg localsupabase.Config) *localsupabase.Stack {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("stack%d", dbSeq.Add(1))
	if err := cluster.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	cfg.DBURL = cluster.URL(name)
	st, err := localsupabase.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// client is an HTTP client whose every response is validated against
// Supabase's OpenAPI documents (see spec_test.go).
type client struct {
	t    *testing.T
	http *http.Client
}

func newClient(t *testing.T, st *localsupabase.Stack) *client {
	return &client{t: t, http: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &specTransport{t: t, mgmtURL: st.ManagementURL(), next: http.DefaultTransport},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request; body may be nil, a string (sent as is) or a value
// (sent as JSON). Headers are alternating name, value pairs.
func (c *client) do(method, u string, body any, headers ...string) *response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case url.Values:
		rd = strings.NewReader(b.Encode())
		headers = append(headers, "Content-Type", "application/x-www-form-urlencoded")
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
		headers = append(headers, "Content-Type", "application/json")
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

func wantStatus(t *testing.T, r *response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
}

func wantJSON(t *testing.T, r *response, want string) {
	t.Helper()
	var got, exp any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	e, _ := json.Marshal(exp)
	if string(g) != string(e) {
		t.Errorf("body %s, want %s", g, e)
	}
}

func wantHeader(t *testing.T, r *response, name, want string) {
	t.Helper()
	if got := r.header.Get(name); got != want {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
}

func pgConnect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func base64RawURL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
