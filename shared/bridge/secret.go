package bridge

import (
	"fmt"
	"log/slog"
)

// Secret is a credential value: a token, a key, a refresh token or a signing
// secret. Every way Go has of printing or encoding it (fmt verbs, JSON, slog)
// yields a redaction marker; only Reveal returns the value. The zero value is
// the empty secret.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the secret value. Call it only where the value leaves for
// its one legitimate destination (an Authorization header, the vault).
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s == "" }

// String implements fmt.Stringer with a redaction marker.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer with a redaction marker.
func (s Secret) GoString() string { return `bridge.Secret("` + s.String() + `")` }

// Format makes every fmt verb print the redaction marker.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue implements slog.LogValuer with a redaction marker.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON encodes the redaction marker, never the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText encodes the redaction marker, never the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
