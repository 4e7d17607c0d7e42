package proxy_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testUpstream stands in for the parts of a project the local Supabase does
// not serve (Storage, Edge Functions) and for answers it cannot be made to
// give (redirects, Retry-After). A test links an account whose project URL
// is its URL: the proxy reaches whatever host the account names, exactly
// as it reaches https://<ref>.supabase.co. It checks the apikey the way
// the platform's gateway does.
type testUpstream struct {
	*httptest.Server
	key string

	mu    sync.Mutex
	hits  map[string]int
	seen  http.Header // the last echoed request's headers
	seenU string      // and its request URI
}

const streamPattern = "supabridge streams bytes; "

// patternReader yields n bytes of streamPattern without holding them.
type patternReader struct{ off, n int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if rem := p.n - p.off; int64(len(b)) > rem {
		b = b[:rem]
	}
	for i := range b {
		b[i] = streamPattern[(p.off+int64(i))%int64(len(streamPattern))]
	}
	p.off += int64(len(b))
	return len(b), nil
}

func newTestUpstream(t testing.TB, key string) *testUpstream {
	u := &testUpstream{key: key, hits: map[string]int{}}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *testUpstream) count(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits[path]
}

func (u *testUpstream) lastSeen() (http.Header, string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen.Clone(), u.seenU
}

func (u *testUpstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.hits[r.URL.Path]++
	n := u.hits[r.URL.Path]
	u.mu.Unlock()
	if r.Header.Get("apikey") != u.key {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"message":"Invalid API key","hint":"Double check your Supabase `+"`anon`"+` or `+"`service_role`"+` API key."}`)
		return
	}
	q := r.URL.Query()
	switch {
	case strings.HasPrefix(r.URL.Path, "/storage/v1/object/bucket/") && r.Method == http.MethodGet:
		size, _ := strconv.ParseInt(q.Get("size"), 10, 64)
		w.Header().Set("Content-Type", "application/octet-stream")
		if q.Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		}
		_, _ = io.Copy(w, &patternReader{n: size})
	case strings.HasPrefix(r.URL.Path, "/storage/v1/object/bucket/") && r.Method == http.MethodPost:
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"Key": strings.TrimPrefix(r.URL.Path, "/storage/v1/object/"), "size": n, "sha256": hex.EncodeToString(h.Sum(nil))})
	case r.URL.Path == "/storage/v1/redirect":
		w.Header().Set("Location", "https://elsewhere.example.com/object")
		w.WriteHeader(http.StatusFound)
	case r.URL.Path == "/storage/v1/flaky":
		// Fails the first `fail` times, asking to wait `after` seconds.
		fail, _ := strconv.Atoi(q.Get("fail"))
		if n <= fail {
			if a := q.Get("after"); a != "" {
				w.Header().Set("Retry-After", a)
			}
			status, _ := strconv.Atoi(q.Get("status"))
			writeJSON(w, status, map[string]any{"message": "try again", "attempt": n})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"attempt": n})
	default:
		u.mu.Lock()
		u.seen, u.seenU = r.Header.Clone(), r.RequestURI
		u.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "Content-Range")
		h.Set("Content-Range", "0-0/1")
		h.Set("X-RateLimit-Remaining", "41")
		h.Set("Connection", "X-Upstream-Hop")
		h.Set("X-Upstream-Hop", "must not pass")
		h.Add("Set-Cookie", "sb=1; Path=/")
		writeJSON(w, http.StatusTeapot, map[string]any{"path": r.URL.Path, "body": string(body)})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// rawCall sends a request line exactly as written (no client-side
// cleaning or escaping) and reads the answer.
func (w *world) rawCall(target string, header map[string]string) result {
	w.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(w.srv.URL, "http://"))
	if err != nil {
		w.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: bridge.example.com\r\nConnection: close\r\nAuthorization: Bearer %s\r\n", target, w.key)
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		w.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: body}
}
