// Package vaulttest is the conformance suite every vault.Vault passes, and
// the shared benchmark of a Vault against a vault.Cache in front of it.
// Backends call Run from their own tests.
package vaulttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/supabridge/supabridge/shared/vault"
)

// Run checks that v behaves as the vault.Vault contract says. Every ref it
// uses lives in an environment of its own, so v may hold other data and Run
// may run against one v more than once.
func Run(t *testing.T, v vault.Vault) {
	t.Helper()
	rv := &recorder{v: v}
	env := "vaulttest-" + randomHex(6)
	tests := []struct {
		name string
		fn   func(*testing.T, vault.Vault, string)
	}{
		{"PutGet", testPutGet},
		{"Replace", testReplace},
		{"Delete", testDelete},
		{"Missing", testMissing},
		{"Isolation", testIsolation},
		{"Sizes", testSizes},
		{"Binary", testBinary},
		{"Copies", testCopies},
		{"InvalidRefs", testInvalidRefs},
		{"InvalidValues", testInvalidValues},
		{"CanceledContext", testCanceledContext},
		{"LongestName", testLongestName},
		{"Concurrent", testConcurrent},
		{"ConcurrentCreate", testConcurrentCreate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, rv, env+"-"+strings.ToLower(tt.name)) })
	}
	t.Run("NoValueInErrors", func(t *testing.T) { rv.check(t) })
}

func testPutGet(t *testing.T, v vault.Vault, env string) {
	ctx := context.Background()
	ref := vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "acct-1"}
	value := randomValue(64)
	mustPut(t, v, ref, value)
	wantValue(t, v, ref, value)
	wantValue(t, v, ref, value) // a second read sees the same
	if err := v.Delete(ctx, ref); err != nil {
		t.Fatalf("Delete: %v", err)
	}
}

func testReplace(t *testing.T, v vault.Vault, env string) {
	ref := vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "acct-1"}
	var last []byte
	for i := range 4 {
		last = randomValue(32 + i*100)
		mustPut(t, v, ref, last)
		wantValue(t, v, ref, last)
	}
	// Replacing with the same bytes is a valid write too.
	mustPut(t, v, ref, last)
	wantValue(t, v, ref, last)
}

func testDelete(t *testing.T, v vault.Vault, env string) {
	ctx := context.Background()
	ref := vault.Ref{Environment: env, Kind: vault.KindWebhook, ID: "wh-1"}
	mustPut(t, v, ref, randomValue(40))
	for i := range 2 { // deleting twice: the second finds nothing and succeeds
		if err := v.Delete(ctx, ref); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
		wantNotFound(t, v, ref)
	}
	// A deleted ref can be written again.
	value := randomValue(40)
	mustPut(t, v, ref, value)
	wantValue(t, v, ref, value)
}

func testMissing(t *testing.T, v vault.Vault, env string) {
	ctx := context.Background()
	for _, ref := range []vault.Ref{
		{Environment: env, Kind: vault.KindAccount, ID: "never-written"},
		{Environment: env, Kind: vault.KindProject, ID: "never/written"},
	} {
		wantNotFound(t, v, ref)
		if err := v.Delete(ctx, ref); err != nil {
			t.Errorf("Delete(%v) of a missing ref: %v", ref, err)
		}
	}
}

func testIsolation(t *testing.T, v vault.Vault, env string) {
	ctx := context.Background()
	// Refs that differ in one part only, including ones whose names share
	// a prefix.
	refs := []vault.Ref{
		{Environment: env, Kind: vault.KindAccount, ID: "a"},
		{Environment: env + "x", Kind: vault.KindAccount, ID: "a"},
		{Environment: env, Kind: vault.KindWebhook, ID: "a"},
		{Environment: env, Kind: vault.KindAccount, ID: "b"},
		{Environment: env, Kind: vault.KindAccount, ID: "a/b"},
		{Environment: env, Kind: vault.KindAccount, ID: "a.b"},
		{Environment: env, Kind: vault.KindProject, ID: "a/c"},
		{Environment: env, Kind: vault.KindProject, ID: "A"},
	}
	values := make([][]byte, len(refs))
	for i, ref := range refs {
		values[i] = randomValue(48)
		mustPut(t, v, ref, values[i])
	}
	for i, ref := range refs {
		wantValue(t, v, ref, values[i])
	}
	// Deleting one leaves the others.
	if err := v.Delete(ctx, refs[0]); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, v, refs[0])
	for i, ref := range refs[1:] {
		wantValue(t, v, ref, values[i+1])
	}
	for _, ref := range refs[1:] {
		if err := v.Delete(ctx, ref); err != nil {
			t.Fatalf("Delete(%v): %v", ref, err)
		}
	}
}

