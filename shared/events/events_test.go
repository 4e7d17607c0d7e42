package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/netguard"
)

func TestCheckWebhookURL(t *testing.T) {
	cases := []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://hooks.example.com/supabridge", false, true},
		{"https://hooks.example.com:8443/x?team=1", false, true},
		{"https://93.184.216.34/hook", false, true},
		{"http://hooks.example.com/x", false, false},
		{"http://hooks.example.com/x", true, false},
		{"http://127.0.0.1:8080/hook", true, true},
		{"http://localhost:3000/hook", true, true},
		{"http://[::1]:3000/hook", true, true},
		{"http://127.0.0.1:8080/hook", false, false},
		{"https://localhost/hook", false, false},
		{"https://app.localhost/hook", false, false},
		{"https://10.0.0.5/hook", false, false},
		{"https://10.0.0.5/hook", true, true},
		{"https://169.254.169.254/latest", false, false},
		{"https://[fd00::1]/hook", false, false},
		{"https://100.64.1.1/hook", false, false},
		{"https://user:pass@example.com/", false, false},
		{"https://example.com/#frag", false, false},
		{"ftp://example.com/", false, false},
		{"//example.com/x", false, false},
		{"example.com/x", false, false},
		{"mailto:a@example.com", false, false},
		{"https:///path", false, false},
		{"", false, false},
		{"https://example.com/" + strings.Repeat("a", events.MaxURLLength), false, false},
	}
	for _, tc := range cases {
		err := events.CheckWebhookURL(tc.url, tc.allowPrivate)
		if (err == nil) != tc.ok {
			t.Errorf("CheckWebhookURL(%q, private=%v) = %v, want ok=%v", tc.url, tc.allowPrivate, err, tc.ok)
		}
		if err != nil && !bridge.IsCode(err, bridge.EINVALID) {
			t.Errorf("CheckWebhookURL(%q): code %s, want invalid", tc.url, bridge.ErrorCode(err))
		}
	}
}

func FuzzCheckWebhookURL(f *testing.F) {
	for _, s := range []string{"https://example.com/h", "http://127.0.0.1:1/x", "https://[::1]/", "https://u@h/", "%", "https://a/%zz", "https://ex ample.com"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, allowPrivate bool) {
		err := events.CheckWebhookURL(raw, allowPrivate)
		if err != nil && !bridge.IsCode(err, bridge.EINVALID) {
			t.Fatalf("non-EINVALID error %v", err)
		}
		if err == nil && !strings.HasPrefix(strings.ToLower(raw), "http") {
			t.Fatalf("accepted %q", raw)
		}
	})
}

func TestVerify(t *testing.T) {
	secret := []byte("whsec_test")
	body := []byte(`{"id":"1"}`)
	now := time.Unix(1_800_000_000, 0)
	good := events.Sign(secret, now, body)
	cases := []struct {
		name, header string
		body         []byte
		at           time.Time
		want         error
	}{
		{"good", good, body, now, nil},
		{"good within tolerance", good, body, now.Add(4 * time.Minute), nil},
		{"two v1, one good", good + ",v1=" + strings.Repeat("0", 64), body, now, nil},
		{"unknown scheme ignored", good + ",v0=abc", body, now, nil},
		{"stale", good, body, now.Add(6 * time.Minute), events.ErrSignatureExpired},
		{"future", good, body, now.Add(-6 * time.Minute), events.ErrSignatureExpired},
		{"tampered", good, []byte(`{"id":"2"}`), now, events.ErrSignatureMismatch},
		{"no t", "v1=" + strings.Repeat("a", 64), body, now, events.ErrSignatureFormat},
		{"no v1", "t=1800000000", body, now, events.ErrSignatureFormat},
		{"short v1", "t=1800000000,v1=abcd", body, now, events.ErrSignatureFormat},
		{"garbage", "signature", body, now, events.ErrSignatureFormat},
		{"empty", "", body, now, events.ErrSignatureFormat},
	}
	for _, tc := range cases {
		if err := events.Verify(secret, tc.header, tc.body, tc.at, 0); err != tc.want {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	body := []byte(`{"id":"x"}`)
	f.Add(events.Sign([]byte("k"), time.Unix(100, 0), body), body)
	f.Add("t=1,v1=zz", body)
	f.Add("t=,v1=", []byte{})
	f.Add("t=99999999999999999999,v1=00", body)
	f.Add(",,,=,t", body)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := events.Verify([]byte("k"), header, body, time.Unix(100, 0), 0)
		if err != nil && err != events.ErrSignatureFormat && err != events.ErrSignatureExpired && err != events.ErrSignatureMismatch {
			t.Fatalf("unexpected error %v", err)
		}
		if err == nil && header != events.Sign([]byte("k"), time.Unix(100, 0), body) && !strings.Contains(header, "v1=") {
			t.Fatalf("accepted %q", header)
		}
	})
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second}
	for i, w := range want {
		if got := events.Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if events.Backoff(100) != events.MaxBackoff || events.Backoff(0) != events.FirstBackoff {
		t.Errorf("Backoff bounds: %s, %s", events.Backoff(100), events.Backoff(0))
	}
	// Attempts spaced by the backoff keep a delivery alive past a day.
	var total time.Duration
	n := 0
	for ; total < 24*time.Hour; n++ {
		total += events.Backoff(n + 1)
	}
	if events.DefaultRetryWindow < 24*time.Hour || n < 20 {
		t.Errorf("retry window %s, %d attempts in the first day", events.DefaultRetryWindow, n)
	}
}

