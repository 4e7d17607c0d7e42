package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/vault"
	"github.com/supabridge/supabridge/shared/vault/vaulttest"
)

// memVault is an in-memory Vault with hooks that let a test stop a call at
// a chosen point, to force the interleavings the cache must survive.
type memVault struct {
	mu   sync.Mutex
	data map[vault.Ref][]byte
	gets atomic.Int64
	puts atomic.Int64

	// afterRead runs inside Get after the value was read, before it is
	// returned; beforeApply runs inside Put before the value is stored.
	afterRead   func(vault.Ref)
	beforeApply func(vault.Ref, []byte)
	failPut     error
}

func newMem() *memVault { return &memVault{data: map[vault.Ref][]byte{}} }

func (m *memVault) Put(_ context.Context, ref vault.Ref, value []byte) error {
	m.puts.Add(1)
	if err := ref.Validate(); err != nil {
		return err
	}
	if err := vault.CheckValue(value); err != nil {
		return err
	}
	if m.beforeApply != nil {
		m.beforeApply(ref, value)
	}
	if m.failPut != nil {
		return m.failPut
	}
	m.mu.Lock()
	m.data[ref] = bytes.Clone(value)
	m.mu.Unlock()
	return nil
}

func (m *memVault) Get(_ context.Context, ref vault.Ref) ([]byte, error) {
	m.gets.Add(1)
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	v, ok := m.data[ref]
	m.mu.Unlock()
	if m.afterRead != nil {
		m.afterRead(ref)
	}
	if !ok {
		return nil, fmt.Errorf("mem: %w", vault.ErrNotFound)
	}
	return bytes.Clone(v), nil
}

func (m *memVault) Delete(_ context.Context, ref vault.Ref) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.data, ref)
	m.mu.Unlock()
	return nil
}

// set writes behind the cache's back, as another process would.
func (m *memVault) set(ref vault.Ref, value string) {
	m.mu.Lock()
	m.data[ref] = []byte(value)
	m.mu.Unlock()
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var ctx = context.Background()

func ref(id string) vault.Ref {
	return vault.Ref{Environment: "test", Kind: vault.KindAccount, ID: id}
}

func wantGet(t *testing.T, v vault.Vault, r vault.Ref, want string) {
	t.Helper()
	got, err := v.Get(ctx, r)
	if err != nil {
		t.Fatalf("Get(%s): %v", r.ID, err)
	}
	if string(got) != want {
		t.Fatalf("Get(%s) = %q, want %q", r.ID, got, want)
	}
}

func wantGets(t *testing.T, m *memVault, want int64) {
	t.Helper()
	if got := m.gets.Load(); got != want {
		t.Fatalf("backend Gets = %d, want %d", got, want)
	}
}

func mustPut(t *testing.T, v vault.Vault, r vault.Ref, value string) {
	t.Helper()
	if err := v.Put(ctx, r, []byte(value)); err != nil {
		t.Fatalf("Put(%s): %v", r.ID, err)
	}
}

func TestCacheConformance(t *testing.T) {
	vaulttest.Run(t, vault.NewCache(newMem(), vault.CacheConfig{}))
}

func TestCacheWarmGetMakesNoBackendCall(t *testing.T) {
	m := newMem()
	m.set(ref("a"), "one")
	c := vault.NewCache(m, vault.CacheConfig{})
	for range 5 {
		wantGet(t, c, ref("a"), "one")
	}
	wantGets(t, m, 1)
}

func TestCacheTTL(t *testing.T) {
	tests := []struct {
		name      string
		ttl       time.Duration
		advance   time.Duration
		wantValue string
		wantGets  int64
	}{
		{"fresh", time.Minute, time.Minute - time.Nanosecond, "old", 1},
		{"expired", time.Minute, time.Minute, "new", 2},
		{"zero means default", 0, vault.DefaultCacheTTL - time.Second, "old", 1},
		{"default expires", 0, vault.DefaultCacheTTL, "new", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMem()
			clk := &clock{t: time.Unix(1000, 0)}
			c := vault.NewCache(m, vault.CacheConfig{TTL: tt.ttl, Now: clk.now})
			m.set(ref("a"), "old")
			wantGet(t, c, ref("a"), "old")
			m.set(ref("a"), "new") // another process writes
			clk.add(tt.advance)
			wantGet(t, c, ref("a"), tt.wantValue)
			wantGets(t, m, tt.wantGets)
		})
	}
}

