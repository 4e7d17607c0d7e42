package vaulttest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/vault"
)

// BenchmarkGet measures Get of one credential-sized value through v
// directly and through a vault.Cache in front of v. The "cached" result
// reports, besides its own time and allocations, the direct path measured
// in the same run: "direct-ns/op", "direct-allocs/op", their ratio
// "speedup", and "backend-gets/op", which is 0 when a warm Get makes no
// backend call.
func BenchmarkGet(b *testing.B, v vault.Vault) {
	ctx := context.Background()
	ref := vault.Ref{Environment: "vaulttest-bench-" + randomHex(4), Kind: vault.KindAccount, ID: "bench"}
	value := randomValue(512)
	if err := v.Put(ctx, ref, value); err != nil {
		b.Fatalf("Put: %v", err)
	}
	b.Cleanup(func() { _ = v.Delete(ctx, ref) })

	get := func(b *testing.B, v vault.Vault) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Get(ctx, ref); err != nil {
				b.Fatalf("Get: %v", err)
			}
		}
	}
	// The direct path measured here rather than with testing.Benchmark,
	// which cannot run inside a benchmark.
	var (
		directOnce           sync.Once
		directNs, directAllo float64
	)
	measureDirect := func(b *testing.B) {
		for range 20 { // warm connections and caches first
			_, _ = v.Get(ctx, ref)
		}
		n, start := 0, time.Now()
		for ; time.Since(start) < 300*time.Millisecond || n < 10; n++ {
			if _, err := v.Get(ctx, ref); err != nil {
				b.Fatalf("Get: %v", err)
			}
		}
		directNs = float64(time.Since(start).Nanoseconds()) / float64(n)
		directAllo = testing.AllocsPerRun(100, func() { _, _ = v.Get(ctx, ref) })
	}
	b.Run("direct", func(b *testing.B) { get(b, v) })
	b.Run("cached", func(b *testing.B) {
		directOnce.Do(func() { measureDirect(b) })
		counted := &countingGets{v: v}
		c := vault.NewCache(counted, vault.CacheConfig{TTL: time.Hour})
		if _, err := c.Get(ctx, ref); err != nil { // warm it
			b.Fatalf("Get: %v", err)
		}
		counted.gets.Store(0)
		b.ReportAllocs()
		n := 0
		start := time.Now()
		for b.Loop() {
			if _, err := c.Get(ctx, ref); err != nil {
				b.Fatalf("Get: %v", err)
			}
			n++
		}
		cachedNs := float64(time.Since(start).Nanoseconds()) / float64(n)
		b.ReportMetric(directNs, "direct-ns/op")
		b.ReportMetric(directAllo, "direct-allocs/op")
		b.ReportMetric(directNs/cachedNs, "speedup")
		b.ReportMetric(float64(counted.gets.Load())/float64(n), "backend-gets/op")
	})
}

// countingGets counts the Gets that reach a Vault.
type countingGets struct {
	v    vault.Vault
	gets atomic.Int64
}

func (c *countingGets) Put(ctx context.Context, ref vault.Ref, value []byte) error {
	return c.v.Put(ctx, ref, value)
}

func (c *countingGets) Get(ctx context.Context, ref vault.Ref) ([]byte, error) {
	c.gets.Add(1)
	return c.v.Get(ctx, ref)
}

func (c *countingGets) Delete(ctx context.Context, ref vault.Ref) error {
	return c.v.Delete(ctx, ref)
}
