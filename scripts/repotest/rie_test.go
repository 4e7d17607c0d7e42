package repotest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/awssecrets"
	"github.com/supabridge/supabridge/shared/awssecrets/smtest"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/bundle"
	"github.com/supabridge/supabridge/shared/dynamo"
	"github.com/supabridge/supabridge/shared/dynamo/dynamotest"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// The events in events/ name these objects; the harness creates them before
// invoking, so each event meets the state a deployed stack would have.
const (
	eventEnvironment = "production"
	eventAccountID   = "0193a8f2-7c4e-7d10-9b2a-5f1e3c8d9a01"
	eventTenantID    = "acme-corp"
	// Seeded by the refresh and webhooks rows' after hooks.
	eventKeyAccountID = "0193a8f2-7c4e-7d10-9b2a-5f1e3c8d9a11"
	eventWebhookID    = "0193a8f2-7c4e-7d10-9b2a-5f1e3c8d9a21"
	// The proxy's accounts.
	eventProxyAccountID  = "0193a8f2-7c4e-7d10-9b2a-5f1e3c8d9a31"
	eventProxyLoopbackID = "0193a8f2-7c4e-7d10-9b2a-5f1e3c8d9a32"
)

// expectation is what one event must produce, in the order listed (later
// events see the state earlier ones left).
type expectation struct {
	file     string // below events/
	status   int    // HTTP status of an API Gateway response
	contains string // a fragment of the response body
	after    func(t *testing.T, h *lambdaHarness)
}