func testSizes(t *testing.T, v vault.Vault, env string) {
	ref := vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "sized"}
	for _, n := range []int{1, 2, 1000, 4096, vault.MaxValueSize - 1, vault.MaxValueSize} {
		for _, value := range [][]byte{randomValue(n), randomBinary(n)} {
			mustPut(t, v, ref, value)
			wantValue(t, v, ref, value)
		}
	}
	// Smaller again after the largest: nothing of the old value remains.
	value := randomValue(3)
	mustPut(t, v, ref, value)
	wantValue(t, v, ref, value)
}

func testBinary(t *testing.T, v vault.Vault, env string) {
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	tests := []struct {
		name  string
		value []byte
	}{
		{"every byte", every},
		{"NUL only", []byte{0}},
		{"invalid UTF-8", []byte{0xff, 0xfe, 0xc3, 0x28, 'a'}},
		{"JSON specials", []byte("\x00\x01\x1f\"\\</script>&\u2028\u2029 é 🔑")},
		{"JSON text", []byte(`{"access_token":"sbp_x","refresh_token":"r"}`)},
		{"base64 lookalike", []byte("YWJj")},
		{"whitespace", []byte(" \t\r\n ")},
	}
	for i, tt := range tests {
		ref := vault.Ref{Environment: env, Kind: vault.KindAccount, ID: fmt.Sprintf("bin-%d", i)}
		mustPut(t, v, ref, tt.value)
		got, err := v.Get(context.Background(), ref)
		if err != nil {
			t.Fatalf("%s: Get: %v", tt.name, err)
		}
		if !bytes.Equal(got, tt.value) {
			t.Errorf("%s: Get returned %d bytes %x, want %d bytes %x", tt.name, len(got), got, len(tt.value), tt.value)
		}
	}
}

func testCopies(t *testing.T, v vault.Vault, env string) {
	ref := vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "copies"}
	value := randomValue(32)
	want := bytes.Clone(value)
	mustPut(t, v, ref, value)
	value[0] ^= 0xff // the caller reuses its buffer after Put
	wantValue(t, v, ref, want)

	got, err := v.Get(context.Background(), ref)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	got[0] ^= 0xff // the caller modifies what Get returned
	wantValue(t, v, ref, want)
}

func testInvalidRefs(t *testing.T, v vault.Vault, env string) {
	ctx := context.Background()
	long := strings.Repeat("x", 101)
	tests := []struct {
		name string
		ref  vault.Ref
	}{
		{"zero", vault.Ref{}},
		{"no environment", vault.Ref{Kind: vault.KindAccount, ID: "a"}},
		{"no kind", vault.Ref{Environment: env, ID: "a"}},
		{"no id", vault.Ref{Environment: env, Kind: vault.KindAccount}},
		{"slash in environment", vault.Ref{Environment: env + "/x", Kind: vault.KindAccount, ID: "a"}},
		{"slash in kind", vault.Ref{Environment: env, Kind: "account/x", ID: "a"}},
		{"two slashes in id", vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "a/b/c"}},
		{"empty id segment", vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "a//b"}},
		{"leading slash", vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "/a"}},
		{"trailing slash", vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "a/"}},
		{"space", vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "a b"}},
		{"wildcard", vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "*"}},
		{"percent", vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "a%2Fb"}},
		{"non-ASCII", vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "é"}},
		{"NUL", vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "a\x00"}},
		{"part too long", vault.Ref{Environment: env, Kind: vault.KindAccount, ID: long}},
		{"name too long", vault.Ref{Environment: env, Kind: strings.Repeat("k", 100), ID: strings.Repeat("i", 100)}},
	}
	for _, tt := range tests {
		value := randomValue(16)
		if err := v.Put(ctx, tt.ref, value); !errors.Is(err, vault.ErrInvalidRef) {
			t.Errorf("%s: Put = %v, want ErrInvalidRef", tt.name, err)
		}
		if _, err := v.Get(ctx, tt.ref); !errors.Is(err, vault.ErrInvalidRef) {
			t.Errorf("%s: Get = %v, want ErrInvalidRef", tt.name, err)
		}
		if err := v.Delete(ctx, tt.ref); !errors.Is(err, vault.ErrInvalidRef) {
			t.Errorf("%s: Delete = %v, want ErrInvalidRef", tt.name, err)
		}
	}
}

