package events_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/events/eventstest"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/logs"
	"github.com/supabridge/supabridge/shared/logs/logstest"
)

const testEnv = "test"

var env *eventstest.Env

func TestMain(m *testing.M) { os.Exit(eventstest.Main(m, &env)) }

// manualClock moves only when told, so backoff can be checked exactly.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *manualClock {
	return &manualClock{t: time.Now().UTC().Truncate(time.Second)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func forEachBackend(t *testing.T, f func(t *testing.T, b eventstest.Backend)) {
	for _, b := range env.Backends() {
		t.Run(b.Name, func(t *testing.T) { f(t, b) })
	}
}

// node is one process: store, vault, recorder, dispatcher and the webhooks
// API, all on the test's clock.
type node struct {
	*eventstest.Process
	clock  *manualClock
	rec    *events.Recorder
	disp   *events.Dispatcher
	api    *httptest.Server
	key    string
	logs   *logstest.Buffer
	hooks  map[string]string // webhook id → signing secret
	output []string          // every API response body
	mu     sync.Mutex
}

func newNode(t *testing.T, sh *eventstest.Shared, clock *manualClock) *node {
	t.Helper()
	n := &node{Process: sh.Process(t), clock: clock, logs: &logstest.Buffer{}, hooks: map[string]string{}}
	logger := logs.New(n.logs, slog.LevelDebug)
	n.rec = &events.Recorder{Store: n.Store, Now: clock.Now, Logger: logger}
	n.disp = &events.Dispatcher{
		Store: n.Store, Vault: n.Vault, HTTP: events.NewDeliveryClient(true), AllowPrivate: true,
		Now: clock.Now, Logger: logger,
		// No jitter: backoff is checked exactly.
		Jitter: func(d time.Duration) time.Duration { return d },
	}
	key, secret, err := bridge.NewAPIKey(testEnv, "test", clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Store.CreateAPIKey(context.Background(), key); err != nil && !bridge.IsCode(err, bridge.ECONFLICT) {
		t.Fatal(err)
	}
	n.key = secret.Reveal()
	rt := httpapi.NewRouter()
	(&events.Handler{
		Store: n.Store, Vault: n.Vault, Auth: &httpapi.Authenticator{Keys: n.Store}, Recorder: n.rec, AllowPrivate: true,
	}).Register(rt)
	n.api = httptest.NewServer(httpapi.Serve(rt, httpapi.Options{Logger: logger}))
	t.Cleanup(n.api.Close)
	return n
}

// call makes an operator API request and returns status and body.
func (n *node) call(t *testing.T, method, path, key string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, n.api.URL+path, r)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	n.mu.Lock()
	n.output = append(n.output, string(out))
	n.mu.Unlock()
	return resp.StatusCode, out
}

// createWebhook registers url for types and remembers its secret.
func (n *node) createWebhook(t *testing.T, url string, types ...string) string {
	t.Helper()
	body := map[string]any{"url": url}
	if types != nil {
		body["event_types"] = types
	}
	st, out := n.call(t, http.MethodPost, "/webhooks", n.key, body)
	if st != http.StatusCreated {
		t.Fatalf("create webhook: %d %s", st, out)
	}
	var v events.WebhookView
	if err := json.Unmarshal(out, &v); err != nil || v.ID == "" || !strings.HasPrefix(v.Secret, events.SecretPrefix) {
		t.Fatalf("create webhook answered %s", out)
	}
	n.hooks[v.ID] = v.Secret
	return v.ID
}

// account returns an account of the test environment (not stored: events
// only read what they are given).
func account(tenant string) *bridge.Account {
	return &bridge.Account{
		ID: bridge.NewID(), Environment: testEnv, TenantID: tenant, Status: bridge.StatusActive,
		AuthMethod: bridge.AuthOAuth, OrganizationSlug: "org-" + tenant,
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC(),
	}
}

// sweepUntilIdle sweeps until nothing is due at the current time.
func (n *node) sweepUntilIdle(t *testing.T) {
	t.Helper()
	for range 50 {
		res, err := n.disp.Sweep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.Streams == 0 {
			return
		}
	}
	t.Fatal("deliveries still due after 50 sweeps")
}

// delivered is a received delivery's body.
type delivered struct {
	ID          string          `json:"id"`
	Event       string          `json:"event"`
	Environment string          `json:"environment"`
	CreatedAt   time.Time       `json:"created_at"`
	Payload     json.RawMessage `json:"payload"`
}

func decodeDelivery(t *testing.T, r eventstest.Received) delivered {
	t.Helper()
	var d delivered
	if err := json.Unmarshal(r.Body, &d); err != nil {
		t.Fatalf("delivery body %s: %v", r.Body, err)
	}
	return d
}

// verifyIndependently checks a delivery's signature without the events
// package: HMAC-SHA256 keyed with the secret over "<t>.<body>", hex.
func verifyIndependently(t *testing.T, secret string, r eventstest.Received) {
	t.Helper()
	header := r.Header.Get("X-Supabridge-Signature")
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil || sig == "" {
		t.Fatalf("signature header %q", header)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(r.Body)))
	if want := hex.EncodeToString(m.Sum(nil)); !hmac.Equal([]byte(want), []byte(sig)) {
		t.Errorf("signature %q does not verify", header)
	}
	if r.Header.Get("X-Supabridge-Event-Id") != decodeDelivery(t, r).ID {
		t.Errorf("event id header %q differs from the body's id", r.Header.Get("X-Supabridge-Event-Id"))
	}
}

func pendingDeliveries(t *testing.T, n *node, before time.Time) []*bridge.Delivery {
	t.Helper()
	ds, err := n.Store.DueDeliveries(context.Background(), before, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// assertNoSecrets fails if a webhook secret appears in a log line, an API
// response other than the one that created it, or an event.
func assertNoSecrets(t *testing.T, n *node) {
	t.Helper()
	if len(n.hooks) == 0 {
		t.Fatal("no webhook secrets to look for")
	}
	texts := map[string]string{"logs": n.logs.String()}
	n.mu.Lock()
	for i, o := range n.output {
		if !strings.Contains(o, `"secret":"whsec_`) { // the one response allowed to show it
			texts["response "+strconv.Itoa(i)] = o
		}
	}
	n.mu.Unlock()
	evs, _, err := n.Store.ListEvents(context.Background(), testEnv, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(evs)
	texts["events"] = string(b)
	for name, text := range texts {
		for _, s := range n.hooks {
			if strings.Contains(text, s) || strings.Contains(text, strings.TrimPrefix(s, events.SecretPrefix)) {
				t.Errorf("%s contains a webhook secret", name)
			}
		}
	}
}