var expectations = []expectation{
	{file: "accounts/health.json", status: 200, contains: `"status":"ok"`},
	{file: "accounts/list-no-key.json", status: 401, contains: `"statusCode":401`},
	{file: "accounts/list-bad-limit.json", status: 400, contains: `limit must be an integer`},
	{file: "accounts/list.json", status: 200, contains: `"result_count":1`},
	{file: "accounts/get.json", status: 200, contains: `"id":"` + eventAccountID + `"`},
	{file: "accounts/get-not-found.json", status: 404, contains: `"code":"not_found"`},
	{file: "accounts/delete.json", status: 200, contains: `{"id":"` + eventAccountID + `"}`,
		after: func(t *testing.T, h *lambdaHarness) {
			if _, err := h.store.GetAccount(context.Background(), eventEnvironment, eventAccountID); !bridge.IsCode(err, bridge.ENOTFOUND) {
				t.Errorf("account still stored after DELETE: %v", err)
			}
			if _, ok := h.sm.Secret("supabridge/" + eventEnvironment + "/account/" + eventAccountID); ok {
				t.Error("credential secret still exists after DELETE")
			}
		}},
	{file: "link/create-token.json", status: 201, contains: `"link_url":"https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/connect?link_token=slt_`},
	{file: "link/create-token-off-allowlist.json", status: 400, contains: `redirect allowlist`},
	{file: "link/create-token-no-key.json", status: 401, contains: `"code":"unauthorized"`},
	{file: "link/connect-unknown-token.json", status: 404, contains: `This link is not valid.`},
	{file: "link/connect-api-key-unknown-token.json", status: 404, contains: `This link is not valid.`},
	{file: "link/connect-access-token-unknown-token.json", status: 404, contains: `This link is not valid.`},
	{file: "link/connect-oauth-unknown-token.json", status: 404, contains: `This link is not valid.`},
	{file: "link/oauth-callback-unknown-state.json", status: 400, contains: `This sign-in response is not valid.`},
	{file: "link/sdk.json", status: 200, contains: `Supabridge.connect = connect`},
	{file: "link/stylesheet.json", status: 200, contains: `.error-summary`},

	// The proxy's refusals, before any upstream call; no-key.json's after
	// links the accounts the others name: one by a secret key, one whose
	// project URL points at loopback (only the sandbox may reach those).
	{file: "proxy/no-key.json", status: 401, contains: `"code":"unauthorized"`,
		after: func(t *testing.T, h *lambdaHarness) {
			ctx := context.Background()
			for id, u := range map[string]string{eventProxyAccountID: "https://abcdefghijklmnopqrst.supabase.co", eventProxyLoopbackID: "http://127.0.0.1:9"} {
				err := h.store.CreateAccount(ctx, &bridge.Account{ID: id, Environment: eventEnvironment, TenantID: eventTenantID,
					Status: bridge.StatusActive, AuthMethod: bridge.AuthAPIKey, ProjectRef: "abcdefghijklmnopqrst", ProjectURL: u,
					KeyKind: bridge.KeySecret, BypassesRLS: true})
				if err != nil {
					t.Fatal(err)
				}
				cred, _ := bridge.Credential{Method: bridge.AuthAPIKey, APIKey: "sb_secret_eventsOnlyNotARealKey0000000000", Generation: 1}.MarshalBinary()
				if err := h.vault.Put(ctx, vault.Ref{Environment: eventEnvironment, Kind: vault.KindAccount, ID: id}, cred); err != nil {
					t.Fatal(err)
				}
			}
		}},
	{file: "proxy/path-escape.json", status: 400, contains: `path is not canonical`},
	{file: "proxy/unknown-prefix.json", status: 404, contains: `No Supabase API under this path`},
	{file: "proxy/realtime.json", status: 404, contains: `API Gateway HTTP APIs carry no WebSockets`},
	{file: "proxy/missing-account.json", status: 400, contains: `X-Integrated-Account-Id`},
	{file: "proxy/account-not-found.json", status: 404, contains: `"code":"not_found"`},
	{file: "proxy/management-with-project-key.json", status: 422, contains: `not the Management API`},
	{file: "proxy/other-project.json", status: 400, contains: `linked to project abcdefghijklmnopqrst only`},
	{file: "proxy/unified-write.json", status: 400, contains: `applies to GET /proxy/rest/v1`},
	{file: "proxy/private-upstream.json", status: 403, contains: `only public Supabase hosts are reachable`},

	// Status 0: a direct invocation (schedule Input, SQS batch); contains
	// is checked against the function's JSON result.
	{file: "refresh/schedule.json", contains: `"due":0`,
		after: func(t *testing.T, h *lambdaHarness) {
			ctx := context.Background()
			evs, _, err := h.store.ListEvents(ctx, eventEnvironment, "", 100)
			if err != nil || len(evs) != 1 || evs[0].Type != bridge.EventAccountDeleted || evs[0].AccountID != eventAccountID {
				t.Errorf("accounts/delete.json recorded %v (%v), want one integrated_account:deleted", evs, err)
			}
			err = h.store.CreateAccount(ctx, &bridge.Account{ID: eventKeyAccountID, Environment: eventEnvironment, TenantID: eventTenantID,
				Status: bridge.StatusActive, AuthMethod: bridge.AuthAPIKey, ProjectRef: "abcdefghijklmnopqrst"})
			if err != nil {
				t.Fatal(err)
			}
		}},
	{file: "refresh/refresh-api-key-account.json", status: 422, contains: `"authentication_method":"api_key"`},
	{file: "refresh/refresh-not-found.json", status: 404, contains: `"code":"not_found"`},
	{file: "refresh/refresh-no-key.json", status: 401, contains: `"code":"unauthorized"`},
	{file: "webhooks/create.json", status: 201, contains: `"secret":"whsec_`},
	{file: "webhooks/create-http-url.json", status: 400, contains: `url must use https`},
	{file: "webhooks/list.json", status: 200, contains: `"result_count":1`,
		after: func(t *testing.T, h *lambdaHarness) {
			ctx := context.Background()
			w := &bridge.Webhook{ID: eventWebhookID, Environment: eventEnvironment, URL: "https://hooks.example.com/other", EventTypes: []string{"*"}}
			if err := h.vault.Put(ctx, vault.Ref{Environment: eventEnvironment, Kind: vault.KindWebhook, ID: eventWebhookID}, []byte("whsec_eventsOnlyNotARealSecret")); err != nil {
				t.Fatal(err)
			}
			if err := h.store.CreateWebhook(ctx, w); err != nil {
				t.Fatal(err)
			}
		}},
	{file: "webhooks/test.json", status: 202, contains: `"event":"webhook:test"`},
	{file: "webhooks/test-not-found.json", status: 404, contains: `"code":"not_found"`},
	{file: "webhooks/delete.json", status: 200, contains: `{"id":"` + eventWebhookID + `"}`,
		after: func(t *testing.T, h *lambdaHarness) {
			if _, ok := h.sm.Secret("supabridge/" + eventEnvironment + "/webhook/" + eventWebhookID); ok {
				t.Error("signing secret still exists after DELETE")
			}
		}},
	// The test event's delivery is pending for a webhook deleted since:
	// the sweep gives it up without sending anything.
	{file: "delivery/sweep.json", contains: `"failed":1`},
	{file: "delivery/sqs.json", contains: `"batchItemFailures":[]`},

	// The directory's answers that need no upstream call; roles-create-
	// bad-json and users-list-private-upstream resolve the proxy's loopback
	// account and its credential from DynamoDB and Secrets Manager first.
	{file: "directory/openapi.json", status: 200, contains: `"openapi":"3.1.0"`},
	{file: "directory/users-list-no-key.json", status: 401, contains: `"code":"unauthorized"`},
	{file: "directory/users-list-missing-account.json", status: 400, contains: `integrated_account_id is required`},
	{file: "directory/users-list-bad-limit.json", status: 400, contains: `limit must be an integer from 1 to 1000`},
	{file: "directory/users-list-tampered-cursor.json", status: 400, contains: `The cursor is invalid`},
	{file: "directory/users-list-not-found.json", status: 404, contains: `"code":"not_found"`},
	{file: "directory/roles-create-bad-json.json", status: 400, contains: `not valid JSON`},
	{file: "directory/users-list-private-upstream.json", status: 403, contains: `private or reserved address`},
}

