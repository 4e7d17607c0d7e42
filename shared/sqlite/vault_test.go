package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/supabridge/supabridge/shared/vault"
	"github.com/supabridge/supabridge/shared/vault/vaulttest"
)

func testKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func openVault(t *testing.T, path string, key []byte) (*DB, *Vault) {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	v, err := db.Vault(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return db, v
}

// secretValue is distinctive so that a leak into an error is found.
const secretValue = "sbp_0123456789abcdef-very-secret-refresh-token"

func noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), secretValue) {
		t.Fatalf("an error shows the secret value: %v", err)
	}
}

func TestVaultRoundTrip(t *testing.T) {
	_, v := openVault(t, filepath.Join(t.TempDir(), "v.db"), testKey(t))
	ctx := t.Context()
	a := vault.Ref{Environment: "prod", Kind: vault.KindAccount, ID: "acc-1"}
	b := vault.Ref{Environment: "prod", Kind: vault.KindWebhook, ID: "acc-1"}
	for _, tc := range []struct {
		name  string
		ref   vault.Ref
		value []byte
	}{
		{"secret", a, []byte(secretValue)},
		{"replace", a, []byte("second")},
		{"one byte", b, []byte{7}},
		{"binary", vault.Ref{Environment: "prod", Kind: vault.KindProject, ID: "acc-1/abcdefghijklmnop"}, []byte{0, 0xff, 1}},
		{"largest", vault.Ref{Environment: "dev", Kind: "account", ID: "big"}, bytes.Repeat([]byte("x"), vault.MaxValueSize)},
	} {
		if err := v.Put(ctx, tc.ref, tc.value); err != nil {
			t.Fatalf("%s: put: %v", tc.name, err)
		}
		got, err := v.Get(ctx, tc.ref)
		if err != nil || !bytes.Equal(got, tc.value) {
			t.Fatalf("%s: get: %d bytes, %v", tc.name, len(got), err)
		}
	}
	if err := v.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(ctx, a); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("get deleted: %v, want vault.ErrNotFound", err)
	}
	if err := v.Delete(ctx, a); err != nil {
		t.Fatalf("delete a missing ref: %v", err)
	}
	if got, err := v.Get(ctx, b); err != nil || !bytes.Equal(got, []byte{7}) {
		t.Fatalf("the other kind under the same ID: %q, %v", got, err)
	}
}

// TestVaultConformance runs the suite every vault.Vault passes, through
// two handles on one file as well (two processes sharing it).
func TestVaultConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	key := testKey(t)
	_, v1 := openVault(t, path, key)
	_, v2 := openVault(t, path, key)
	t.Run("one handle", func(t *testing.T) { vaulttest.Run(t, v1) })
	t.Run("two handles", func(t *testing.T) { vaulttest.Run(t, &alternating{vs: [2]vault.Vault{v1, v2}}) })
}

// alternating spreads calls over two vaults on one file.
type alternating struct {
	vs [2]vault.Vault
	n  atomic.Uint64
}

func (a *alternating) pick() vault.Vault { return a.vs[a.n.Add(1)%2] }

func (a *alternating) Put(ctx context.Context, ref vault.Ref, value []byte) error {
	return a.pick().Put(ctx, ref, value)
}

func (a *alternating) Get(ctx context.Context, ref vault.Ref) ([]byte, error) {
	return a.pick().Get(ctx, ref)
}

func (a *alternating) Delete(ctx context.Context, ref vault.Ref) error {
	return a.pick().Delete(ctx, ref)
}

func TestVaultRejects(t *testing.T) {
	_, v := openVault(t, filepath.Join(t.TempDir(), "v.db"), testKey(t))
	ctx := t.Context()
	for _, ref := range []vault.Ref{
		{Environment: "", Kind: "account", ID: "x"},
		{Environment: "prod", Kind: "account", ID: "a/b/c"},
		{Environment: "prod", Kind: "acc ount", ID: "x"},
		{Environment: "../etc", Kind: "account", ID: "x"},
	} {
		if err := v.Put(ctx, ref, []byte(secretValue)); err == nil {
			t.Errorf("put %+v succeeded", ref)
		} else {
			noSecret(t, err)
		}
		if _, err := v.Get(ctx, ref); err == nil || errors.Is(err, vault.ErrNotFound) {
			t.Errorf("get %+v: %v, want an invalid-ref error", ref, err)
		}
		if err := v.Delete(ctx, ref); err == nil {
			t.Errorf("delete %+v succeeded", ref)
		}
	}
	err := v.Put(ctx, vault.Ref{Environment: "prod", Kind: "account", ID: "x"}, bytes.Repeat([]byte(secretValue), vault.MaxValueSize/len(secretValue)+1))
	if !errors.Is(err, vault.ErrInvalidValue) {
		t.Fatalf("put over the size limit: %v, want vault.ErrInvalidValue", err)
	}
	noSecret(t, err)
}