func testInvalidValues(t *testing.T, v vault.Vault, env string) {
	ctx := context.Background()
	ref := vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "kept"}
	kept := randomValue(20)
	mustPut(t, v, ref, kept)
	for _, value := range [][]byte{nil, {}, randomValue(vault.MaxValueSize + 1), randomValue(2 * vault.MaxValueSize)} {
		if err := v.Put(ctx, ref, value); !errors.Is(err, vault.ErrInvalidValue) {
			t.Errorf("Put of %d bytes = %v, want ErrInvalidValue", len(value), err)
		}
		wantValue(t, v, ref, kept) // a rejected Put changes nothing
	}
	missing := vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "never-stored"}
	if err := v.Put(ctx, missing, randomValue(vault.MaxValueSize+1)); !errors.Is(err, vault.ErrInvalidValue) {
		t.Errorf("Put of an oversized value to a new ref = %v, want ErrInvalidValue", err)
	}
	wantNotFound(t, v, missing)
}

// testCanceledContext allows a backend to finish or to fail on a done
// context; either way what it returns must be coherent.
func testCanceledContext(t *testing.T, v vault.Vault, env string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ref := vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "canceled"}
	value := randomValue(24)
	// A Put that fails may still have landed; a Get that succeeds must
	// return what was written.
	_ = v.Put(ctx, ref, value)
	if got, err := v.Get(ctx, ref); err == nil && !bytes.Equal(got, value) {
		t.Errorf("Get on a done context returned %d bytes that were never written", len(got))
	}
	// The ref is usable afterwards.
	fresh := randomValue(24)
	mustPut(t, v, ref, fresh)
	wantValue(t, v, ref, fresh)
}