// lambdaHarness is the AWS side of a deployed stack, offline: dynalite for
// DynamoDB and the Secrets Manager fake, seeded as the events expect.
type lambdaHarness struct {
	dyn   *dynamotest.Server
	table string
	sm    *smtest.Server
	store *store.Store
	vault vault.Vault
}

func newLambdaHarness(t *testing.T) *lambdaHarness {
	t.Helper()
	dyn, err := dynamotest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dyn.Close() })
	client, table := dyn.NewTable(t)
	sm := smtest.NewServer(smtest.Options{})
	t.Cleanup(sm.Close)
	v, err := awssecrets.New(sm.Client(), awssecrets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &lambdaHarness{dyn: dyn, table: table, sm: sm, store: store.New(dynamo.New(client, table)), vault: v}
	ctx := context.Background()
	// The stack's SigningKey resource, as CloudFormation generates it.
	if err := v.Put(ctx, app.SigningKeyRef, []byte(strings.Repeat("k3y", 22))); err != nil {
		t.Fatal(err)
	}
	for _, key := range eventAPIKeys(t) {
		err := h.store.CreateAPIKey(ctx, &bridge.APIKey{ID: bridge.NewID(), Environment: eventEnvironment, Hash: bridge.HashAPIKey(key), Hint: "sbk_…"})
		if err != nil && !bridge.IsCode(err, bridge.ECONFLICT) {
			t.Fatal(err)
		}
	}
	acc := &bridge.Account{
		ID: eventAccountID, Environment: eventEnvironment, TenantID: eventTenantID,
		Status: bridge.StatusActive, AuthMethod: bridge.AuthAPIKey,
		ProjectRef: "abcdefghijklmnopqrst", ProjectURL: "https://abcdefghijklmnopqrst.supabase.co",
		KeyKind: bridge.KeySecret, BypassesRLS: true,
	}
	if err := h.store.CreateAccount(ctx, acc); err != nil {
		t.Fatal(err)
	}
	cred, _ := bridge.Credential{Method: bridge.AuthAPIKey, APIKey: "sb_secret_eventsOnlyNotARealKey0000000000"}.MarshalBinary()
	if err := v.Put(ctx, vault.Ref{Environment: eventEnvironment, Kind: vault.KindAccount, ID: eventAccountID}, cred); err != nil {
		t.Fatal(err)
	}
	return h
}

// eventAPIKeys returns every operator API key the events carry.
func eventAPIKeys(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`Bearer (sbk_[A-Za-z0-9_-]+)`)
	seen := map[string]bool{}
	err := filepath.Walk(filepath.Join(root(t), "events"), func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		for _, m := range re.FindAllSubmatch(b, -1) {
			seen[string(m[1])] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range seen {
		keys = append(keys, k)
	}
	return keys
}

// env is the environment a deployed function would see (template.yaml's
// Globals), pointed at the offline AWS.
func (h *lambdaHarness) env(fn string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIASMTESTEXAMPLE",
		"AWS_SECRET_ACCESS_KEY=smtest/secret/access/key/EXAMPLE",
		"AWS_ENDPOINT_URL_DYNAMODB=" + h.dyn.Endpoint(),
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + h.sm.URL,
		"AWS_LAMBDA_FUNCTION_NAME=supabridge-" + fn,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=29",
		"SUPABRIDGE_BACKEND=aws",
		"SUPABRIDGE_TABLE=" + h.table,
		"SUPABRIDGE_SECRET_PREFIX=supabridge/",
	}
}

func findRIE(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "aws-lambda-rie")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("aws-lambda-rie is not installed: run ./scripts/test (it installs it) or " +
		"go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d")
	return ""
}

