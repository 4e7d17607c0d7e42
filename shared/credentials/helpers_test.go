package credentials_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/credentials"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/events/eventstest"
	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/localsupabase/faults"
	"github.com/supabridge/supabridge/shared/logs"
	"github.com/supabridge/supabridge/shared/logs/logstest"
)

const (
	redirectURI = "https://bridge.example.com/connect/oauth/callback"
	testEnv     = "test"
)

var (
	env   *eventstest.Env
	stack *localsupabase.Stack
	clock = &testClock{}
)

func TestMain(m *testing.M) {
	st, err := localsupabase.Start(context.Background(), localsupabase.Config{
		OAuthAutoApprove:  true,
		OAuthRedirectURIs: []string{redirectURI},
		RateLimit:         -1,
		Now:               clock.Now,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "local supabase:", err)
		os.Exit(1)
	}
	stack = st
	code := eventstest.Main(m, &env)
	_ = st.Close()
	os.Exit(code)
}

// testClock is the one clock of the stand-in, the stores and the managers,
// so that moving it expires tokens everywhere at once.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// forEachBackend runs f on both store backends with fresh shared storage,
// the clock back at real time and the stand-in's faults and counters
// cleared.
func forEachBackend(t *testing.T, f func(t *testing.T, sh *eventstest.Shared)) {
	for _, b := range env.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			clock.mu.Lock()
			clock.off = 0
			clock.mu.Unlock()
			stack.Faults().Clear()
			stack.Faults().ResetCounts()
			t.Cleanup(stack.Faults().Clear)
			f(t, b.Open(t, clock.Now))
		})
	}
}

// secrets collects every credential value a test saw, for the final scan.
type secrets struct {
	mu     sync.Mutex
	values []string
}

func (s *secrets) add(v ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range v {
		if x != "" {
			s.values = append(s.values, x)
		}
	}
}

func (s *secrets) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.values...)
}

// tokenTap sees the manager's token and revocation requests: it records
// the tokens the endpoint issues and how many token requests overlap.
type tokenTap struct {
	base    http.RoundTripper
	secrets *secrets

	mu       sync.Mutex
	inFlight int
	maxSeen  int
	issued   []tokenResponse
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

func (tp *tokenTap) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != "/v1/oauth/token" {
		return tp.base.RoundTrip(r)
	}
	tp.mu.Lock()
	tp.inFlight++
	tp.maxSeen = max(tp.maxSeen, tp.inFlight)
	tp.mu.Unlock()
	defer func() {
		tp.mu.Lock()
		tp.inFlight--
		tp.mu.Unlock()
	}()
	resp, err := tp.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var tr tokenResponse
	if json.Unmarshal(body, &tr) == nil && tr.AccessToken != "" {
		tp.secrets.add(tr.AccessToken, tr.RefreshToken)
		tp.mu.Lock()
		tp.issued = append(tp.issued, tr)
		tp.mu.Unlock()
	}
	return resp, nil
}

func (tp *tokenTap) maxInFlight() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.maxSeen
}

func (tp *tokenTap) last() tokenResponse {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if len(tp.issued) == 0 {
		return tokenResponse{}
	}
	return tp.issued[len(tp.issued)-1]
}

// world is one test's storage, processes and observations.
type world struct {
	t       *testing.T
	shared  *eventstest.Shared
	secrets *secrets
	tap     *tokenTap
	procs   []*proc
}

type proc struct {
	*eventstest.Process
	app  *app.App
	mgr  *credentials.Manager
	rec  *events.Recorder
	logs *logstest.Buffer
}

func newWorld(t *testing.T, sh *eventstest.Shared) *world {
	w := &world{t: t, shared: sh, secrets: &secrets{}}
	w.secrets.add(stack.OAuthClient().Secret)
	w.tap = &tokenTap{base: app.NewHTTPClient().Transport, secrets: w.secrets}
	return w
}

// process starts one more process's clients and manager.
func (w *world) process() *proc {
	p := &proc{Process: w.shared.Process(w.t), logs: &logstest.Buffer{}}
	cl := stack.OAuthClient()
	hc := app.NewHTTPClient()
	hc.Transport = w.tap
	p.app = &app.App{
		Config: app.Config{
			Function: "test", Backend: app.BackendEmbedded, ManagementAPIURL: stack.ManagementURL(),
			OAuthClientID: cl.ID, OAuthClientSecret: bridge.Secret(cl.Secret), CacheTTL: time.Minute,
		},
		Logger: logs.New(p.logs, slog.LevelDebug),
		Store:  p.Store,
		Vault:  p.Vault,
		HTTP:   hc,
	}
	p.rec = events.New(p.app)
	p.rec.Now = clock.Now
	p.mgr = credentials.New(p.app, p.rec)
	p.mgr.Now = clock.Now
	w.procs = append(w.procs, p)
	return p
}

