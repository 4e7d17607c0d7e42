package realtime

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/supabridge/supabridge/shared/localsupabase/pgcluster"
	"github.com/supabridge/supabridge/shared/localsupabase/projectdb"
)

var (
	cluster *pgcluster.Cluster
	dbSeq   atomic.Int32
)

func TestMain(m *testing.M) {
	ctx := context.Background()
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start PostgreSQL:", err)
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	_ = c.Stop()
	os.Exit(code)
}

var testSecret = []byte("super-secret-jwt-token-with-at-least-32-characters-long")

// env is one project: a fresh bootstrapped database, a Server over it and
// an httptest server in front.
type env struct {
	t   *testing.T
	db  *pgxpool.Pool
	srv *Server
	ts  *httptest.Server
	url string
}

func newEnv(t *testing.T, tweak ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("rt_%d", dbSeq.Add(1))
	if err := cluster.CreateDatabase(ctx, name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	dbURL := cluster.URL(name)
	if err := projectdb.Bootstrap(ctx, dbURL); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	db, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	cfg := Config{
		DatabaseURL: dbURL,
		JWTSecret:   testSecret,
		ResolveAPIKey: func(k string) (string, bool) {
			switch k {
			case "sb_publishable_test":
				return mintJWT(map[string]any{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()}), true
			case "sb_secret_test":
				return mintJWT(map[string]any{"role": "service_role", "exp": time.Now().Add(time.Hour).Unix()}), true
			}
			return k, !strings.HasPrefix(k, "sb_")
		},
	}
	for _, f := range tweak {
		f(&cfg)
	}
	srv, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(srv)
	e := &env{t: t, db: db, srv: srv, ts: ts, url: dbURL}
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		_ = srv.Close()
		db.Close()
	})
	return e
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("exec %q: %v", sql, err)
	}
}

func mintJWT(claims map[string]any) string {
	return mintJWTWith(testSecret, claims)
}

func mintJWTWith(secret []byte, claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	p := base64.RawURLEncoding.EncodeToString(b)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(h + "." + p))
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func roleToken(role string, extra ...any) string {
	c := map[string]any{"role": role, "exp": time.Now().Add(time.Hour).Unix(), "iss": "supabase"}
	for i := 0; i+1 < len(extra); i += 2 {
		c[extra[i].(string)] = extra[i+1]
	}
	return mintJWT(c)
}

// client is a raw Phoenix client speaking one serializer.
type client struct {
	t       *testing.T
	ws      *websocket.Conn
	vsn     string
	ref     int
	frames  chan []byte
	readErr error
}

// frame is a server frame in either serializer.
type frame struct {
	JoinRef json.RawMessage
	Ref     json.RawMessage
	Topic   string
	Event   string
	Payload json.RawMessage
	raw     []byte
}

func (e *env) dial(t *testing.T, vsn, apikey string) *client {
	t.Helper()
	q := "apikey=" + apikey
	if vsn != "" {
		q += "&vsn=" + vsn
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.ts.URL, "http")+PublicPath+"?"+q, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(64 << 20)
	c := &client{t: t, ws: ws, vsn: vsn, frames: make(chan []byte, 4096)}
	go c.readLoop()
	t.Cleanup(func() { _ = ws.CloseNow() })
	return c
}

// sendRaw writes a text frame as is.
func (c *client) sendRaw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// push sends an event with a fresh ref and returns that ref; joinRef is
// sent as the channel's join ref ("" for none).
func (c *client) push(joinRef, topic, event string, payload any) string {
	c.t.Helper()
	c.ref++
	ref := fmt.Sprint(c.ref)
	p, _ := json.Marshal(payload)
	var msg []byte
	if c.vsn == vsn2 {
		var jr any
		if joinRef != "" {
			jr = joinRef
		}
		msg, _ = json.Marshal([]any{jr, ref, topic, event, json.RawMessage(p)})
	} else {
		m := map[string]any{"topic": topic, "event": event, "payload": json.RawMessage(p), "ref": ref}
		if joinRef != "" {
			m["join_ref"] = joinRef
		}
		msg, _ = json.Marshal(m)
	}
	c.sendRaw(string(msg))
	return ref
}

// join joins topic with postgres_changes entries and returns the join ref.
func (c *client) join(topic string, changes []map[string]any, extra map[string]any) string {
	c.t.Helper()
	if changes == nil {
		changes = []map[string]any{}
	}
	payload := map[string]any{"config": map[string]any{
		"broadcast":        map[string]any{"ack": false, "self": false},
		"presence":         map[string]any{"key": "", "enabled": false},
		"postgres_changes": changes,
		"private":          false,
	}}
	for k, v := range extra {
		payload[k] = v
	}
	ref := fmt.Sprint(c.ref + 1)
	c.push(ref, topic, "phx_join", payload)
	return ref
}

// errSilence is readTimeout's error when nothing arrived in time.
var errSilence = errors.New("no frame in time")

// readLoop feeds frames to c.frames; coder/websocket closes a connection
// whose Read context ends, so reads with a deadline go through this.
func (c *client) readLoop() {
	defer close(c.frames)
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.readErr = err
			return
		}
		if typ != websocket.MessageText {
			c.readErr = errors.New("binary frame")
			return
		}
		c.frames <- data
	}
}