// TestVaultSealing looks at the file itself: values are not there in the
// clear, each sealing uses a fresh nonce, and a sealed value moved to
// another ref, or altered, does not open.
func TestVaultSealing(t *testing.T) {
	db, v := openVault(t, filepath.Join(t.TempDir(), "v.db"), testKey(t))
	ctx := t.Context()
	from := vault.Ref{Environment: "prod", Kind: "account", ID: "victim"}
	to := vault.Ref{Environment: "prod", Kind: "account", ID: "attacker"}
	sealedOf := func(ref vault.Ref) []byte {
		t.Helper()
		var b []byte
		if err := db.w.QueryRowContext(ctx, `SELECT sealed FROM secrets WHERE name = ?`, ref.Name()).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	setSealed := func(ref vault.Ref, b []byte) {
		t.Helper()
		if _, err := db.w.ExecContext(ctx, `INSERT INTO secrets (name, sealed) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed`, ref.Name(), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Put(ctx, from, []byte(secretValue)); err != nil {
		t.Fatal(err)
	}
	first := sealedOf(from)
	if bytes.Contains(first, []byte(secretValue)) {
		t.Fatal("the value is stored in the clear")
	}
	if err := v.Put(ctx, from, []byte(secretValue)); err != nil {
		t.Fatal(err)
	}
	second := sealedOf(from)
	if bytes.Equal(first[:13], second[:13]) {
		t.Fatal("two sealings of one value share a nonce")
	}

	setSealed(to, first)
	_, err := v.Get(ctx, to)
	if err == nil || errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("a value moved to another ref opened: %v", err)
	}
	noSecret(t, err)

	for i, mutate := range []func([]byte) []byte{
		func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, // tag
		func(b []byte) []byte { b[20] ^= 1; return b },       // ciphertext
		func(b []byte) []byte { b[0] = 9; return b },         // format
		func(b []byte) []byte { return b[:10] },              // truncated
		func(b []byte) []byte { return append(b, 0) },        // extended
		func(b []byte) []byte { return []byte(secretValue) }, // plaintext planted
	} {
		setSealed(from, mutate(bytes.Clone(second)))
		_, err := v.Get(ctx, from)
		if err == nil {
			t.Fatalf("tampering %d went unnoticed", i)
		}
		noSecret(t, err)
	}
}

func TestVaultWrongKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	key := testKey(t)
	db, v := openVault(t, path, key)
	ref := vault.Ref{Environment: "prod", Kind: "account", ID: "x"}
	if err := v.Put(t.Context(), ref, []byte(secretValue)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Vault(t.Context(), testKey(t)); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("another key: %v, want ErrWrongMasterKey", err)
	}
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := db.Vault(t.Context(), make([]byte, n)); err == nil {
			t.Fatalf("a %d-byte key was accepted", n)
		}
	}
	// The same key through another handle (another process) reads it.
	_, again := openVault(t, path, key)
	if got, err := again.Get(t.Context(), ref); err != nil || string(got) != secretValue {
		t.Fatalf("the same key through another handle: %v", err)
	}
}

// TestVaultFirstKeyWins: handles that open a new file's vault together with
// different keys cannot both succeed; the key check is created once.
func TestVaultFirstKeyWins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	const n = 6
	dbs := make([]*DB, n)
	for i := range dbs {
		db, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = dbs[i].Vault(t.Context(), bytes.Repeat([]byte{byte(i + 1)}, 32))
		})
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrWrongMasterKey):
			t.Fatalf("handle %d: %v", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d different keys were accepted, want exactly 1", ok)
	}
}

func TestVaultConcurrentUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	key := testKey(t)
	_, v1 := openVault(t, path, key)
	_, v2 := openVault(t, path, key)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			v := []*Vault{v1, v2}[i%2]
			ref := vault.Ref{Environment: "prod", Kind: "account", ID: "shared"}
			if err := v.Put(ctx, ref, []byte("value")); err != nil {
				errs[i] = err
				return
			}
			got, err := v.Get(ctx, ref)
			if err == nil && string(got) != "value" {
				err = errors.New("read back another value")
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
}
