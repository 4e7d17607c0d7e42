// Package vault defines where credentials live: a Vault holds one secret
// value per Ref (an integrated account's credential, a webhook's signing
// secret), encrypted at rest by its backend: AWS Secrets Manager (package
// awssecrets) or the embedded SQLite file (package sqlite).
//
// Values are opaque bytes; callers encode them (bridge.Credential has
// MarshalBinary). No Vault method ever puts a value in an error.
package vault

import (
	"context"
	"errors"
	"fmt"
	"regexp"
)

// Kinds of secret.
const (
	KindAccount = "account" // an integrated account's bridge.Credential
	KindWebhook = "webhook" // a webhook's signing secret
	KindProject = "project" // an organization account's project keys
)

// Ref names one secret.
type Ref struct {
	Environment string
	Kind        string
	// ID is the owning object's ID (an account or webhook ID, or an
	// account ID and project ref joined by '/').
	ID string
}

// MaxNameLength bounds Ref.Name. Secrets Manager names are at most 256
// characters; this leaves room for a backend's prefix.
const MaxNameLength = 200

// MaxValueSize is the largest value a Vault stores: Secrets Manager's limit
// for one secret value. Every backend enforces it, so a value that works on
// one machine also works on AWS.
const MaxValueSize = 64 << 10

var (
	// Environment and kind never contain '/': only then does Name stay
	// injective ("a/b"+"c" and "a"+"b/c" would otherwise name one secret).
	refSegment = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)
	refID      = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}(/[A-Za-z0-9_.-]{1,100})?$`)
)

// Validate reports whether r can name a secret in every backend. The error
// wraps ErrInvalidRef.
func (r Ref) Validate() error {
	if !refSegment.MatchString(r.Environment) || !refSegment.MatchString(r.Kind) ||
		!refID.MatchString(r.ID) || len(r.Name()) > MaxNameLength {
		return fmt.Errorf("%w %q/%q/%q", ErrInvalidRef, r.Environment, r.Kind, r.ID)
	}
	return nil
}

// CheckValue reports whether a Vault can store value: 1 to MaxValueSize
// bytes. The error wraps ErrInvalidValue and never shows the value.
func CheckValue(value []byte) error {
	if len(value) == 0 || len(value) > MaxValueSize {
		return fmt.Errorf("%w: %d bytes, want 1 to %d", ErrInvalidValue, len(value), MaxValueSize)
	}
	return nil
}

// Name is the ref's path below a backend's prefix: env/kind/id.
func (r Ref) Name() string { return r.Environment + "/" + r.Kind + "/" + r.ID }

// Vault stores secrets. Implementations are safe for concurrent use.
//
// Get returns an error wrapping ErrNotFound for a missing ref. Put creates
// or replaces the value. Delete removes it and succeeds if it was missing.
// Every method rejects a ref that fails Validate with an error wrapping
// ErrInvalidRef; Put rejects a value that fails CheckValue with one wrapping
// ErrInvalidValue. Put does not keep value and Get's result is the caller's
// to modify.
type Vault interface {
	Put(ctx context.Context, ref Ref, value []byte) error
	Get(ctx context.Context, ref Ref) ([]byte, error)
	Delete(ctx context.Context, ref Ref) error
}

// ErrNotFound reports a missing secret.
var ErrNotFound = errNotFound{}

type errNotFound struct{}

func (errNotFound) Error() string { return "vault: secret not found" }

// Sentinels for what a caller sent.
var (
	// ErrInvalidRef reports a ref that fails Validate.
	ErrInvalidRef = errors.New("vault: invalid ref")
	// ErrInvalidValue reports a value that fails CheckValue.
	ErrInvalidValue = errors.New("vault: invalid value")
)
