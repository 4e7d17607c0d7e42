package vault_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/supabridge/supabridge/shared/vault"
)

func TestRefValidate(t *testing.T) {
	tests := []struct {
		ref  vault.Ref
		want bool
	}{
		{vault.Ref{Environment: "production", Kind: vault.KindAccount, ID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}, true},
		{vault.Ref{Environment: "local", Kind: vault.KindProject, ID: "acct/abcdefghijklmnopqrst"}, true},
		{vault.Ref{Environment: "a/b", Kind: "c", ID: "d"}, false},
		{vault.Ref{Environment: "a", Kind: "b/c", ID: "d"}, false},
		{vault.Ref{Environment: "a", Kind: "b", ID: "c/d/e"}, false},
		{vault.Ref{Environment: "a", Kind: strings.Repeat("k", 100), ID: strings.Repeat("i", 100)}, false},
		{vault.Ref{Environment: "a", Kind: "b", ID: strings.Repeat("i", 100) + "/" + strings.Repeat("j", 95)}, true},
		{vault.Ref{Environment: "a", Kind: "b", ID: strings.Repeat("i", 100) + "/" + strings.Repeat("j", 96)}, false},
	}
	for _, tt := range tests {
		err := tt.ref.Validate()
		if (err == nil) != tt.want {
			t.Errorf("%q.Validate() = %v, want valid=%v", tt.ref.Name(), err, tt.want)
		}
		if err != nil && !errors.Is(err, vault.ErrInvalidRef) {
			t.Errorf("%q.Validate() = %v, want it to wrap ErrInvalidRef", tt.ref.Name(), err)
		}
	}
}

func TestCheckValue(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want bool
	}{{0, false}, {1, true}, {vault.MaxValueSize, true}, {vault.MaxValueSize + 1, false}} {
		err := vault.CheckValue(make([]byte, tt.n))
		if (err == nil) != tt.want || (err != nil && !errors.Is(err, vault.ErrInvalidValue)) {
			t.Errorf("CheckValue(%d bytes) = %v, want valid=%v", tt.n, err, tt.want)
		}
	}
}

// FuzzRefName checks that Name is injective on valid refs: two different
// valid refs never name the same secret.
func FuzzRefName(f *testing.F) {
	f.Add("a/b", "c", "d", "a", "b/c", "d")
	f.Add("a", "b", "c/d", "a", "b/c", "d")
	f.Add("env", "account", "x", "env", "account", "x")
	f.Fuzz(func(t *testing.T, e1, k1, i1, e2, k2, i2 string) {
		r1 := vault.Ref{Environment: e1, Kind: k1, ID: i1}
		r2 := vault.Ref{Environment: e2, Kind: k2, ID: i2}
		if r1.Validate() != nil || r2.Validate() != nil {
			return
		}
		if len(r1.Name()) > vault.MaxNameLength {
			t.Fatalf("valid ref %q is longer than MaxNameLength", r1.Name())
		}
		if r1.Name() == r2.Name() && r1 != r2 {
			t.Fatalf("%#v and %#v both name %q", r1, r2, r1.Name())
		}
	})
}
