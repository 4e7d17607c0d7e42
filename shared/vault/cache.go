package vault

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// Cache defaults.
const (
	DefaultCacheTTL        = 5 * time.Minute
	DefaultCacheMaxEntries = 1024
	DefaultCacheMaxBytes   = 8 << 20
)

// CacheConfig configures NewCache. The zero value is usable.
type CacheConfig struct {
	// TTL bounds how long a value read or written here is served without
	// asking the backend again, and so how stale a value written by another
	// process can be. Zero or less means DefaultCacheTTL.
	TTL time.Duration
	// MaxEntries and MaxBytes bound what is held (values only); the least
	// recently used entries go first. Zero or less means the defaults.
	MaxEntries int
	MaxBytes   int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Cache is a Vault that keeps recently used values in memory in front of
// another Vault, so a warm Get makes no backend call.
//
// It never returns a value older than this process's own last completed
// write to the ref: Put stores the written value, Delete drops it, and every
// write bumps a per-ref generation, so a backend read that started before a
// write can never install its (older) result afterwards. While two writes to
// one ref overlap, neither is cached, since the backend's order between
// them is unknown; the next Get reads the backend. Writes by other
// processes become visible after TTL, or at once through Forget or
// GetFresh.
//
// Errors are the backend's, unchanged. A Cache is safe for concurrent use;
// the zero value is not usable, call NewCache.
type Cache struct {
	v          Vault
	ttl        time.Duration
	maxEntries int
	maxBytes   int
	now        func() time.Time

	mu    sync.Mutex
	seq   uint64 // source of generations
	refs  map[Ref]*refState
	lru   list.List // of *refState with a value, most recent first
	bytes int
}

// refState is what the cache knows about one ref. It outlives its value
// while writes are in flight. Generations come from one counter for the
// whole cache, so a state removed and created again never repeats a
// generation that a read in flight still holds.
type refState struct {
	ref      Ref
	gen      uint64
	writers  int
	value    []byte // nil: nothing cached
	expires  time.Time
	lruEntry *list.Element
}

var _ Vault = (*Cache)(nil)

// NewCache returns a Cache in front of v.
func NewCache(v Vault, cfg CacheConfig) *Cache {
	c := &Cache{
		v:          v,
		ttl:        cfg.TTL,
		maxEntries: cfg.MaxEntries,
		maxBytes:   cfg.MaxBytes,
		now:        cfg.Now,
		refs:       make(map[Ref]*refState),
	}
	if c.ttl <= 0 {
		c.ttl = DefaultCacheTTL
	}
	if c.maxEntries <= 0 {
		c.maxEntries = DefaultCacheMaxEntries
	}
	if c.maxBytes <= 0 {
		c.maxBytes = DefaultCacheMaxBytes
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Get returns the cached value for ref if it is fresh, and otherwise reads
// the backend and caches what it returns.
func (c *Cache) Get(ctx context.Context, ref Ref) ([]byte, error) {
	c.mu.Lock()
	if s := c.refs[ref]; s != nil && s.value != nil {
		if c.now().Before(s.expires) {
			c.lru.MoveToFront(s.lruEntry)
			out := append([]byte(nil), s.value...)
			c.mu.Unlock()
			return out, nil
		}
		c.dropValue(s)
	}
	c.mu.Unlock()
	return c.GetFresh(ctx, ref)
}

// GetFresh reads ref from the backend, bypassing the cached value, and
// caches the result. A refresher calls it when it must see writes made by
// other processes (for example after taking a refresh lease).
func (c *Cache) GetFresh(ctx context.Context, ref Ref) ([]byte, error) {
	c.mu.Lock()
	gen := c.state(ref).gen
	c.mu.Unlock()

	value, err := c.v.Get(ctx, ref)

	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.refs[ref]
	switch {
	case s == nil || s.gen != gen:
		// A write or Forget started since the read (or the state was
		// removed and made again): the read may predate it, so its result
		// must not replace what the cache knows now.
	case errors.Is(err, ErrNotFound):
		c.dropValue(s)
		c.bump(s)
	case err == nil && s.writers == 0:
		c.store(s, value)
	}
	if s != nil {
		c.trim(s)
	}
	if err != nil {
		return nil, err
	}
	return value, nil
}

// Put writes value to the backend and, unless another write to ref
// overlapped it, caches it.
func (c *Cache) Put(ctx context.Context, ref Ref, value []byte) error {
	gen := c.beginWrite(ref)
	err := c.v.Put(ctx, ref, value)
	c.endWrite(ref, gen, err == nil, value)
	return err
}

// Delete removes ref from the backend and the cache.
func (c *Cache) Delete(ctx context.Context, ref Ref) error {
	gen := c.beginWrite(ref)
	err := c.v.Delete(ctx, ref)
	c.endWrite(ref, gen, false, nil)
	return err
}

// Forget drops what the cache holds for ref, including the result of any
// backend read still in flight, so the next Get reads the backend.
func (c *Cache) Forget(ref Ref) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.refs[ref]; s != nil {
		c.dropValue(s)
		c.bump(s)
		c.trim(s)
	}
}

// beginWrite invalidates ref before a backend write: from here on neither a
// cached value nor a read in flight may be served in place of the write.
func (c *Cache) beginWrite(ref Ref) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.state(ref)
	c.dropValue(s)
	c.bump(s)
	s.writers++
	return s.gen
}

// endWrite records a finished write. Its value is cached only if no other
// write or Forget touched ref meanwhile; any overlap leaves ref uncached.
func (c *Cache) endWrite(ref Ref, gen uint64, ok bool, value []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.refs[ref]
	s.writers--
	alone := s.gen == gen
	c.bump(s)
	c.dropValue(s)
	if ok && alone && s.writers == 0 {
		c.store(s, append([]byte(nil), value...))
	}
	c.trim(s)
}

// state returns ref's state, creating it. Callers hold c.mu.
func (c *Cache) state(ref Ref) *refState {
	s := c.refs[ref]
	if s == nil {
		s = &refState{ref: ref}
		c.bump(s)
		c.refs[ref] = s
	}
	return s
}

// bump gives s a generation no read in flight holds. Callers hold c.mu.
func (c *Cache) bump(s *refState) {
	c.seq++
	s.gen = c.seq
}

// store caches value (owned by the cache from here) and evicts the least
// recently used values beyond the bounds. Callers hold c.mu.
func (c *Cache) store(s *refState, value []byte) {
	if len(value) > c.maxBytes {
		return
	}
	c.dropValue(s)
	s.value = value
	s.expires = c.now().Add(c.ttl)
	s.lruEntry = c.lru.PushFront(s)
	c.bytes += len(value)
	for c.lru.Len() > c.maxEntries || c.bytes > c.maxBytes {
		old := c.lru.Back().Value.(*refState)
		c.dropValue(old)
		c.trim(old)
	}
}

// dropValue forgets s's value, keeping its generation. Callers hold c.mu.
func (c *Cache) dropValue(s *refState) {
	if s.value == nil {
		return
	}
	c.lru.Remove(s.lruEntry)
	c.bytes -= len(s.value)
	s.value, s.lruEntry = nil, nil
}

// trim removes s from the map when nothing depends on it, which keeps the
// map as bounded as the values. A read in flight that then finds no state
// drops its result, which is always safe. Callers hold c.mu.
func (c *Cache) trim(s *refState) {
	if s.value == nil && s.writers == 0 {
		delete(c.refs, s.ref)
	}
}
