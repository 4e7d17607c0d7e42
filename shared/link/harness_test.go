package link_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/awssecrets"
	"github.com/supabridge/supabridge/shared/awssecrets/smtest"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/credentials"
	"github.com/supabridge/supabridge/shared/cursor"
	"github.com/supabridge/supabridge/shared/dynamo"
	"github.com/supabridge/supabridge/shared/dynamo/dynamotest"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/link"
	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/logs"
	"github.com/supabridge/supabridge/shared/logs/logstest"
	"github.com/supabridge/supabridge/shared/sqlite"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// One local Supabase and one DynamoDB for the package's tests.
var (
	stack *localsupabase.Stack
	dyn   *dynamotest.Server
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	ctx := context.Background()
	var err error
	stack, err = localsupabase.Start(ctx, localsupabase.Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the local Supabase:", err)
		return 1
	}
	defer stack.Close()
	dyn, err = dynamotest.NewServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer dyn.Close()
	return m.Run()
}

// The store backends every flow runs on.
var backends = []string{"sqlite", "dynamo"}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// writeLog records every successful write to the store and the vault, so
// a test can prove a failure stored nothing.
type writeLog struct {
	mu     sync.Mutex
	writes []string
}

func (w *writeLog) add(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, s)
}

// mark returns a position to compare later writes against.
func (w *writeLog) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.writes)
}

func (w *writeLog) since(n int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes[n:])
}

type recordingBackend struct {
	store.Backend
	log *writeLog
}

func (b recordingBackend) Put(ctx context.Context, it *store.Item, cond store.Condition) error {
	err := b.Backend.Put(ctx, it, cond)
	if err == nil {
		b.log.add("store " + it.PK)
	}
	return err
}

func (b recordingBackend) Delete(ctx context.Context, pk, sk string, cond store.Condition) error {
	err := b.Backend.Delete(ctx, pk, sk, cond)
	if err == nil {
		b.log.add("store delete " + pk)
	}
	return err
}

type recordingVault struct {
	vault.Vault
	log *writeLog
}

func (v recordingVault) Put(ctx context.Context, ref vault.Ref, value []byte) error {
	err := v.Vault.Put(ctx, ref, value)
	if err == nil {
		v.log.add("vault " + ref.Name())
	}
	return err
}

func (v recordingVault) Delete(ctx context.Context, ref vault.Ref) error {
	err := v.Vault.Delete(ctx, ref)
	if err == nil {
		v.log.add("vault delete " + ref.Name())
	}
	return err
}

// capture keeps every response the server sent (headers and body), for
// the secret scan.
type capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capture) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		c.mu.Lock()
		fmt.Fprintf(&c.buf, "%s %s -> %d\n", r.Method, r.URL.Path, rec.Code)
		for k, vs := range rec.Header() {
			fmt.Fprintf(&c.buf, "%s: %s\n", k, strings.Join(vs, ", "))
		}
		c.buf.Write(rec.Body.Bytes())
		c.buf.WriteString("\n")
		c.mu.Unlock()
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// env is one Supabridge process serving the link routes over one backend.
type env struct {
	t       testing.TB
	backend string
	app     *app.App
	handler *link.Handler
	events  *eventLog
	clock   *clock
	writes  *writeLog
	logs    *logstest.Buffer
	out     *capture
	srv     *httptest.Server
	extra   sync.Map // name → submitted secret values to scan for
	key     string   // operator API key of environment "local"
	prodKey string   // operator API key of environment "production"
}

type envOptions struct {
	allowPrivate bool // false: production mode
}

// eventLog keeps the events the link flow recorded, on their way to the
// real recorder.
type eventLog struct {
	next link.Events
	mu   sync.Mutex
	got  []*bridge.Event
}

func (l *eventLog) Record(ctx context.Context, e *bridge.Event) error {
	if err := l.next.Record(ctx, e); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, e)
	return nil
}

// types lists the recorded event types about account id.
func (l *eventLog) types(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.got {
		if e.AccountID == id {
			out = append(out, e.Type)
		}
	}
	return out
}

