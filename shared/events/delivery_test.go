package events_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/events/eventstest"
)

// TestReceiverDownThenBack: while a receiver is down each stream's head is
// retried with exponential backoff (never before it is due) and the rest
// wait behind it; once the receiver is back it gets every event exactly
// once by id, in order per account. Another webhook's streams are not
// held up meanwhile.
func TestReceiverDownThenBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b eventstest.Backend) {
		clock := newClock()
		n := newNode(t, b.Open(t, clock.Now), clock)
		down := eventstest.NewReceiver(t)
		up := eventstest.NewReceiver(t)
		down.SetStatus(http.StatusServiceUnavailable)
		downID := n.createWebhook(t, down.URL+"/hook")
		upID := n.createWebhook(t, up.URL+"/hook")

		accts := []*bridge.Account{account("a"), account("b"), account("c")}
		want := map[string][]string{} // account → event ids in record order
		types := []string{bridge.EventAccountCreated, bridge.EventAccountActive, bridge.EventAccountAuthenticationError, bridge.EventAccountReactivated}
		for _, typ := range types {
			for _, a := range accts {
				e := events.AccountEvent(typ, a)
				if err := n.rec.Record(context.Background(), e); err != nil {
					t.Fatal(err)
				}
				want[a.ID] = append(want[a.ID], e.ID)
			}
		}

		// First sweep: the up receiver gets everything, the down one is
		// tried once per stream head.
		n.sweepUntilIdle(t)
		if got := len(up.Accepted()); got != 12 {
			t.Errorf("the healthy receiver got %d of 12 events", got)
		}
		if got := len(down.All()); got != 3 {
			t.Fatalf("the down receiver was tried %d times, want once per stream (3)", got)
		}
		// Only the failing heads stay in the due index; what waits behind
		// them is parked.
		if ds := pendingDeliveries(t, n, clock.Now().Add(24*time.Hour)); len(ds) != 3 {
			t.Errorf("%d deliveries in the due index while 3 streams are blocked", len(ds))
		}

		// Backoff: 10 s after the first failure, then 20 s, 40 s...
		for attempt, wait := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second} {
			tries := len(down.All())
			clock.Advance(wait - time.Second)
			n.sweepUntilIdle(t)
			if got := len(down.All()); got != tries {
				t.Fatalf("attempt %d: %d requests before the backoff of %s ended", attempt+2, got-tries, wait)
			}
			clock.Advance(time.Second)
			n.sweepUntilIdle(t)
			if got := len(down.All()); got != tries+3 {
				t.Fatalf("attempt %d: %d requests when the backoff ended, want 3", attempt+2, got-tries)
			}
			for _, d := range pendingDeliveries(t, n, clock.Now().Add(time.Hour)) {
				if d.WebhookID == downID && (d.Attempts != attempt+2 || !d.NextAttemptAt.Equal(clock.Now().Add(2*wait))) {
					t.Errorf("head after attempt %d: attempts %d, next in %s", attempt+2, d.Attempts, d.NextAttemptAt.Sub(clock.Now()))
				}
			}
		}

		// The receiver comes back.
		down.SetStatus(http.StatusOK)
		clock.Advance(80 * time.Second)
		n.sweepUntilIdle(t)

		for name, r := range map[string]*eventstest.Receiver{"down": down, "up": up} {
			hookID := map[string]string{"down": downID, "up": upID}[name]
			got := map[string][]string{}
			seen := map[string]bool{}
			for _, x := range r.Accepted() {
				verifyIndependently(t, n.hooks[hookID], x)
				d := decodeDelivery(t, x)
				if seen[d.ID] {
					t.Errorf("%s receiver: event %s accepted twice", name, d.ID)
				}
				seen[d.ID] = true
				var p struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(d.Payload, &p); err != nil || d.Environment != testEnv {
					t.Fatalf("payload %s", d.Payload)
				}
				got[p.ID] = append(got[p.ID], d.ID)
			}
			for _, a := range accts {
				if !slices.Equal(got[a.ID], want[a.ID]) {
					t.Errorf("%s receiver, account %s: got %v, want %v in this order", name, a.TenantID, got[a.ID], want[a.ID])
				}
			}
		}
		if ds := pendingDeliveries(t, n, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)); len(ds) != 0 {
			t.Errorf("%d deliveries still pending", len(ds))
		}
		assertNoSecrets(t, n)
	})
}

