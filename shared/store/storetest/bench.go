package storetest

import (
	"runtime"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/store"
)

// Bench measures four Store operations against the direct Backend calls
// they rest on, on one backend in one run: account get, conditional
// update, a list page of 50, and lease acquire+release. Each pair runs as
// sub-benchmarks "direct" and "store" (the store line adds
// x-direct-allocs), then "interleaved", which alternates the two in one
// loop and reports x-direct-time: the typed layer's time as a ratio of the
// direct path's under the same load. newStore must return a new, empty Store.
func Bench(b *testing.B, newStore func(b *testing.B) *store.Store) {
	s := newStore(b)
	b.Cleanup(func() { s.Close() })
	be := s.Backend()
	ctx := b.Context()

	var accounts []*bridge.Account
	for range 120 {
		a := newAccount("bench", "t", bridge.StatusActive)
		a.Scopes = []string{"projects:read", "organizations:read"}
		a.NextRefreshAt = time.Now().Add(time.Hour)
		if err := s.CreateAccount(ctx, a); err != nil {
			b.Fatal(err)
		}
		accounts = append(accounts, a)
	}
	target := accounts[0]

	pair(b, "AccountGet",
		func() error { _, err := be.Get(ctx, "ACCOUNT#"+target.ID, "A"); return err },
		func() error { _, err := s.GetAccount(ctx, "bench", target.ID); return err })

	raw, err := be.Get(ctx, "ACCOUNT#"+accounts[1].ID, "A")
	if err != nil {
		b.Fatal(err)
	}
	typed := accounts[2]
	pair(b, "AccountUpdate",
		func() error {
			prev := raw.Version
			raw.Version++
			return be.Put(ctx, raw, store.Condition{IfVersion: prev})
		},
		func() error { typed.RefreshFailures++; return s.UpdateAccount(ctx, typed) })

	pair(b, "ListPage50",
		func() error {
			_, err := be.Query(ctx, store.Query{Index: store.IndexGSI1, PK: "ENV#bench#ACCOUNTS", Descending: true, Limit: 51})
			return err
		},
		func() error {
			_, _, err := s.ListAccounts(ctx, bridge.AccountFilter{Environment: "bench", Limit: 50})
			return err
		})

	leaseData := []byte(`{"name":"direct","owner":"bench","expires_at":"2030-01-01T00:00:00Z"}`)
	pair(b, "LeaseAcquireRelease",
		func() error {
			it := &store.Item{PK: "LEASE#direct", SK: "L", Version: 1, Data: leaseData}
			if err := be.Put(ctx, it, store.Condition{IfAbsent: true}); err != nil {
				return err
			}
			return be.Delete(ctx, it.PK, it.SK, store.Condition{IfVersion: 1})
		},
		func() error {
			l, err := s.AcquireLease(ctx, "typed", "bench", time.Minute)
			if err != nil {
				return err
			}
			return s.ReleaseLease(ctx, l)
		})
}

type measure struct{ ns, allocs float64 }

// pair runs direct and typed as sub-benchmarks of their own (absolute
// figures), then alternately in one loop, where both meet the same machine
// load, for the time ratio.
func pair(b *testing.B, name string, direct, typed func() error) {
	b.Run(name, func(b *testing.B) {
		var d measure
		b.Run("direct", func(b *testing.B) { d = loop(b, direct) })
		b.Run("store", func(b *testing.B) {
			s := loop(b, typed)
			if d.allocs > 0 {
				b.ReportMetric(s.allocs/d.allocs, "x-direct-allocs")
			}
		})
		b.Run("interleaved", func(b *testing.B) {
			var dt, st time.Duration
			n := 0
			for b.Loop() {
				t0 := time.Now()
				if err := direct(); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := typed(); err != nil {
					b.Fatal(err)
				}
				dt, st = dt+t1.Sub(t0), st+time.Since(t1)
				n++
			}
			b.ReportMetric(float64(dt.Nanoseconds())/float64(n), "direct-ns/op")
			b.ReportMetric(float64(st.Nanoseconds())/float64(n), "store-ns/op")
			b.ReportMetric(float64(st)/float64(dt), "x-direct-time")
		})
	})
}

func loop(b *testing.B, op func() error) measure {
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n := 0
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	runtime.ReadMemStats(&after)
	return measure{
		ns:     float64(b.Elapsed().Nanoseconds()) / float64(n),
		allocs: float64(after.Mallocs-before.Mallocs) / float64(n),
	}
}
