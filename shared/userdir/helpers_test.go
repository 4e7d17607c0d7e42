package userdir_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/app/apptest"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/credentials"
	"github.com/supabridge/supabridge/shared/dynamo/dynamotest"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/openapi"
	"github.com/supabridge/supabridge/shared/openapi/openapitest"
	"github.com/supabridge/supabridge/shared/userdir"
)

const base = userdir.BasePath

var (
	stack *localsupabase.Stack
	dyn   *dynamotest.Server
	spec  *openapitest.Validator
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var err error
	if stack, err = localsupabase.Start(ctx, localsupabase.Config{RateLimit: -1}); err != nil {
		fmt.Fprintln(os.Stderr, "start the local Supabase:", err)
		return 1
	}
	defer stack.Close()
	if dyn, err = dynamotest.NewServer(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer dyn.Close()
	if spec, err = openapitest.Load(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// newProject adds a project to the stack's organization with the directory
// schema applied.
func newProject(t testing.TB, name string) *localsupabase.Project {
	t.Helper()
	ctx := context.Background()
	p, err := stack.AddProject(ctx, stack.Organization().Slug, name)
	if err != nil {
		t.Fatal(err)
	}
	sql(t, p, userdir.Schema())
	return p
}

// sql runs statements on the project's database as its superuser.
func sql(t testing.TB, p *localsupabase.Project, stmt string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.DBURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt, args...); err != nil {
		t.Fatalf("%.80s: %v", stmt, err)
	}
}

// count returns the single integer a query selects.
func count(t testing.TB, p *localsupabase.Project, query string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.DBURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// fixture is the directory function over a fresh embedded backend.
type fixture struct {
	a       *app.App
	h       *userdir.Handler
	handler http.Handler
	creds   *credentials.Manager
	key     string // an API key of "production"
	other   string // an API key of "staging"
}

// projectURL maps the stack's refs to their local URLs, as the sandbox does.
func projectURL(ref string) string {
	if p, ok := stack.ProjectByRef(ref); ok {
		return p.APIURL
	}
	return "http://127.0.0.1:1/no-such-project"
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return fixtureFor(t, testApp(t))
}

// testApp is an App for the local Supabase, whose projects listen on
// loopback.
func testApp(t testing.TB) *app.App {
	t.Helper()
	return apptest.New(t, "directory-test", map[string]string{
		"SUPABRIDGE_MANAGEMENT_API_URL":      stack.ManagementURL(),
		"SUPABRIDGE_ALLOW_PRIVATE_UPSTREAMS": "true",
	}, nil)
}

func fixtureFor(t testing.TB, a *app.App) *fixture {
	t.Helper()
	a.ProjectURL = projectURL
	h := userdir.New(a)
	rt := httpapi.NewRouter()
	h.Register(rt)
	new(openapi.Handler).Register(rt)
	f := &fixture{a: a, h: h, handler: a.Serve(rt), creds: credentials.New(a, events.New(a))}
	f.key = apiKey(t, a, "production")
	f.other = apiKey(t, a, "staging")
	return f
}

func apiKey(t testing.TB, a *app.App, env string) string {
	t.Helper()
	k, secret, err := bridge.NewAPIKey(env, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return secret.Reveal()
}

// link stores an account of env and its credential, as linking would.
func (f *fixture) link(t testing.TB, env string, acct *bridge.Account, cred bridge.Credential) *bridge.Account {
	t.Helper()
	ctx := context.Background()
	acct.ID, acct.Environment, acct.TenantID, acct.Status = bridge.NewID(), env, "tenant-1", bridge.StatusActive
	if err := f.creds.Save(ctx, acct, cred); err != nil {
		t.Fatal(err)
	}
	if err := f.a.Store.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	return acct
}

// projectAccount links p with its secret key.
func (f *fixture) projectAccount(t testing.TB, p *localsupabase.Project) *bridge.Account {
	t.Helper()
	return f.projectAccountWith(t, p, "")
}

// windowsSettings make an account page users through Auth's admin list.
const windowsSettings = `{"directory":{"auth_users_function":""}}`

// projectAccountWith links p with its secret key and account settings.
func (f *fixture) projectAccountWith(t testing.TB, p *localsupabase.Project, settings string) *bridge.Account {
	t.Helper()
	a := &bridge.Account{AuthMethod: bridge.AuthAPIKey, ProjectRef: p.Ref, ProjectURL: p.APIURL, KeyKind: bridge.KeySecret, BypassesRLS: true}
	if settings != "" {
		a.Settings = json.RawMessage(settings)
	}
	return f.link(t, "production", a, bridge.Credential{Method: bridge.AuthAPIKey, APIKey: bridge.Secret(p.SecretKey)})
}

// orgAccount links the stack's organization with its personal access
// token.
func (f *fixture) orgAccount(t testing.TB, env string) *bridge.Account {
	t.Helper()
	o := stack.Organization()
	return f.link(t, env, &bridge.Account{
		AuthMethod: bridge.AuthAccessToken, OrganizationID: o.ID, OrganizationSlug: o.Slug, OrganizationName: o.Name,
	}, bridge.Credential{Method: bridge.AuthAccessToken, PersonalAccessToken: bridge.Secret(stack.AccessToken())})
}

// response is a recorded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// json decodes the body into v.
func (r *response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.body)
	}
}

// errorBody is the error envelope as callers see it.
type errorBody struct {
	StatusCode  int             `json:"statusCode"`
	Error       string          `json:"error"`
	Message     string          `json:"message"`
	Details     map[string]any  `json:"details"`
	Code        string          `json:"code"`
	RemoteError bool            `json:"remote_error"`
	RawResponse json.RawMessage `json:"raw_response"`
}

// req is one request to the fixture.
type req struct {
	method, path string
	query        url.Values
	body         any // JSON-encoded unless a string
	key          string
	header       map[string]string
}

// do sends a request with the production key (unless r.key is set) and
// checks the response against the OpenAPI document.
func (f *fixture) do(t testing.TB, r req) *response {
	t.Helper()
	var body io.Reader = http.NoBody
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	target := r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	hr := httptest.NewRequest(r.method, target, body)
	key := r.key
	if key == "" {
		key = f.key
	}
	hr.Header.Set("Authorization", "Bearer "+key)
	if r.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, hr)
	spec.CheckRecorder(t, hr, rec)
	return &response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// q builds a query with the account.
func q(acct *bridge.Account, kv ...string) url.Values {
	v := url.Values{"integrated_account_id": {acct.ID}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// ok decodes a successful response into v, failing on any other status.
func ok(t testing.TB, r *response, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if v != nil {
		r.json(t, v)
	}
}

// fails checks an error response's status and code, that the message
// mentions want, and returns the envelope.
func fails(t testing.TB, r *response, status int, code, want string) errorBody {
	t.Helper()
	var e errorBody
	r.json(t, &e)
	if r.status != status || e.StatusCode != status || e.Code != code {
		t.Fatalf("got %d %s, want %d %s: %s", r.status, e.Code, status, code, r.body)
	}
	if !strings.Contains(e.Message, want) {
		t.Errorf("message %q does not mention %q", e.Message, want)
	}
	return e
}

// list is a unified list envelope.
type list[T any] struct {
	Result      []T     `json:"result"`
	NextCursor  *string `json:"next_cursor"`
	PrevCursor  *string `json:"prev_cursor"`
	ResultCount int     `json:"result_count"`
}