// TestLambdaRuntime builds every function as a linux bootstrap, runs it
// under the AWS Lambda Runtime Interface Emulator (what `sam local invoke`
// does, without Docker) against offline DynamoDB and Secrets Manager, and
// invokes it with every event in events/, checking each response. It logs
// each function's cold-start Init Duration.
func TestLambdaRuntime(t *testing.T) {
	rie := findRIE(t)
	h := newLambdaHarness(t)

	byFn := map[string][]expectation{}
	for _, e := range expectations {
		fn := strings.SplitN(e.file, "/", 2)[0]
		byFn[fn] = append(byFn[fn], e)
	}
	checkEveryEventIsExpected(t)

	bin := t.TempDir()
	for _, f := range bundle.Functions() {
		t.Run(f.Name, func(t *testing.T) {
			exp := byFn[f.Name]
			if len(exp) == 0 {
				t.Fatalf("events/%s has no events", f.Name)
			}
			boot := filepath.Join(bin, f.Name, "bootstrap")
			build := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-o", boot, ".")
			build.Dir = filepath.Join(root(t), "functions", f.Name)
			build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("build: %v\n%s", err, out)
			}
			fn := startRIE(t, rie, boot, h.env(f.Name))
			for _, e := range exp {
				payload, err := os.ReadFile(filepath.Join(root(t), "events", e.file))
				if err != nil {
					t.Fatal(err)
				}
				if e.status == 0 {
					if body := fn.invokeDirect(t, payload); !strings.Contains(body, e.contains) {
						t.Errorf("%s: got %s, want a result containing %s", e.file, body, e.contains)
					}
				} else {
					status, body := fn.invoke(t, payload)
					if status != e.status || !strings.Contains(body, e.contains) {
						t.Errorf("%s: got %d %s, want %d containing %s", e.file, status, body, e.status, e.contains)
					}
				}
				if e.after != nil {
					e.after(t, h)
				}
			}
			t.Logf("%s: Init Duration %.1f ms under the RIE", f.Name, fn.initDuration(t))
		})
	}
}

func checkEveryEventIsExpected(t *testing.T) {
	t.Helper()
	listed := map[string]bool{}
	for _, e := range expectations {
		listed[e.file] = true
	}
	files, _ := filepath.Glob(filepath.Join(root(t), "events", "*", "*.json"))
	var missing []string
	for _, f := range files {
		rel, _ := filepath.Rel(filepath.Join(root(t), "events"), f)
		if !listed[filepath.ToSlash(rel)] {
			missing = append(missing, rel)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("events without an expectation in rie_test.go: %v", missing)
	}
}

// rieFunction is one bootstrap running under the emulator.
type rieFunction struct {
	url string
	mu  sync.Mutex
	log bytes.Buffer
}

func startRIE(t *testing.T, rie, bootstrap string, env []string) *rieFunction {
	t.Helper()
	invokeAddr, apiAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", apiAddr, bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = env
	f := &rieFunction{url: "http://" + invokeAddr + "/2015-03-31/functions/function/invocations"}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			f.mu.Lock()
			f.log.WriteString(sc.Text() + "\n")
			f.mu.Unlock()
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = pw.Close()
		if t.Failed() {
			f.mu.Lock()
			t.Logf("emulator output:\n%s", f.log.String())
			f.mu.Unlock()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", invokeAddr)
		if err == nil {
			c.Close()
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator did not listen on %s: %v", invokeAddr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// invoke sends an event and returns the API Gateway response's status and
// body. A function error (which the emulator answers with HTTP 200 and an
// errorMessage) fails the test.
func (f *rieFunction) invoke(t *testing.T, event []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(f.url, "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		StatusCode   int               `json:"statusCode"`
		Body         string            `json:"body"`
		Headers      map[string]string `json:"headers"`
		ErrorMessage string            `json:"errorMessage"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("invocation answered %d %s", resp.StatusCode, raw)
	}
	if out.ErrorMessage != "" {
		t.Fatalf("function error: %s", raw)
	}
	if out.Headers["X-Request-Id"] == "" {
		t.Errorf("response without X-Request-Id: %s", raw)
	}
	return out.StatusCode, out.Body
}

// invokeDirect sends a non-HTTP event (a schedule's Input, an SQS batch)
// and returns the function's JSON result. A function error fails the test.
func (f *rieFunction) invokeDirect(t *testing.T, event []byte) string {
	t.Helper()
	resp, err := http.Post(f.url, "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(raw, &out) == nil && out.ErrorMessage != "" {
		t.Fatalf("function error: %s", raw)
	}
	return string(raw)
}

var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// initDuration is the cold start's init phase as the emulator measured it.
func (f *rieFunction) initDuration(t *testing.T) float64 {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	m := initReport.FindStringSubmatch(f.log.String())
	if m == nil {
		t.Errorf("no INIT REPORT in the emulator's output")
		return 0
	}
	d, _ := strconv.ParseFloat(m[1], 64)
	return d
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
