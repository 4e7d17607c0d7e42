package sqlite_test

import (
	"bytes"
	"crypto/rand"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/sqlite"
	"github.com/supabridge/supabridge/shared/vault"
	"github.com/supabridge/supabridge/shared/vault/vaulttest"
)

// openEmbeddedVault opens a vault on the file at path, as a process would.
func openEmbeddedVault(t *testing.T, path string, key []byte) *sqlite.Vault {
	t.Helper()
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	v, err := db.Vault(t.Context(), key)
	if err != nil {
		t.Fatalf("Vault: %v", err)
	}
	return v
}

func masterKeyForTest(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestCachedVaultConformance runs the vault suite against a vault.Cache in
// front of the embedded vault, the way the local runner uses it.
func TestCachedVaultConformance(t *testing.T) {
	v := openEmbeddedVault(t, filepath.Join(t.TempDir(), "cached.db"), masterKeyForTest(t))
	vaulttest.Run(t, vault.NewCache(v, vault.CacheConfig{}))
}

// Two processes on one file, each with its own cache: a process sees its
// own writes at once, and another's after TTL, Forget or GetFresh — the
// staleness a cache may add, and no more.
func TestCachedVaultAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	key := masterKeyForTest(t)
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	a := vault.NewCache(openEmbeddedVault(t, path, key), vault.CacheConfig{TTL: time.Minute, Now: clock})
	b := vault.NewCache(openEmbeddedVault(t, path, key), vault.CacheConfig{TTL: time.Minute, Now: clock})
	ref := vault.Ref{Environment: "local", Kind: vault.KindAccount, ID: "shared"}
	ctx := t.Context()

	put := func(c *vault.Cache, value string) {
		t.Helper()
		if err := c.Put(ctx, ref, []byte(value)); err != nil {
			t.Fatalf("Put(%s): %v", value, err)
		}
	}
	want := func(name string, got []byte, err error, value string) {
		t.Helper()
		if err != nil || !bytes.Equal(got, []byte(value)) {
			t.Fatalf("%s: got %q, %v; want %q", name, got, err, value)
		}
	}

	put(a, "v1")
	got, err := b.Get(ctx, ref)
	want("b reads a's write", got, err, "v1")

	put(a, "v2")
	got, err = a.Get(ctx, ref)
	want("a reads its own write", got, err, "v2")
	got, err = b.Get(ctx, ref)
	want("b within TTL still has its copy", got, err, "v1")

	got, err = b.GetFresh(ctx, ref)
	want("b's GetFresh", got, err, "v2")

	put(a, "v3")
	b.Forget(ref)
	got, err = b.Get(ctx, ref)
	want("b after Forget", got, err, "v3")

	put(a, "v4")
	advance(time.Minute)
	got, err = b.Get(ctx, ref)
	want("b after TTL", got, err, "v4")
}

// BenchmarkVaultGet compares Get on the embedded vault with Get through a
// vault.Cache in front of it (see vaulttest.BenchmarkGet for the metrics).
func BenchmarkVaultGet(b *testing.B) {
	db, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		b.Fatal(err)
	}
	v, err := db.Vault(b.Context(), key)
	if err != nil {
		b.Fatal(err)
	}
	vaulttest.BenchmarkGet(b, v)
}