// TestRetryWindow: a delivery is retried for at least a day and given up
// after the retry window; its stream then moves on.
func TestRetryWindow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b eventstest.Backend) {
		clock := newClock()
		n := newNode(t, b.Open(t, clock.Now), clock)
		r := eventstest.NewReceiver(t)
		r.SetStatus(http.StatusInternalServerError)
		hook := n.createWebhook(t, r.URL)
		a := account("w")
		first := events.AccountEvent(bridge.EventAccountCreated, a)
		if err := n.rec.Record(context.Background(), first); err != nil {
			t.Fatal(err)
		}
		id := events.DeliveryID(first.ID, hook)
		for range 25 {
			n.sweepUntilIdle(t)
			clock.Advance(time.Hour)
		}
		d, err := n.Store.GetDelivery(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != bridge.DeliveryPending || d.Attempts < 15 || d.LastError != "the receiver answered 500" {
			t.Fatalf("after 25 hours: status %s, %d attempts, last error %q", d.Status, d.Attempts, d.LastError)
		}
		second := events.AccountEvent(bridge.EventAccountActive, a)
		if err := n.rec.Record(context.Background(), second); err != nil {
			t.Fatal(err)
		}
		// Past the head's window (it was recorded 25 hours ago), its next
		// failed attempt is its last; the second's window is still open.
		clock.Advance(events.DefaultRetryWindow - 25*time.Hour + time.Minute)
		n.sweepUntilIdle(t)
		if d, _ = n.Store.GetDelivery(context.Background(), id); d.Status != bridge.DeliveryFailed {
			t.Errorf("after the retry window: status %s", d.Status)
		}
		r.SetStatus(http.StatusOK)
		clock.Advance(time.Hour)
		n.sweepUntilIdle(t)
		acc := r.Accepted()
		if len(acc) != 1 || decodeDelivery(t, acc[0]).ID != second.ID {
			t.Errorf("after giving up on the head, the receiver accepted %d deliveries", len(acc))
		}
	})
}

// TestFanOut: an event reaches every webhook subscribed to its type (and
// only those) once, however often it is recorded; webhook:test events go
// only through the test route.
func TestFanOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b eventstest.Backend) {
		clock := newClock()
		n := newNode(t, b.Open(t, clock.Now), clock)
		all, deleted := eventstest.NewReceiver(t), eventstest.NewReceiver(t)
		n.createWebhook(t, all.URL)
		n.createWebhook(t, deleted.URL, bridge.EventAccountDeleted)
		a := account("f")
		created := events.AccountEvent(bridge.EventAccountCreated, a)
		gone := events.AccountEvent(bridge.EventAccountDeleted, a)
		for range 3 {
			for _, e := range []*bridge.Event{created, gone} {
				if err := n.rec.Record(context.Background(), e); err != nil {
					t.Fatal(err)
				}
			}
		}
		n.sweepUntilIdle(t)
		if len(all.Accepted()) != 2 || len(deleted.Accepted()) != 1 || decodeDelivery(t, deleted.Accepted()[0]).Event != bridge.EventAccountDeleted {
			t.Errorf("fan-out: %d to the catch-all webhook (want 2), %d to the deleted-only one (want 1)", len(all.Accepted()), len(deleted.Accepted()))
		}
		err := n.rec.Record(context.Background(), &bridge.Event{Environment: testEnv, Type: bridge.EventWebhookTest})
		if !bridge.IsCode(err, bridge.EINVALID) {
			t.Errorf("Record of webhook:test: %v", err)
		}
		if err := n.rec.Record(context.Background(), &bridge.Event{Type: bridge.EventAccountActive}); !bridge.IsCode(err, bridge.EINVALID) {
			t.Errorf("Record without environment: %v", err)
		}
	})
}

