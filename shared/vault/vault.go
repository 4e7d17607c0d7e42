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

var refPart = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}(/[A-Za-z0-9_.-]{1,100})?$`)

// Validate reports whether r can name a secret in every backend.
func (r Ref) Validate() error {
	if !refPart.MatchString(r.Environment) || !refPart.MatchString(r.Kind) || !refPart.MatchString(r.ID) {
		return fmt.Errorf("vault: invalid ref %q/%q/%q", r.Environment, r.Kind, r.ID)
	}
	return nil
}

// Name is the ref's path below a backend's prefix: env/kind/id.
func (r Ref) Name() string { return r.Environment + "/" + r.Kind + "/" + r.ID }

// Vault stores secrets. Implementations are safe for concurrent use.
//
// Get returns an error wrapping ErrNotFound for a missing ref. Put creates
// or replaces the value. Delete removes it and succeeds if it was missing.
type Vault interface {
	Put(ctx context.Context, ref Ref, value []byte) error
	Get(ctx context.Context, ref Ref) ([]byte, error)
	Delete(ctx context.Context, ref Ref) error
}

// ErrNotFound reports a missing secret.
var ErrNotFound = errNotFound{}

type errNotFound struct{}

func (errNotFound) Error() string { return "vault: secret not found" }
