package events_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/supabridge/supabridge/scripts/js/jstest"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/events/eventstest"
	"github.com/supabridge/supabridge/shared/httpapi"
)

// TestWebhooksAPI drives the webhooks routes: create (the secret shown
// once), list, test (a webhook:test event to that webhook only, delivered
// signed), delete, and the errors for what callers get wrong.
func TestWebhooksAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b eventstest.Backend) {
		clock := newClock()
		n := newNode(t, b.Open(t, clock.Now), clock)
		r1, r2 := eventstest.NewReceiver(t), eventstest.NewReceiver(t)
		id1 := n.createWebhook(t, r1.URL+"/one", bridge.EventAccountCreated, bridge.EventAccountCreated)
		id2 := n.createWebhook(t, r2.URL+"/two")

		st, out := n.call(t, http.MethodGet, "/webhooks", n.key, nil)
		var list httpapi.List[events.WebhookView]
		if err := json.Unmarshal(out, &list); st != 200 || err != nil || list.ResultCount != 2 || list.NextCursor != nil {
			t.Fatalf("list: %d %s", st, out)
		}
		for _, v := range list.Result {
			if v.Secret != "" || strings.Contains(string(out), "whsec_") {
				t.Errorf("list shows a secret: %s", out)
			}
			if v.ID == id1 && (len(v.EventTypes) != 1 || v.EventTypes[0] != bridge.EventAccountCreated) {
				t.Errorf("event types stored as %v, want the one type, deduplicated", v.EventTypes)
			}
			if v.ID == id2 && (len(v.EventTypes) != 1 || v.EventTypes[0] != "*") {
				t.Errorf("no event types stored as %v, want [*]", v.EventTypes)
			}
		}

		st, out = n.call(t, http.MethodPost, "/webhooks/"+id1+"/test", n.key, nil)
		var tr struct {
			ID         string `json:"id"`
			Event      string `json:"event"`
			WebhookID  string `json:"webhook_id"`
			DeliveryID string `json:"delivery_id"`
		}
		if err := json.Unmarshal(out, &tr); st != http.StatusAccepted || err != nil || tr.Event != bridge.EventWebhookTest || tr.WebhookID != id1 {
			t.Fatalf("test: %d %s", st, out)
		}
		n.sweepUntilIdle(t)
		got := r1.Accepted()
		if len(got) != 1 || len(r2.All()) != 0 {
			t.Fatalf("test event: %d deliveries to its webhook, %d to the other", len(got), len(r2.All()))
		}
		d := decodeDelivery(t, got[0])
		if d.ID != tr.ID || d.Event != bridge.EventWebhookTest || d.Environment != testEnv || !strings.Contains(string(d.Payload), id1) {
			t.Errorf("test delivery %+v", d)
		}
		if got[0].Header.Get(events.DeliveryIDHeader) != tr.DeliveryID || got[0].Header.Get("Content-Type") != "application/json" {
			t.Errorf("delivery headers %v", got[0].Header)
		}
		verifyIndependently(t, n.hooks[id1], got[0])

		cases := []struct {
			name, method, path, key string
			body                    any
			status                  int
			contains                string
		}{
			{"no key", "POST", "/webhooks", "", map[string]any{"url": "https://example.com"}, 401, "unauthorized"},
			{"no url", "POST", "/webhooks", n.key, map[string]any{}, 400, "url is required"},
			{"http off loopback", "POST", "/webhooks", n.key, map[string]any{"url": "http://example.com/h"}, 400, "https"},
			{"ftp", "POST", "/webhooks", n.key, map[string]any{"url": "ftp://example.com/h"}, 400, "https"},
			{"credentials in url", "POST", "/webhooks", n.key, map[string]any{"url": "https://u:p@example.com/h"}, 400, "credentials"},
			{"relative", "POST", "/webhooks", n.key, map[string]any{"url": "/h"}, 400, "absolute"},
			{"unknown type", "POST", "/webhooks", n.key, map[string]any{"url": "https://example.com", "event_types": []string{"sync:done"}}, 400, "not an event type"},
			{"unknown field", "POST", "/webhooks", n.key, map[string]any{"url": "https://example.com", "secret": "x"}, 400, `secret\" is not recognised`},
			{"not json", "POST", "/webhooks", n.key, "url=https://example.com", 400, "not valid JSON"},
			{"types not a list", "POST", "/webhooks", n.key, `{"url":"https://example.com","event_types":"*"}`, 400, "must be an array"},
			{"list with params", "GET", "/webhooks?limit=5", n.key, nil, 400, "Unknown query parameter"},
			{"test unknown", "POST", "/webhooks/" + bridge.NewID() + "/test", n.key, nil, 404, "not_found"},
			{"test bad id", "POST", "/webhooks/x/test", n.key, nil, 404, "not_found"},
			{"delete unknown", "DELETE", "/webhooks/" + bridge.NewID(), n.key, nil, 404, "not_found"},
			{"delete", "DELETE", "/webhooks/" + id2, n.key, nil, 200, id2},
			{"delete again", "DELETE", "/webhooks/" + id2, n.key, nil, 404, "not_found"},
			{"wrong method", "PUT", "/webhooks", n.key, nil, 405, "method_not_allowed"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				st, out := n.call(t, tc.method, tc.path, tc.key, tc.body)
				if st != tc.status || !strings.Contains(string(out), tc.contains) {
					t.Errorf("got %d %s, want %d containing %q", st, out, tc.status, tc.contains)
				}
			})
		}
		if _, err := n.Raw.Get(context.Background(), events.WebhookSecretRef(&bridge.Webhook{ID: id2, Environment: testEnv})); err == nil {
			t.Errorf("the deleted webhook's secret is still in the vault")
		}

		// Another environment sees none of it.
		other, secret, _ := bridge.NewAPIKey("other", "x", clock.Now())
		if err := n.Store.CreateAPIKey(context.Background(), other); err != nil {
			t.Fatal(err)
		}
		if st, out := n.call(t, "GET", "/webhooks", secret.Reveal(), nil); st != 200 || !strings.Contains(string(out), `"result_count":0`) {
			t.Errorf("other environment lists %d %s", st, out)
		}
		if st, _ := n.call(t, "POST", "/webhooks/"+id1+"/test", secret.Reveal(), nil); st != 404 {
			t.Errorf("other environment tests a webhook: %d", st)
		}

		// At most MaxWebhooks per environment.
		for range events.MaxWebhooks - 1 {
			n.createWebhook(t, r2.URL)
		}
		if st, out := n.call(t, "POST", "/webhooks", n.key, map[string]any{"url": r2.URL}); st != 422 {
			t.Errorf("webhook beyond the limit: %d %s", st, out)
		}
		assertNoSecrets(t, n)
	})
}

