// Package cursor makes opaque pagination cursors that callers cannot forge
// or move: each cursor is its position, encoded, plus an HMAC-SHA256 over
// the position and a scope naming what it paginates (for example the
// environment, resource and filters). A cursor presented with a different
// scope, or altered in any byte, is rejected.
package cursor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/supabridge/supabridge/shared/bridge"
)

// Signer signs and opens cursors. The zero value is not usable: use New.
// Safe for concurrent use.
type Signer struct{ key []byte }

// New returns a Signer keyed with key (at least 32 bytes).
func New(key []byte) *Signer {
	if len(key) < 32 {
		panic("cursor: key must be at least 32 bytes")
	}
	return &Signer{key: append([]byte(nil), key...)}
}

// MaxLen bounds an accepted cursor's length.
const MaxLen = 4096

// Sign returns a cursor holding position v (JSON-encodable), bound to scope.
func (s *Signer) Sign(scope string, v any) (string, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(scope, p)), nil
}

// Open verifies a cursor for scope and decodes its position into v. Any
// tampering, a foreign scope or a malformed cursor is EINVALID.
func (s *Signer) Open(scope, c string, v any) error {
	bad := bridge.Errorf(bridge.EINVALID, "The cursor is invalid for this request; start again without one.").
		WithDetails(map[string]any{"parameter": "next_cursor"})
	if len(c) > MaxLen {
		return bad
	}
	p, m, ok := strings.Cut(c, ".")
	if !ok {
		return bad
	}
	mac, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || !hmac.Equal(mac, s.mac(scope, p)) {
		return bad
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(payload, v) != nil {
		return bad
	}
	return nil
}

func (s *Signer) mac(scope, payload string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(scope))
	h.Write([]byte{0})
	h.Write([]byte(payload))
	return h.Sum(nil)
}
