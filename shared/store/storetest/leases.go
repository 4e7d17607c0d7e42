package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/store"
)

const leaseContenders = 50

func testLeaseSingleWinner(t *testing.T, s *store.Store, clk *Clock) {
	ctx := t.Context()
	leases := make([]*bridge.Lease, leaseContenders)
	errs := race(leaseContenders, func(i int) error {
		l, err := s.AcquireLease(ctx, "refresh/acc", fmt.Sprintf("owner-%d", i), 30*time.Second)
		leases[i] = l
		return err
	})
	w := oneWinner(t, errs, "acquire a free lease")
	l := leases[w]
	if l.Owner != fmt.Sprintf("owner-%d", w) || !l.ExpiresAt.Equal(clk.Now().Add(30*time.Second)) {
		t.Fatalf("winning lease: owner %q, expires %v", l.Owner, l.ExpiresAt)
	}
	_, err := s.AcquireLease(ctx, "refresh/acc", "late", time.Second)
	wantCode(t, err, bridge.ECONFLICT, "acquire a held lease")
	_, err = s.AcquireLease(ctx, "refresh/other", "late", time.Second)
	mustOK(t, err, "leases of other names are independent")
}

// testLeaseSingleWinnerOnExpired covers the takeover path, where every
// contender overwrites an existing record instead of creating one.
func testLeaseSingleWinnerOnExpired(t *testing.T, s *store.Store, clk *Clock) {
	ctx := t.Context()
	old, err := s.AcquireLease(ctx, "drain/stream", "old", 10*time.Second)
	mustOK(t, err, "acquire")
	clk.Advance(11 * time.Second)
	errs := race(leaseContenders, func(i int) error {
		_, err := s.AcquireLease(ctx, "drain/stream", fmt.Sprintf("owner-%d", i), 30*time.Second)
		return err
	})
	oneWinner(t, errs, "take over an expired lease")
	_, err = s.RenewLease(ctx, old, time.Minute)
	wantCode(t, err, bridge.ECONFLICT, "renew by the expired owner")
}

func testLeaseLifecycle(t *testing.T, s *store.Store, clk *Clock) {
	ctx := t.Context()
	const name, ttl = "job", 30 * time.Second
	a, err := s.AcquireLease(ctx, name, "A", ttl)
	mustOK(t, err, "A acquires")
	acquire := func(owner string) (*bridge.Lease, error) { return s.AcquireLease(ctx, name, owner, ttl) }

	_, err = acquire("B")
	wantCode(t, err, bridge.ECONFLICT, "B while A holds")
	clk.Advance(20 * time.Second)
	a2, err := acquire("A")
	mustOK(t, err, "A acquires again (renews)")
	sameTime(t, a2.ExpiresAt, clk.Now().Add(ttl), "re-acquired expiry")
	_, err = s.RenewLease(ctx, a, ttl)
	wantCode(t, err, bridge.ECONFLICT, "renew from the lease A replaced")

	clk.Advance(20 * time.Second) // past a's first expiry, within a2's
	_, err = acquire("B")
	wantCode(t, err, bridge.ECONFLICT, "B while A's renewed lease runs")
	a3, err := s.RenewLease(ctx, a2, ttl)
	mustOK(t, err, "A renews")
	sameTime(t, a3.ExpiresAt, clk.Now().Add(ttl), "renewed expiry")
	if a3.Owner != "A" || a3.Version == a2.Version {
		t.Fatalf("renewed lease: owner %q, version %d (was %d)", a3.Owner, a3.Version, a2.Version)
	}

	clk.Set(a3.ExpiresAt.Add(-time.Nanosecond))
	_, err = acquire("B")
	wantCode(t, err, bridge.ECONFLICT, "B a nanosecond before expiry")
	clk.Set(a3.ExpiresAt)
	b, err := acquire("B")
	mustOK(t, err, "B takes over at expiry")
	if b.Owner != "B" {
		t.Fatalf("taken-over lease owner %q", b.Owner)
	}

	_, err = s.RenewLease(ctx, a3, ttl)
	wantCode(t, err, bridge.ECONFLICT, "A renews after losing the lease")
	wantCode(t, s.ReleaseLease(ctx, a3), bridge.ECONFLICT, "A releases after losing the lease")
	_, err = acquire("C")
	wantCode(t, err, bridge.ECONFLICT, "B still holds after A's attempts")

	b2, err := s.RenewLease(ctx, b, ttl)
	mustOK(t, err, "B renews")
	mustOK(t, s.ReleaseLease(ctx, b2), "B releases")
	wantCode(t, s.ReleaseLease(ctx, b2), bridge.ECONFLICT, "release twice")
	_, err = s.RenewLease(ctx, b2, ttl)
	wantCode(t, err, bridge.ECONFLICT, "renew a released lease")
	c, err := acquire("C")
	mustOK(t, err, "C acquires right after the release")
	mustOK(t, s.ReleaseLease(ctx, c), "C releases")
}

// testLeaseFormerOwner: a holder's stale lease must not touch the lease of
// whoever holds it next, even when the record was deleted and created again
// in between.
func testLeaseFormerOwner(t *testing.T, s *store.Store, _ *Clock) {
	ctx := t.Context()
	const name, ttl = "singleton", time.Minute
	for _, tc := range []struct {
		name  string
		stale func(*bridge.Lease) error
	}{
		{"release", func(l *bridge.Lease) error { return s.ReleaseLease(ctx, l) }},
		{"renew", func(l *bridge.Lease) error { _, err := s.RenewLease(ctx, l, ttl); return err }},
	} {
		a, err := s.AcquireLease(ctx, name, "A", ttl)
		mustOK(t, err, tc.name+": A acquires")
		mustOK(t, s.ReleaseLease(ctx, a), tc.name+": A releases")
		b, err := s.AcquireLease(ctx, name, "B", ttl)
		mustOK(t, err, tc.name+": B acquires")
		wantCode(t, tc.stale(a), bridge.ECONFLICT, tc.name+" by the former owner")
		_, err = s.AcquireLease(ctx, name, "C", ttl)
		wantCode(t, err, bridge.ECONFLICT, tc.name+": B still holds")
		b2, err := s.RenewLease(ctx, b, ttl)
		mustOK(t, err, tc.name+": B renews")
		mustOK(t, s.ReleaseLease(ctx, b2), tc.name+": B releases")
	}
}

func testLeaseInvalid(t *testing.T, s *store.Store, _ *Clock) {
	ctx := t.Context()
	for _, tc := range []struct {
		name, owner string
		ttl         time.Duration
	}{
		{"", "A", time.Second},
		{"x", "", time.Second},
		{"x", "A", 0},
		{"x", "A", -time.Second},
	} {
		_, err := s.AcquireLease(ctx, tc.name, tc.owner, tc.ttl)
		wantCode(t, err, bridge.EINVALID, label("acquire %+v", tc))
	}
	held, err := s.AcquireLease(ctx, "x", "A", time.Minute)
	mustOK(t, err, "acquire")
	forged := &bridge.Lease{Name: "x", Owner: "B"}
	wantCode(t, s.ReleaseLease(ctx, forged), bridge.ECONFLICT, "release a lease never acquired")
	_, err = s.RenewLease(ctx, forged, time.Minute)
	wantCode(t, err, bridge.ECONFLICT, "renew a lease never acquired")
	_, err = s.AcquireLease(ctx, "x", "B", time.Minute)
	wantCode(t, err, bridge.ECONFLICT, "A still holds after forged calls")
	mustOK(t, s.ReleaseLease(ctx, held), "release")
}
