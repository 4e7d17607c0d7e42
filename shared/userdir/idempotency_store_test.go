package userdir_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/app/apptest"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/dynamo"
	"github.com/supabridge/supabridge/shared/store"
)

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// forEachStore runs f on the embedded backend and on DynamoDB (dynalite).
func forEachStore(t *testing.T, f func(t *testing.T, s *store.Store, c *clock)) {
	t.Run("embedded", func(t *testing.T) {
		s := apptest.New(t, "idempotency-test", nil, nil).Store
		c := newClock()
		s.Now = c.Now
		f(t, s, c)
	})
	t.Run("dynamodb", func(t *testing.T) {
		client, table := dyn.NewTable(t)
		s := store.New(dynamo.New(client, table))
		c := newClock()
		s.Now = c.Now
		f(t, s, c)
	})
}

func record(key, fp string) *store.IdempotencyRecord {
	return &store.IdempotencyRecord{Environment: "production", Scope: "userdir\x00acct-1", Key: key, Fingerprint: fp}
}

func wantClaim(t *testing.T, s *store.Store, r *store.IdempotencyRecord) {
	t.Helper()
	prior, err := s.ClaimIdempotencyKey(context.Background(), r, time.Minute, time.Hour)
	if err != nil || prior != nil || r.Version < 1 {
		t.Fatalf("claim %s = %+v, %v (version %d), want it taken", r.Key, prior, err, r.Version)
	}
}

func wantPrior(t *testing.T, s *store.Store, r *store.IdempotencyRecord, state store.IdempotencyState, fp string) *store.IdempotencyRecord {
	t.Helper()
	prior, err := s.ClaimIdempotencyKey(context.Background(), r, time.Minute, time.Hour)
	if err != nil || prior == nil || prior.State != state || prior.Fingerprint != fp {
		t.Fatalf("claim %s = %+v, %v; want the %s record of %s", r.Key, prior, err, state, fp)
	}
	return prior
}

func TestIdempotencyRecords(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		r := record("k1", "fp-a")
		wantClaim(t, s, r)
		wantPrior(t, s, record("k1", "fp-a"), store.IdempotencyInProgress, "fp-a")

		body := []byte(`{"id":"u1"}`)
		if err := s.CompleteIdempotencyKey(ctx, r, 201, map[string][]string{"Content-Type": {"application/json"}}, body); err != nil {
			t.Fatal(err)
		}
		p := wantPrior(t, s, record("k1", "fp-a"), store.IdempotencyComplete, "fp-a")
		if p.Status != 201 || string(p.Body) != string(body) || p.Header["Content-Type"][0] != "application/json" {
			t.Errorf("kept response = %d %s %v", p.Status, p.Body, p.Header)
		}
		wantPrior(t, s, record("k1", "fp-b"), store.IdempotencyComplete, "fp-a")

		// Scopes (accounts) and environments do not share keys.
		other := record("k1", "fp-b")
		other.Scope = "userdir\x00acct-2"
		wantClaim(t, s, other)
		staging := record("k1", "fp-b")
		staging.Environment = "staging"
		wantClaim(t, s, staging)

		// Released keys run afresh.
		r2 := record("k2", "fp-a")
		wantClaim(t, s, r2)
		if err := s.ReleaseIdempotencyKey(ctx, r2); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseIdempotencyKey(ctx, r2); err != nil {
			t.Errorf("releasing twice: %v", err)
		}
		wantClaim(t, s, record("k2", "fp-a"))

		// An abandoned claim is taken over by the same request only.
		r3 := record("k3", "fp-a")
		wantClaim(t, s, r3)
		c.Advance(2 * time.Minute)
		wantPrior(t, s, record("k3", "fp-b"), store.IdempotencyInProgress, "fp-a")
		again := record("k3", "fp-a")
		wantClaim(t, s, again)
		if err := s.CompleteIdempotencyKey(ctx, r3, 200, nil, nil); !bridge.IsCode(err, bridge.ECONFLICT) {
			t.Errorf("completing a claim that was taken over: %v, want ECONFLICT", err)
		}

		// Records expire (checked in code, whatever the backend's TTL).
		c.Advance(2 * time.Hour)
		wantClaim(t, s, record("k1", "fp-c"))

		// Limits.
		if _, err := s.ClaimIdempotencyKey(ctx, record(strings.Repeat("k", 300), "fp"), time.Minute, time.Hour); !bridge.IsCode(err, bridge.EINVALID) {
			t.Errorf("an over-long key: %v", err)
		}
		big := record("k5", "fp")
		wantClaim(t, s, big)
		if err := s.CompleteIdempotencyKey(ctx, big, 200, nil, make([]byte, store.MaxIdempotentBody+1)); !bridge.IsCode(err, bridge.EINVALID) {
			t.Errorf("an over-large body: %v", err)
		}

		// Concurrent claims: exactly one wins.
		var wins atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				prior, err := s.ClaimIdempotencyKey(ctx, record("k6", "fp"), time.Minute, time.Hour)
				if err == nil && prior == nil {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d concurrent claims won, want 1", wins.Load())
		}
	})
}