// TestReadmeVerifiers runs the README's Node and Go snippets, and
// events.Verify, on a real delivery and on tampered copies.
func TestReadmeVerifiers(t *testing.T) {
	node := nodeBinary(t)
	clock := newClock()
	n := newNode(t, env.Backends()[0].Open(t, clock.Now), clock)
	r := eventstest.NewReceiver(t)
	id := n.createWebhook(t, r.URL)
	if err := n.rec.Record(context.Background(), events.AccountEvent(bridge.EventAccountActive, account("node"))); err != nil {
		t.Fatal(err)
	}
	n.sweepUntilIdle(t)
	got := r.Accepted()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	x := got[0]
	cases := []struct {
		name           string
		secret, header string
		body           []byte
		ok             bool
	}{
		{"genuine", n.hooks[id], x.Header.Get(events.SignatureHeader), x.Body, true},
		{"tampered body", n.hooks[id], x.Header.Get(events.SignatureHeader), bytes.Replace(x.Body, []byte(`"active"`), []byte(`"deleted"`), 1), false},
		{"other secret", "whsec_other", x.Header.Get(events.SignatureHeader), x.Body, false},
		{"stale", n.hooks[id], events.Sign([]byte(n.hooks[id]), time.Now().Add(-time.Hour), x.Body), x.Body, false},
		{"no v1", n.hooks[id], "t=" + fmt.Sprint(time.Now().Unix()), x.Body, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, _ := json.Marshal(map[string]string{"secret": tc.secret, "header": tc.header, "body": base64.StdEncoding.EncodeToString(tc.body)})
			cmd := exec.Command(node, filepath.Join("testdata", "verify.mjs"))
			cmd.Stdin = bytes.NewReader(in)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			switch {
			case err == nil && !tc.ok:
				t.Errorf("node accepted the signature")
			case err != nil && tc.ok:
				t.Errorf("node rejected the signature: %v %s", err, out)
			case err != nil && !asExit(err, &exit):
				t.Fatalf("node: %v %s", err, out)
			}
			// The Go snippet and the package's verifier agree.
			if ok := verifySupabridgeSignature(tc.secret, tc.header, tc.body, 5*time.Minute); ok != tc.ok {
				t.Errorf("Go snippet: %v", ok)
			}
			if err := events.Verify([]byte(tc.secret), tc.header, tc.body, time.Now(), 0); (err == nil) != tc.ok {
				t.Errorf("events.Verify: %v", err)
			}
		})
	}
}

func asExit(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*target = e
	return ok
}

// nodeBinary is the pinned Node 22 from scripts/js.
func nodeBinary(t *testing.T) string { return jstest.Node(t) }