// TestDeletedWebhook: deliveries to a deleted webhook are given up at once.
func TestDeletedWebhook(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b eventstest.Backend) {
		clock := newClock()
		n := newNode(t, b.Open(t, clock.Now), clock)
		r := eventstest.NewReceiver(t)
		hook := n.createWebhook(t, r.URL)
		e := events.AccountEvent(bridge.EventAccountCreated, account("d"))
		if err := n.rec.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		if st, out := n.call(t, http.MethodDelete, "/webhooks/"+hook, n.key, nil); st != 200 {
			t.Fatalf("delete: %d %s", st, out)
		}
		n.sweepUntilIdle(t)
		d, err := n.Store.GetDelivery(context.Background(), events.DeliveryID(e.ID, hook))
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != bridge.DeliveryFailed || len(r.All()) != 0 {
			t.Errorf("delivery to a deleted webhook: %s (%q), %d requests", d.Status, d.LastError, len(r.All()))
		}
	})
}

// TestTwoWorkersOneStream: two processes draining the same streams at once
// never deliver one event twice nor out of order.
func TestTwoWorkersOneStream(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b eventstest.Backend) {
		clock := newClock()
		sh := b.Open(t, clock.Now)
		n1, n2 := newNode(t, sh, clock), newNode(t, sh, clock)
		r := eventstest.NewReceiver(t)
		n1.createWebhook(t, r.URL)
		a := account("two")
		var ids []string
		for range 10 {
			e := events.AccountEvent(bridge.EventAccountActive, a)
			if err := n1.rec.Record(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, e.ID)
		}
		done := make(chan struct{})
		for _, n := range []*node{n1, n2} {
			go func() {
				defer func() { done <- struct{}{} }()
				for range 5 {
					if _, err := n.disp.Sweep(context.Background()); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		<-done
		<-done
		n1.sweepUntilIdle(t)
		var got []string
		for _, x := range r.Accepted() {
			got = append(got, decodeDelivery(t, x).ID)
		}
		if !slices.Equal(got, ids) {
			t.Errorf("two workers delivered %v, want %v", got, ids)
		}
	})
}

// TestAttemptFailures: a redirect is not followed, a slow receiver times
// out, a closed port fails to connect; each is retried, and the stored
// error names the failure without the URL.
func TestAttemptFailures(t *testing.T) {
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example.com/", http.StatusFound)
	}))
	defer redirect.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	cases := []struct{ name, url, lastError string }{
		{"redirect", redirect.URL + "/hook?token=abc", "the receiver answered 302 (redirects are not followed)"},
		{"slow", slow.URL + "/hook?token=abc", "the request timed out"},
		{"closed", closedURL + "/hook?token=abc", "the connection to the receiver failed"},
	}
	clock := newClock()
	n := newNode(t, env.Backends()[0].Open(t, clock.Now), clock)
	n.disp.AttemptTimeout = 300 * time.Millisecond
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hook := n.createWebhook(t, tc.url)
			e := events.AccountEvent(bridge.EventAccountActive, account(tc.name))
			if err := n.rec.Record(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			n.sweepUntilIdle(t)
			d, err := n.Store.GetDelivery(context.Background(), events.DeliveryID(e.ID, hook))
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != bridge.DeliveryPending || d.Attempts != 1 || d.LastError != tc.lastError {
				t.Errorf("delivery: %s after %d attempts, last error %q, want pending with %q", d.Status, d.Attempts, d.LastError, tc.lastError)
			}
			if strings.Contains(n.logs.String(), "token=abc") {
				t.Errorf("a webhook URL's query reached the logs")
			}
			if st, _ := n.call(t, http.MethodDelete, "/webhooks/"+hook, n.key, nil); st != http.StatusOK {
				t.Fatalf("delete: %d", st)
			}
		})
	}
}