func (c *client) readTimeout(d time.Duration) (frame, error) {
	var data []byte
	select {
	case b, ok := <-c.frames:
		if !ok {
			return frame{}, fmt.Errorf("connection closed: %w", c.readErr)
		}
		data = b
	case <-time.After(d):
		return frame{}, errSilence
	}
	f := frame{raw: data}
	if c.vsn == vsn2 {
		var arr []json.RawMessage
		if err := json.Unmarshal(data, &arr); err != nil || len(arr) != 5 {
			return f, fmt.Errorf("bad V2 frame %s", data)
		}
		f.JoinRef, f.Ref, f.Payload = arr[0], arr[1], arr[4]
		_ = json.Unmarshal(arr[2], &f.Topic)
		_ = json.Unmarshal(arr[3], &f.Event)
	} else {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return f, fmt.Errorf("bad V1 frame %s", data)
		}
		if _, ok := obj["join_ref"]; ok {
			return f, fmt.Errorf("V1 frame with join_ref: %s", data)
		}
		if len(obj) != 4 {
			return f, fmt.Errorf("V1 frame must have exactly topic, event, payload, ref: %s", data)
		}
		f.Ref, f.Payload = obj["ref"], obj["payload"]
		_ = json.Unmarshal(obj["topic"], &f.Topic)
		_ = json.Unmarshal(obj["event"], &f.Event)
	}
	return f, nil
}

// closed waits up to d for the connection to end and returns the read
// error it ended with, discarding frames on the way.
func (c *client) closed(d time.Duration) error {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-c.frames:
			if !ok {
				return c.readErr
			}
		case <-deadline:
			c.t.Fatalf("connection still open after %s", d)
		}
	}
}

// next returns the next frame or fails the test.
func (c *client) next() frame {
	c.t.Helper()
	f, err := c.readTimeout(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	return f
}

// expectNone asserts that no frame arrives within d.
func (c *client) expectNone(d time.Duration) {
	c.t.Helper()
	f, err := c.readTimeout(d)
	if err == nil {
		c.t.Fatalf("unexpected frame %s", f.raw)
	}
	if !errors.Is(err, errSilence) {
		c.t.Fatalf("connection failed while expecting silence: %v", err)
	}
}

// subscribe joins and consumes the join reply and the "Subscribed to
// PostgreSQL" system message, returning the binding ids.
func (c *client) subscribe(topic string, changes []map[string]any, extra map[string]any) []int64 {
	c.t.Helper()
	c.join(topic, changes, extra)
	r := c.next()
	var rep struct {
		Status   string `json:"status"`
		Response struct {
			PostgresChanges []struct {
				ID int64 `json:"id"`
			} `json:"postgres_changes"`
		} `json:"response"`
	}
	if err := json.Unmarshal(r.Payload, &rep); err != nil || r.Event != "phx_reply" || rep.Status != "ok" {
		c.t.Fatalf("join reply: %s", r.raw)
	}
	ids := make([]int64, len(rep.Response.PostgresChanges))
	for i, pc := range rep.Response.PostgresChanges {
		ids[i] = pc.ID
	}
	if len(changes) > 0 {
		s := c.next()
		assertJSON(c.t, s.Payload, `{"channel":"`+strings.TrimPrefix(topic, "realtime:")+`","extension":"postgres_changes","message":"Subscribed to PostgreSQL","status":"ok"}`)
	}
	return ids
}

// change is a decoded postgres_changes payload.
type changePayload struct {
	Data struct {
		Schema          string            `json:"schema"`
		Table           string            `json:"table"`
		CommitTimestamp *string           `json:"commit_timestamp"`
		Type            string            `json:"type"`
		Record          map[string]any    `json:"record"`
		OldRecord       map[string]any    `json:"old_record"`
		Columns         []json.RawMessage `json:"columns"`
		Errors          []string          `json:"errors"`
	} `json:"data"`
	IDs []int64 `json:"ids"`
}

func (c *client) nextChange() changePayload {
	c.t.Helper()
	f := c.next()
	if f.Event != "postgres_changes" {
		c.t.Fatalf("want postgres_changes, got %s", f.raw)
	}
	var p changePayload
	if err := json.Unmarshal(f.Payload, &p); err != nil {
		c.t.Fatalf("decode change: %v", err)
	}
	return p
}

var tsPattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// assertFrame compares a whole frame with want (JSON, key order ignored).
// "<ts>" in want stands for a commit timestamp in the server's format.
func assertFrame(t *testing.T, got frame, want string) {
	t.Helper()
	raw := string(got.raw)
	if m := regexp.MustCompile(`"commit_timestamp":"([^"]*)"`).FindStringSubmatch(raw); m != nil {
		if !tsPattern.MatchString(m[1]) {
			t.Fatalf("commit_timestamp %q not in the server's format", m[1])
		}
		raw = strings.Replace(raw, m[0], `"commit_timestamp":"<ts>"`, 1)
	}
	assertJSON(t, json.RawMessage(raw), want)
}

func assertJSON(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	if !jsonEqual(t, got, want) {
		t.Fatalf("JSON mismatch\n got: %s\nwant: %s", got, want)
	}
}

// jsonEqual reports whether got and want hold the same JSON value.
func jsonEqual(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

func assertEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// upgrade performs a raw upgrade request and returns status and body.
func (e *env) upgrade(t *testing.T, path, query string, header http.Header) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+path+"?"+query, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("upgrade request: %v", err)
	}
	defer resp.Body.Close()
	buf := new(strings.Builder)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b := make([]byte, 4096)
		n, _ := resp.Body.Read(b)
		buf.Write(b[:n])
	}
	return resp.StatusCode, buf.String(), resp.Header
}

type jsonRaw = json.RawMessage

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