func TestCacheOwnWrites(t *testing.T) {
	m := newMem()
	c := vault.NewCache(m, vault.CacheConfig{})
	mustPut(t, c, ref("a"), "one")
	wantGet(t, c, ref("a"), "one")
	mustPut(t, c, ref("a"), "two")
	wantGet(t, c, ref("a"), "two")
	wantGets(t, m, 0) // Put filled the cache

	if err := c.Delete(ctx, ref("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, ref("a")); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	wantGets(t, m, 1)
}

func TestCacheFailedPutDropsValue(t *testing.T) {
	m := newMem()
	c := vault.NewCache(m, vault.CacheConfig{})
	mustPut(t, c, ref("a"), "one")
	m.failPut = errors.New("backend down")
	if err := c.Put(ctx, ref("a"), []byte("two")); err == nil {
		t.Fatal("Put succeeded with a failing backend")
	}
	// The backend may or may not hold "two": the cache must ask it.
	m.failPut = nil
	m.set(ref("a"), "two")
	wantGet(t, c, ref("a"), "two")
	wantGets(t, m, 1)
}

// A Get that read the backend before a Put must not install its older
// value after the Put finished.
func TestCacheSlowGetDoesNotOverwritePut(t *testing.T) {
	m := newMem()
	m.set(ref("a"), "old")
	c := vault.NewCache(m, vault.CacheConfig{})

	read, release := make(chan struct{}), make(chan struct{})
	m.afterRead = func(vault.Ref) {
		m.afterRead = nil
		close(read)
		<-release
	}
	got := make(chan string)
	go func() {
		b, _ := c.Get(ctx, ref("a"))
		got <- string(b)
	}()
	<-read // the Get holds "old"
	mustPut(t, c, ref("a"), "new")
	close(release)
	if g := <-got; g != "old" { // what the backend answered when it was asked
		t.Fatalf("slow Get = %q, want old", g)
	}
	wantGet(t, c, ref("a"), "new")
	wantGets(t, m, 1) // served from the cache, which the Put filled
}

// When two Puts overlap, the backend's order is unknown to the cache, so
// it must not keep either value.
func TestCacheOverlappingPuts(t *testing.T) {
	m := newMem()
	c := vault.NewCache(m, vault.CacheConfig{})

	entered, release := make(chan struct{}), make(chan struct{})
	m.beforeApply = func(_ vault.Ref, v []byte) {
		if string(v) == "first" {
			close(entered)
			<-release
		}
	}
	done := make(chan error)
	go func() { done <- c.Put(ctx, ref("a"), []byte("first")) }()
	<-entered
	mustPut(t, c, ref("a"), "second") // lands first in the backend
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The backend ends with "first"; a cache that kept "second" would
	// serve it forever.
	wantGet(t, c, ref("a"), "first")
	wantGets(t, m, 1)
}

func TestCacheForget(t *testing.T) {
	m := newMem()
	c := vault.NewCache(m, vault.CacheConfig{})
	mustPut(t, c, ref("a"), "one")
	m.set(ref("a"), "two") // another process refreshed it
	wantGet(t, c, ref("a"), "one")
	c.Forget(ref("a"))
	wantGet(t, c, ref("a"), "two")
	c.Forget(ref("never-seen")) // harmless
	wantGets(t, m, 1)
}

// Forget also voids a read already in flight.
func TestCacheForgetDuringGet(t *testing.T) {
	m := newMem()
	m.set(ref("a"), "old")
	c := vault.NewCache(m, vault.CacheConfig{})
	read, release := make(chan struct{}), make(chan struct{})
	m.afterRead = func(vault.Ref) {
		m.afterRead = nil
		close(read)
		<-release
	}
	done := make(chan struct{})
	go func() { _, _ = c.Get(ctx, ref("a")); close(done) }()
	<-read
	m.set(ref("a"), "new")
	c.Forget(ref("a"))
	wantGet(t, c, ref("a"), "new") // a later read caches "new"...
	close(release)
	<-done // ...and the earlier one, holding "old", must not replace it
	wantGet(t, c, ref("a"), "new")
	wantGets(t, m, 2)
}

func TestCacheGetFresh(t *testing.T) {
	m := newMem()
	c := vault.NewCache(m, vault.CacheConfig{})
	mustPut(t, c, ref("a"), "one")
	m.set(ref("a"), "two")
	got, err := c.GetFresh(ctx, ref("a"))
	if err != nil || string(got) != "two" {
		t.Fatalf("GetFresh = %q, %v; want two", got, err)
	}
	wantGet(t, c, ref("a"), "two") // and it refilled the cache
	wantGets(t, m, 1)

	if err := m.Delete(ctx, ref("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetFresh(ctx, ref("a")); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("GetFresh of a deleted ref = %v, want ErrNotFound", err)
	}
	if _, err := c.Get(ctx, ref("a")); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Get after GetFresh saw it deleted = %v, want ErrNotFound", err)
	}
	wantGets(t, m, 3)
}

func TestCacheBounds(t *testing.T) {
	tests := []struct {
		name       string
		cfg        vault.CacheConfig
		values     []string // put in order a, b, c, ...
		wantCached []bool
	}{
		{"entries", vault.CacheConfig{MaxEntries: 2}, []string{"1", "2", "3"}, []bool{false, true, true}},
		{"bytes", vault.CacheConfig{MaxBytes: 10}, []string{"aaaa", "bbbb", "cccc"}, []bool{false, true, true}},
		{"value over the byte bound", vault.CacheConfig{MaxBytes: 3}, []string{"aaaa", "bb"}, []bool{false, true}},
		{"within bounds", vault.CacheConfig{MaxEntries: 3, MaxBytes: 100}, []string{"1", "2", "3"}, []bool{true, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMem()
			c := vault.NewCache(m, tt.cfg)
			for i, v := range tt.values {
				mustPut(t, c, ref(string(rune('a'+i))), v)
			}
			// Newest first, so that a miss (which caches again and may
			// evict) cannot disturb the refs still to be checked.
			for i := len(tt.values) - 1; i >= 0; i-- {
				v := tt.values[i]
				before := m.gets.Load()
				wantGet(t, c, ref(string(rune('a'+i))), v)
				if cached := m.gets.Load() == before; cached != tt.wantCached[i] {
					t.Errorf("ref %c cached = %v, want %v", 'a'+i, cached, tt.wantCached[i])
				}
			}
		})
	}
}

// LRU: a Get refreshes recency, so the untouched ref is the one evicted.
func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	m := newMem()
	c := vault.NewCache(m, vault.CacheConfig{MaxEntries: 2})
	mustPut(t, c, ref("a"), "1")
	mustPut(t, c, ref("b"), "2")
	wantGet(t, c, ref("a"), "1") // a is now the most recent
	mustPut(t, c, ref("c"), "3") // evicts b
	wantGets(t, m, 0)
	wantGet(t, c, ref("a"), "1")
	wantGets(t, m, 0)
	wantGet(t, c, ref("b"), "2")
	wantGets(t, m, 1)
}

// Under contention, each writer's own Get after its own Put sees exactly
// its value: the rule "never older than this process's last write".
func TestCacheReadYourWritesUnderContention(t *testing.T) {
	m := newMem()
	c := vault.NewCache(m, vault.CacheConfig{MaxEntries: 4})
	refs := []vault.Ref{ref("a"), ref("b"), ref("c"), ref("d"), ref("e")}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i, r := range refs {
		wg.Go(func() { // the one writer of r
			for n := range 200 {
				want := fmt.Sprintf("%d-%d", i, n)
				if err := c.Put(ctx, r, []byte(want)); err != nil {
					errs <- err
					return
				}
				got, err := c.Get(ctx, r)
				if err != nil || string(got) != want {
					errs <- fmt.Errorf("%s: after Put(%q), Get = %q, %v", r.ID, want, got, err)
					return
				}
			}
		})
		wg.Go(func() { // readers and forgetters of every ref
			for n := range 300 {
				r := refs[(i+n)%len(refs)]
				if n%7 == 0 {
					c.Forget(r)
				} else if n%5 == 0 {
					_, _ = c.GetFresh(ctx, r)
				} else {
					_, _ = c.Get(ctx, r)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A refresher that must see other processes' writes reads fresh, writes,
// and from then on every Get serves its own write from memory.
func ExampleCache() {
	backend := newMem()
	c := vault.NewCache(backend, vault.CacheConfig{TTL: time.Minute})
	r := vault.Ref{Environment: "local", Kind: vault.KindAccount, ID: "a1"}

	backend.set(r, "gen-1") // written by another process
	old, _ := c.GetFresh(ctx, r)
	_ = c.Put(ctx, r, []byte("gen-2"))
	now, _ := c.Get(ctx, r)
	fmt.Println(string(old), string(now), "backend Gets:", backend.gets.Load())
	// Output: gen-1 gen-2 backend Gets: 1
}