func newEnv(t testing.TB, backend string, opts envOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, backend: backend, clock: &clock{t: time.Now().UTC()}, writes: &writeLog{}, logs: &logstest.Buffer{}, out: &capture{}, events: &eventLog{}}
	var (
		b store.Backend
		v vault.Vault
	)
	switch backend {
	case "sqlite":
		db, err := sqlite.Open(filepath.Join(t.TempDir(), "supabridge.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		sv, err := db.Vault(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		b, v = db, sv
	case "dynamo":
		client, table := dyn.NewTable(t)
		b = dynamo.New(client, table)
		sm := smtest.NewServer(smtest.Options{})
		t.Cleanup(sm.Close)
		av, err := awssecrets.New(sm.Client(), awssecrets.Options{})
		if err != nil {
			t.Fatal(err)
		}
		v = av
	default:
		t.Fatalf("unknown backend %s", backend)
	}
	st := store.New(recordingBackend{Backend: b, log: e.writes})
	signing := make([]byte, 48)
	_, _ = rand.Read(signing)
	oc := stack.OAuthClient()
	cfg := app.Config{
		Function: "link", Backend: app.BackendEmbedded,
		AllowPrivateUpstreams: opts.allowPrivate,
		ManagementAPIURL:      stack.ManagementURL(),
		OAuthClientID:         oc.ID, OAuthClientSecret: bridge.Secret(oc.Secret),
	}
	e.app = &app.App{
		Config: cfg, Logger: logs.New(e.logs, nil).With("function", "link"), Store: st,
		Vault:   vault.NewCache(recordingVault{Vault: v, log: e.writes}, vault.CacheConfig{}),
		Cursors: cursor.New(signing), Auth: &httpapi.Authenticator{Keys: st}, SigningKey: signing, HTTP: app.NewHTTPClient(),
	}
	rec := events.New(e.app)
	mgr := credentials.New(e.app, rec)
	e.events.next = rec
	e.handler = link.New(e.app, mgr, e.events, events.AccountEvent, mgr.OAuthConfig)
	e.handler.Now = e.clock.Now
	rt := httpapi.NewRouter()
	e.handler.Register(rt)
	e.srv = httptest.NewServer(e.out.wrap(e.app.Serve(rt)))
	t.Cleanup(e.srv.Close)
	stack.AddRedirectURI(e.srv.URL + "/connect/oauth/callback")
	e.key = e.mintKey(link.LocalEnvironment)
	e.prodKey = e.mintKey("production")
	t.Cleanup(func() { e.scanForSecrets() })
	return e
}

func (e *env) mintKey(envName string) string {
	e.t.Helper()
	rec, key, err := bridge.NewAPIKey(envName, "test", time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.app.Store.CreateAPIKey(context.Background(), rec); err != nil {
		e.t.Fatal(err)
	}
	return key.Reveal()
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// api calls the operator API with key and returns status and body.
func (e *env) api(key, method, path string, body any) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, r)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := noRedirects.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// linkToken creates a link token in environment "local".
func (e *env) linkToken(body map[string]any) link.TokenResponse {
	e.t.Helper()
	return e.linkTokenWith(e.key, body)
}

func (e *env) linkTokenWith(key string, body map[string]any) link.TokenResponse {
	e.t.Helper()
	status, b := e.api(key, http.MethodPost, "/link-tokens", body)
	if status != http.StatusCreated {
		e.t.Fatalf("POST /link-tokens: %d %s", status, b)
	}
	var tr link.TokenResponse
	if err := json.Unmarshal(b, &tr); err != nil {
		e.t.Fatal(err)
	}
	return tr
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// page loads the connect page of tok and returns its status, body and
// CSRF token.
func (e *env) page(tok string, extra url.Values) (int, string, string) {
	e.t.Helper()
	q := url.Values{"link_token": {tok}}
	for k, v := range extra {
		q[k] = v
	}
	resp, err := noRedirects.Get(e.srv.URL + "/connect?" + q.Encode())
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	csrf := ""
	if m := csrfField.FindStringSubmatch(string(b)); m != nil {
		csrf = m[1]
	}
	return resp.StatusCode, string(b), csrf
}

// post submits a connect form and returns the response (body read).
func (e *env) post(path string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	resp, err := noRedirects.PostForm(e.srv.URL+path, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// submit loads the page for tok and posts one of its forms with fields.
func (e *env) submit(tok, path string, fields url.Values) (*http.Response, string) {
	e.t.Helper()
	status, body, csrf := e.page(tok, nil)
	if status != http.StatusOK || csrf == "" {
		e.t.Fatalf("connect page: %d %s", status, body)
	}
	form := url.Values{"link_token": {tok}, "csrf_token": {csrf}}
	for k, v := range fields {
		form[k] = v
	}
	return e.post(path, form)
}

// account returns the stored account or fails.
func (e *env) account(envName, id string) *bridge.Account {
	e.t.Helper()
	a, err := e.app.Store.GetAccount(context.Background(), envName, id)
	if err != nil {
		e.t.Fatalf("account %s: %v", id, err)
	}
	return a
}

// credential returns the stored credential of an account.
func (e *env) credential(envName, id string) bridge.Credential {
	e.t.Helper()
	b, err := e.app.Vault.GetFresh(context.Background(), vault.Ref{Environment: envName, Kind: vault.KindAccount, ID: id})
	if err != nil {
		e.t.Fatalf("credential of %s: %v", id, err)
	}
	var c bridge.Credential
	if err := c.UnmarshalBinary(b); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// accountCount counts the environment's accounts.
func (e *env) accountCount(envName string) int {
	e.t.Helper()
	accs, _, err := e.app.Store.ListAccounts(context.Background(), bridge.AccountFilter{Environment: envName, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(accs)
}

// assertNothingStored fails if any account or credential was written since
// mark (link session updates are the flow's own bookkeeping).
func (e *env) assertNothingStored(mark int, envName string, accountsBefore int) {
	e.t.Helper()
	for _, w := range e.writes.since(mark) {
		if strings.HasPrefix(w, "vault") || strings.HasPrefix(w, "store ACCOUNT#") {
			e.t.Errorf("a failed link wrote %q", w)
		}
	}
	if n := e.accountCount(envName); n != accountsBefore {
		e.t.Errorf("accounts in %s: %d, want %d", envName, n, accountsBefore)
	}
}

// secret registers a value a test submits, so the scan looks for it too.
func (e *env) secret(name, v string) string {
	e.extra.Store(name, v)
	return v
}

// secrets are every credential value the tests handle; none may appear in
// a response or a log line.
func (e *env) secrets() map[string]string {
	out := map[string]string{
		"OAuth client secret": stack.OAuthClient().Secret,
		"access token (PAT)":  stack.AccessToken(),
		"signing key":         string(e.app.SigningKey),
	}
	for _, p := range stack.Projects() {
		out["anon key "+p.Ref] = p.AnonKey
		out["service_role key "+p.Ref] = p.ServiceRoleKey
		out["publishable key "+p.Ref] = p.PublishableKey
		out["secret key "+p.Ref] = p.SecretKey
		out["JWT secret "+p.Ref] = p.JWTSecret
	}
	e.extra.Range(func(k, v any) bool {
		out[k.(string)] = v.(string)
		return true
	})
	ctx := context.Background()
	for _, envName := range []string{link.LocalEnvironment, "production"} {
		accs, _, _ := e.app.Store.ListAccounts(ctx, bridge.AccountFilter{Environment: envName, Limit: 1000})
		for _, a := range accs {
			b, err := e.app.Vault.GetFresh(ctx, vault.Ref{Environment: envName, Kind: vault.KindAccount, ID: a.ID})
			if err != nil {
				continue
			}
			var c bridge.Credential
			if c.UnmarshalBinary(b) == nil {
				out["access token of "+a.ID] = c.AccessToken.Reveal()
				out["refresh token of "+a.ID] = c.RefreshToken.Reveal()
			}
		}
	}
	return out
}

var linkTokenValue = regexp.MustCompile(link.TokenPrefix + `[0-9a-f]{32}_[A-Za-z0-9_-]{43}`)

// scanForSecrets fails the test if a credential value appears in any
// response, log line or recorded event, or a link token in a log line.
func (e *env) scanForSecrets() {
	var eventText strings.Builder
	e.events.mu.Lock()
	for _, ev := range e.events.got {
		b, _ := json.Marshal(ev)
		eventText.Write(b)
	}
	e.events.mu.Unlock()
	captured := map[string]string{"logs": e.logs.String(), "responses": e.out.String(), "events": eventText.String()}
	// Under -fuzz the requests happen in worker processes, not here.
	_, fuzzing := e.t.(*testing.F)
	if !fuzzing && (strings.TrimSpace(captured["logs"]) == "" || strings.TrimSpace(captured["responses"]) == "") {
		e.t.Errorf("nothing captured to scan (logs %d bytes, responses %d bytes)", len(captured["logs"]), len(captured["responses"]))
	}
	for _, leak := range leaks(e.secrets(), captured) {
		e.t.Error(leak)
	}
}

// leaks reports every secret value found in a captured text, and any link
// token in the logs.
func leaks(secrets, captured map[string]string) []string {
	var out []string
	for name, s := range secrets {
		if len(s) < 8 {
			continue
		}
		for where, text := range captured {
			if strings.Contains(text, s) {
				out = append(out, fmt.Sprintf("the %s appears in the %s", name, where))
			}
		}
	}
	if linkTokenValue.MatchString(captured["logs"]) {
		out = append(out, "a link token appears in the logs")
	}
	slices.Sort(out)
	return out
}