func testConcurrent(t *testing.T, v vault.Vault, env string) {
	ctx := context.Background()
	ref := vault.Ref{Environment: env, Kind: vault.KindAccount, ID: "contended"}
	const writers, writes = 6, 5
	initial := randomValue(100)
	mustPut(t, v, ref, initial)

	// Every value that may legitimately be read.
	written := map[string]bool{string(initial): true}
	values := make([][][]byte, writers)
	for w := range values {
		for range writes {
			val := randomValue(100)
			values[w] = append(values[w], val)
			written[string(val)] = true
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, writers*writes*3)
	for w := range writers {
		wg.Go(func() {
			for _, val := range values[w] {
				if err := v.Put(ctx, ref, val); err != nil {
					errs <- fmt.Errorf("Put: %w", err)
				}
			}
		})
		wg.Go(func() {
			for range writes * 2 {
				got, err := v.Get(ctx, ref)
				switch {
				case err != nil:
					errs <- fmt.Errorf("Get: %w", err)
				case !written[string(got)]:
					errs <- fmt.Errorf("Get returned %d bytes that no Put wrote", len(got))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Settled: every read agrees, on a value some writer's last Put wrote
	// (each writer's values go in order, so only a last one can win).
	first, err := v.Get(ctx, ref)
	if err != nil {
		t.Fatalf("Get after the writers: %v", err)
	}
	lastOfSome := false
	for w := range values {
		lastOfSome = lastOfSome || bytes.Equal(first, values[w][writes-1])
	}
	if !lastOfSome {
		t.Errorf("settled value (%d bytes) is no writer's last write", len(first))
	}
	for range 3 {
		wantValue(t, v, ref, first)
	}
}

func testLongestName(t *testing.T, v vault.Vault, env string) {
	kind := "k"
	idLen := vault.MaxNameLength - len(env) - len(kind) - 2
	id := strings.Repeat("i", idLen/2) + "/" + strings.Repeat("j", idLen-idLen/2-1)
	ref := vault.Ref{Environment: env, Kind: kind, ID: id}
	if len(ref.Name()) != vault.MaxNameLength {
		t.Fatalf("test ref name has %d characters, want %d", len(ref.Name()), vault.MaxNameLength)
	}
	value := randomValue(30)
	mustPut(t, v, ref, value)
	wantValue(t, v, ref, value)
	if err := v.Delete(context.Background(), ref); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, v, ref)
}

// testConcurrentCreate races writers on a ref that does not exist yet, the
// case where a backend's create-or-replace has to resolve a conflict.
func testConcurrentCreate(t *testing.T, v vault.Vault, env string) {
	const writers = 8
	for round := range 3 {
		ref := vault.Ref{Environment: env, Kind: vault.KindAccount, ID: fmt.Sprintf("new-%d", round)}
		values := make([][]byte, writers)
		written := map[string]bool{}
		for i := range values {
			values[i] = randomValue(50)
			written[string(values[i])] = true
		}
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Go(func() { errs[i] = v.Put(context.Background(), ref, values[i]) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: Put #%d: %v", round, i, err)
			}
		}
		got, err := v.Get(context.Background(), ref)
		if err != nil {
			t.Fatalf("round %d: Get: %v", round, err)
		}
		if !written[string(got)] {
			t.Errorf("round %d: Get returned %d bytes that no Put wrote", round, len(got))
		}
		wantValue(t, v, ref, got)
	}
}

func mustPut(t *testing.T, v vault.Vault, ref vault.Ref, value []byte) {
	t.Helper()
	if err := v.Put(context.Background(), ref, value); err != nil {
		t.Fatalf("Put(%v, %d bytes): %v", ref, len(value), err)
	}
}

func wantValue(t *testing.T, v vault.Vault, ref vault.Ref, want []byte) {
	t.Helper()
	got, err := v.Get(context.Background(), ref)
	if err != nil {
		t.Fatalf("Get(%v): %v", ref, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%v) = %d bytes, want the %d bytes last written", ref, len(got), len(want))
	}
}

func wantNotFound(t *testing.T, v vault.Vault, ref vault.Ref) {
	t.Helper()
	got, err := v.Get(context.Background(), ref)
	if !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Get(%v) = %d bytes, %v; want ErrNotFound", ref, len(got), err)
	}
	if got != nil {
		t.Errorf("Get(%v) returned %d bytes with ErrNotFound", ref, len(got))
	}
}

// recorder passes calls through to a Vault, remembering every value it was
// given and every error it returned, so that Run can check at the end that
// no error text ever carried a value.
type recorder struct {
	v vault.Vault

	mu     sync.Mutex
	values [][]byte
	errs   []error
}

func (r *recorder) Put(ctx context.Context, ref vault.Ref, value []byte) error {
	r.mu.Lock()
	r.values = append(r.values, bytes.Clone(value))
	r.mu.Unlock()
	return r.note(r.v.Put(ctx, ref, value))
}

func (r *recorder) Get(ctx context.Context, ref vault.Ref) ([]byte, error) {
	b, err := r.v.Get(ctx, ref)
	return b, r.note(err)
}

func (r *recorder) Delete(ctx context.Context, ref vault.Ref) error {
	return r.note(r.v.Delete(ctx, ref))
}

func (r *recorder) note(err error) error {
	if err != nil {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
	}
	return err
}

func (r *recorder) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) == 0 {
		t.Fatal("no errors were recorded; the suite's invalid-input cases should have produced some")
	}
	for _, err := range r.errs {
		msg := fmt.Sprintf("%v %+v %#v", err, err, err)
		for _, value := range r.values {
			if leak := leaked(msg, value); leak != "" {
				t.Errorf("error %q contains a stored value (%s)", truncate(msg, 200), leak)
			}
		}
	}
}

// leaked reports how msg shows value, if it does: raw, or the start of it
// raw, in base64, or in hex. Short values are too likely to occur by
// chance to check.
func leaked(msg string, value []byte) string {
	if len(value) < 12 {
		return ""
	}
	head := value[:min(len(value), 24)]
	switch {
	case strings.Contains(msg, string(head)):
		return "raw"
	case strings.Contains(msg, base64.StdEncoding.EncodeToString(head)[:16]):
		return "base64"
	case strings.Contains(msg, base64.RawURLEncoding.EncodeToString(head)[:16]):
		return "base64url"
	case strings.Contains(strings.ToLower(msg), hex.EncodeToString(head[:8])):
		return "hex"
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// randomValue returns n random bytes of text, like an encoded credential.
func randomValue(n int) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := randomBinary(n)
	for i := range b {
		b[i] = alphabet[b[i]%64]
	}
	return b
}

// randomBinary returns n random bytes.
func randomBinary(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