func TestAccountEventAndTransitions(t *testing.T) {
	a := account("v")
	a.Context = json.RawMessage(`{"plan":"pro"}`)
	e := events.AccountEvent(bridge.EventAccountActive, a)
	var view bridge.AccountView
	if err := json.Unmarshal(e.Payload, &view); err != nil || view.ID != a.ID || view.Status != "active" || string(view.Context) != `{"plan":"pro"}` {
		t.Errorf("payload %s", e.Payload)
	}
	if e.AccountID != a.ID || e.Environment != testEnv || !bridge.ValidID(e.ID) {
		t.Errorf("event %+v", e)
	}
	a.Context = json.RawMessage(`{broken`)
	if e := events.AccountEvent(bridge.EventAccountDeleted, a); string(e.Payload) != `{"id":"`+a.ID+`"}` {
		t.Errorf("payload with a malformed context: %s", e.Payload)
	}

	cases := []struct {
		from, to bridge.AccountStatus
		want     []string
	}{
		{bridge.StatusActive, bridge.StatusNeedsReauth, []string{bridge.EventAccountAuthenticationError}},
		{bridge.StatusNeedsReauth, bridge.StatusNeedsReauth, nil},
		{bridge.StatusNeedsReauth, bridge.StatusActive, []string{bridge.EventAccountReactivated}},
		{bridge.StatusValidationError, bridge.StatusActive, []string{bridge.EventAccountReactivated}},
		{bridge.StatusConnecting, bridge.StatusActive, nil},
		{bridge.StatusActive, bridge.StatusValidationError, nil},
	}
	for _, tc := range cases {
		a.Status = tc.to
		var got []string
		for _, e := range events.TransitionEvents(tc.from, a) {
			got = append(got, e.Type)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s → %s: %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

// FuzzHandleLambda: whatever the delivery function is invoked with, it
// answers without panicking; SQS-shaped payloads get an SQS response.
func FuzzHandleLambda(f *testing.F) {
	clock := newClock()
	f.Add([]byte(`{"Records":[{"messageId":"1","body":"{\"stream\":\"a/b\"}","eventSource":"aws:sqs"}]}`))
	f.Add([]byte(`{"Records":[{"messageId":"1","body":"[]"}]}`))
	f.Add([]byte(`{"Records":[]}`))
	f.Add([]byte(`{"job":"sweep"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"Records":"x"}`))
	sh := env.Backends()[0].Open(f, clock.Now)
	p := sh.Process(f)
	d := &events.Dispatcher{Store: p.Store, Vault: p.Vault, Now: clock.Now, AllowPrivate: true, HTTP: events.NewDeliveryClient(true)}
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, err := d.HandleLambda(context.Background(), payload)
		if err == nil && out == nil {
			t.Fatalf("no result for %q", payload)
		}
	})
}

// TestDeliveryClientRefusesPrivateAddresses: without allowPrivate the
// client will not connect to a loopback address, whatever name led there.
func TestDeliveryClientRefusesPrivateAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	for _, u := range []string{srv.URL, "http://localhost:" + port} {
		resp, err := events.NewDeliveryClient(false).Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: connected to a loopback address", u)
		} else if !errors.Is(err, netguard.ErrNotPublic) {
			t.Errorf("%s: %v", u, err)
		}
	}
	resp, err := events.NewDeliveryClient(true).Get(srv.URL)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("with private addresses allowed: %v", err)
	}
	resp.Body.Close()
}
