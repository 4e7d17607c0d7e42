// Package storetest is the conformance suite for the state store: Run checks
// every Store method over a backend, RunBackend checks the raw
// store.Backend contract, and Bench measures the typed layer against direct
// backend calls. Each backend's tests run all three.
package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/store"
)

// Run runs the Store suite. newStore must return a new, empty Store on a
// fresh backend each call; the suite sets its clock and closes it.
func Run(t *testing.T, newStore func(t *testing.T) *store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *store.Store, clk *Clock)
	}{
		{"APIKeys", testAPIKeys},
		{"AccountLifecycle", testAccountLifecycle},
		{"AccountConcurrentUpdates", testAccountConcurrentUpdates},
		{"ListAccountsFilters", testListAccountsFilters},
		{"ListAccountsWhileChanging", testListAccountsWhileChanging},
		{"RefreshIndex", testRefreshIndex},
		{"LinkSessions", testLinkSessions},
		{"LinkSessionSingleConsumption", testLinkSessionSingleConsumption},
		{"Webhooks", testWebhooks},
		{"Events", testEvents},
		{"Deliveries", testDeliveries},
		{"LeaseSingleWinner", testLeaseSingleWinner},
		{"LeaseSingleWinnerOnExpired", testLeaseSingleWinnerOnExpired},
		{"LeaseLifecycle", testLeaseLifecycle},
		{"LeaseFormerOwner", testLeaseFormerOwner},
		{"LeaseInvalid", testLeaseInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			clk := NewClock(time.Now())
			s.Now = clk.Now
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s, clk)
		})
	}
}

// Clock is a settable clock for Store.Now. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock reading t, in UTC and at microsecond precision
// (so that times survive a JSON round trip unchanged).
func NewClock(t time.Time) *Clock { return &Clock{t: t.UTC().Truncate(time.Microsecond)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func mustOK(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := bridge.ErrorCode(err); got != code {
		t.Fatalf("%s: error code %q (%v), want %q", what, got, err, code)
	}
}

// sameJSON compares two values through their JSON forms, which carry every
// field the store keeps except those tagged "-".
func sameJSON(t *testing.T, got, want any, what string) {
	t.Helper()
	g, err := json.Marshal(got)
	mustOK(t, err, what)
	w, err := json.Marshal(want)
	mustOK(t, err, what)
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func sameStrings(t *testing.T, got, want []string, what string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func sameTime(t *testing.T, got, want time.Time, what string) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
}

// race runs f(0..n-1) in n goroutines released together and returns their
// errors by index.
func race(n int, f func(i int) error) []error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one error is nil and every other one is
// ECONFLICT, and returns the winner's index.
func oneWinner(t *testing.T, errs []error, what string) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("%s: both %d and %d won", what, winner, i)
		case err == nil:
			winner = i
		case bridge.ErrorCode(err) != bridge.ECONFLICT:
			t.Fatalf("%s: loser %d failed with %v, want ECONFLICT", what, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: nobody won", what)
	}
	return winner
}

func isConflict(err error) bool {
	var be *bridge.Error
	return errors.As(err, &be) && be.Code == bridge.ECONFLICT
}

func newAccount(env, tenant string, status bridge.AccountStatus) *bridge.Account {
	return &bridge.Account{
		ID:          bridge.NewID(),
		Environment: env,
		TenantID:    tenant,
		Status:      status,
		AuthMethod:  bridge.AuthOAuth,
	}
}

func accountIDs(as []*bridge.Account) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

func label(format string, args ...any) string { return fmt.Sprintf(format, args...) }