// grant runs the OAuth code flow with PKCE against the stand-in, exchanging
// the code through the manager's OAuthConfig (HTTP Basic client auth, a 201
// answer).
func (w *world) grant(p *proc) bridge.Credential {
	t := w.t
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	code, err := stack.Authorize(p.mgr.OAuthConfig(redirectURI).AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, p.app.HTTP)
	tok, err := p.mgr.OAuthConfig(redirectURI).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	w.secrets.add(tok.AccessToken, tok.RefreshToken)
	return bridge.Credential{
		Method: bridge.AuthOAuth, AccessToken: bridge.Secret(tok.AccessToken), RefreshToken: bridge.Secret(tok.RefreshToken),
		TokenType: tok.TokenType, Expiry: clock.Now().Add(time.Duration(tok.ExpiresIn) * time.Second),
	}
}

// link creates an active OAuth account the way the link flow does: Save,
// then the record.
func (w *world) link(p *proc, tenant string) *bridge.Account {
	w.t.Helper()
	cred := w.grant(p)
	a := &bridge.Account{
		ID: bridge.NewID(), Environment: testEnv, TenantID: tenant, Status: bridge.StatusActive,
		AuthMethod: bridge.AuthOAuth, OrganizationSlug: stack.Organization().Slug,
	}
	ctx := context.Background()
	if err := p.mgr.Save(ctx, a, cred); err != nil {
		w.t.Fatalf("Save: %v", err)
	}
	if err := p.Store.CreateAccount(ctx, a); err != nil {
		w.t.Fatal(err)
	}
	return a
}

// callAPI makes a Management API call with the access token.
func callAPI(ctx context.Context, hc *http.Client, token bridge.Secret) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, stack.ManagementURL()+"/v1/organizations", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token.Reveal())
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// refreshDirectly redeems a refresh token at the stand-in outside any
// manager, as a second party holding the token would.
func refreshDirectly(t *testing.T, refresh string) int {
	t.Helper()
	cl := stack.OAuthClient()
	req, _ := http.NewRequest(http.MethodPost, stack.ManagementURL()+"/v1/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cl.ID, cl.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func tokenCalls() int {
	return stack.Faults().Count(faults.Match{Server: localsupabase.ManagementServer, Route: "POST /v1/oauth/token"})
}

// storedCredential reads the account's credential straight from the
// backend vault, past every cache.
func storedCredential(t *testing.T, p *proc, a *bridge.Account) bridge.Credential {
	t.Helper()
	b, err := p.Raw.Get(context.Background(), credentials.Ref(a))
	if err != nil {
		t.Fatal(err)
	}
	var c bridge.Credential
	if err := c.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return c
}

func storedAccount(t *testing.T, p *proc, a *bridge.Account) *bridge.Account {
	t.Helper()
	got, err := p.Store.GetAccount(context.Background(), a.Environment, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// accountEvents returns the recorded events of type typ about a.
func accountEvents(t *testing.T, p *proc, a *bridge.Account, typ string) []*bridge.Event {
	t.Helper()
	evs, _, err := p.Store.ListEvents(context.Background(), a.Environment, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []*bridge.Event
	for _, e := range evs {
		if e.AccountID == a.ID && e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if bridge.ErrorCode(err) != code {
		t.Fatalf("error %v, want code %q", err, code)
	}
}

func wantEvents(t *testing.T, p *proc, a *bridge.Account, typ string, n int) []*bridge.Event {
	t.Helper()
	evs := accountEvents(t, p, a, typ)
	if len(evs) != n {
		t.Fatalf("%d %s events for account %s, want %d", len(evs), typ, a.ID, n)
	}
	return evs
}

// assertNoSecrets fails if any collected credential value appears in any
// of the texts (logs, responses, events, error strings).
func assertNoSecrets(t *testing.T, s *secrets, texts map[string]string) {
	t.Helper()
	vals := s.all()
	if len(vals) < 2 {
		t.Fatalf("only %d secret values collected; the scan would prove nothing", len(vals))
	}
	for name, text := range texts {
		for _, v := range vals {
			if strings.Contains(text, v) {
				t.Errorf("%s contains a credential value (%d characters)", name, len(v))
			}
		}
	}
}

// scanWorld scans every process's logs and every recorded event.
func (w *world) scanWorld(extra map[string]string) {
	w.t.Helper()
	texts := map[string]string{}
	for k, v := range extra {
		texts[k] = v
	}
	for i, p := range w.procs {
		texts[fmt.Sprintf("process %d logs", i)] = p.logs.String()
	}
	if len(w.procs) > 0 {
		evs, _, err := w.procs[0].Store.ListEvents(context.Background(), testEnv, "", 1000)
		if err != nil {
			w.t.Fatal(err)
		}
		b, _ := json.Marshal(evs)
		texts["events"] = string(b)
	}
	assertNoSecrets(w.t, w.secrets, texts)
}
