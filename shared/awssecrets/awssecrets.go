// Package awssecrets is the credential vault on AWS Secrets Manager: one
// secret per vault.Ref, named <prefix><environment>/<kind>/<id> (prefix
// "supabridge/" by default, so that IAM can grant exactly
// secret:supabridge/*), tagged with the ref's parts and encrypted with a
// chosen KMS key.
//
// The IAM actions it needs on arn:<partition>:secretsmanager:<region>:
// <account>:secret:<prefix>* are secretsmanager:GetSecretValue,
// PutSecretValue, CreateSecret, TagResource (CreateSecret with tags),
// DeleteSecret, DescribeSecret and RestoreSecret; with a customer-managed
// KMS key, also kms:GenerateDataKey and kms:Decrypt on that key.
//
// Secrets Manager suits values that change rarely: every Put creates a
// version, writes share a 50 per second per-Region quota, and AWS asks for
// no more than one update per secret every 10 minutes sustained. Put a
// vault.Cache in front for reads.
package awssecrets

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/supabridge/supabridge/shared/vault"
)

// DefaultPrefix is the secret name prefix when Options.Prefix is empty.
const DefaultPrefix = "supabridge/"

// Tag keys on every secret the vault creates.
const (
	TagEnvironment = "supabridge:environment"
	TagKind        = "supabridge:kind"
	TagID          = "supabridge:id"
)

// maxNameLength is Secrets Manager's limit on a secret name.
const maxNameLength = 256

// Options configures New. The zero value is usable.
type Options struct {
	// Prefix starts every secret name; empty means DefaultPrefix. It must
	// end in '/' and, with the longest ref name (vault.MaxNameLength),
	// stay within Secrets Manager's 256-character names.
	Prefix string
	// KMSKeyID (key ID, key ARN, alias name or alias ARN) encrypts the
	// secrets the vault creates; empty means the account's
	// aws/secretsmanager key. It applies at creation only.
	KMSKeyID string
	// RecoveryWindowDays is how Delete deletes. Zero, the default, deletes
	// at once without recovery (ForceDeleteWithoutRecovery): Delete is how
	// an operator revokes an integrated account's credential, so it must
	// stop being readable now, not stay recoverable (and billed) for weeks,
	// and the same ref can be written again as soon as the asynchronous
	// deletion finishes. 7 to 30 schedules deletion instead, for operators
	// who want to be able to undo with RestoreSecret; a later Put to the
	// ref then restores the secret and writes over it.
	RecoveryWindowDays int
}

// Vault is a vault.Vault on Secrets Manager. It is safe for concurrent use;
// create it with New. Errors name the secret but never contain its value,
// and wrap the SDK's typed errors (errors.As with the types package).
type Vault struct {
	client   *secretsmanager.Client
	prefix   string
	kmsKeyID string
	recovery int

	// Retries while a name is held by a secret whose deletion has not
	// finished: attempts and the first wait (doubling, at most 1s).
	attempts int
	backoff  time.Duration
}

var _ vault.Vault = (*Vault)(nil)

var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]*/$`)

// New returns a Vault that calls Secrets Manager through client.
func New(client *secretsmanager.Client, opts Options) (*Vault, error) {
	if client == nil {
		return nil, errors.New("awssecrets: nil client")
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !prefixPattern.MatchString(prefix) || len(prefix)+vault.MaxNameLength > maxNameLength {
		return nil, fmt.Errorf("awssecrets: prefix %q must end in '/', use only A-Z a-z 0-9 /_+=.@- and be at most %d characters",
			prefix, maxNameLength-vault.MaxNameLength)
	}
	if r := opts.RecoveryWindowDays; r != 0 && (r < 7 || r > 30) {
		return nil, fmt.Errorf("awssecrets: recovery window of %d days: want 0 (none) or 7 to 30", r)
	}
	return &Vault{
		client:   client,
		prefix:   prefix,
		kmsKeyID: opts.KMSKeyID,
		recovery: opts.RecoveryWindowDays,
		attempts: 8,
		backoff:  50 * time.Millisecond,
	}, nil
}

// SecretName returns the name of ref's secret.
func (v *Vault) SecretName(ref vault.Ref) string { return v.prefix + ref.Name() }

// Get implements vault.Vault. A ref whose secret is missing or scheduled
// for deletion returns an error wrapping vault.ErrNotFound.
func (v *Vault) Get(ctx context.Context, ref vault.Ref) ([]byte, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	name := v.SecretName(ref)
	out, err := v.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("awssecrets: get %s: %w: %w", name, vault.ErrNotFound, err)
		}
		if isInvalidRequest(err) {
			// The usual cause: the secret is scheduled for deletion,
			// which for a reader means it is gone.
			deleting, derr := v.deletionPending(ctx, name)
			if derr == nil && deleting {
				return nil, fmt.Errorf("awssecrets: get %s: scheduled for deletion: %w: %w", name, vault.ErrNotFound, err)
			}
		}
		return nil, fmt.Errorf("awssecrets: get %s: %w", name, err)
	}
	switch {
	case out.SecretBinary != nil:
		return out.SecretBinary, nil
	case out.SecretString != nil:
		return []byte(*out.SecretString), nil
	}
	return nil, fmt.Errorf("awssecrets: get %s: the current version has no value", name)
}

// Put implements vault.Vault: PutSecretValue on an existing secret, and
// CreateSecret (tagged, with the KMS key) when there is none. A concurrent
// creator winning the race makes Put write over its value; a secret
// scheduled for deletion is restored and written over; a name still held
// by a forced deletion in progress is retried with backoff.
//
// Text (valid UTF-8) is stored as SecretString, where the console and AWS
// tooling can read it, and anything else as SecretBinary; Get returns the
// same bytes either way.
func (v *Vault) Put(ctx context.Context, ref vault.Ref, value []byte) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	name := v.SecretName(ref)
	if err := vault.CheckValue(value); err != nil {
		return fmt.Errorf("awssecrets: put %s: %w", name, err)
	}
	str, bin := encode(value)
	wait := v.backoff
	var err error
	for range v.attempts {
		_, err = v.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(name), SecretString: str, SecretBinary: bin,
		})
		if err == nil {
			return nil
		}
		if isNotFound(err) {
			err = v.create(ctx, name, ref, str, bin)
			switch {
			case err == nil:
				return nil
			case isExists(err):
				continue // created meanwhile by someone else: write over it
			}
		}
		if !isInvalidRequest(err) {
			return fmt.Errorf("awssecrets: put %s: %w", name, err)
		}
		retryNow, rerr := v.revive(ctx, name)
		if rerr != nil {
			return fmt.Errorf("awssecrets: put %s: %w", name, errors.Join(err, rerr))
		}
		if retryNow {
			continue
		}
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("awssecrets: put %s: waiting for a deletion to finish: %w", name, err)
		}
		wait = min(2*wait, time.Second)
	}
	return fmt.Errorf("awssecrets: put %s: gave up after %d attempts: %w", name, v.attempts, err)
}

func (v *Vault) create(ctx context.Context, name string, ref vault.Ref, str *string, bin []byte) error {
	in := &secretsmanager.CreateSecretInput{
		Name:         aws.String(name),
		Description:  aws.String("Supabridge " + ref.Kind + " credential; written by Supabridge only."),
		SecretString: str,
		SecretBinary: bin,
		Tags: []types.Tag{
			{Key: aws.String(TagEnvironment), Value: aws.String(ref.Environment)},
			{Key: aws.String(TagKind), Value: aws.String(ref.Kind)},
			{Key: aws.String(TagID), Value: aws.String(ref.ID)},
		},
	}
	if v.kmsKeyID != "" {
		in.KmsKeyId = aws.String(v.kmsKeyID)
	}
	_, err := v.client.CreateSecret(ctx, in)
	return err
}

// revive handles an InvalidRequestException from a write. If the secret
// is scheduled for deletion it restores it (retry now); if the name is
// still held by a deletion that cannot be undone, or was just freed, it
// asks for a retry after a wait. Any other cause is returned as an error.
func (v *Vault) revive(ctx context.Context, name string) (retryNow bool, err error) {
	out, err := v.client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	switch {
	case isNotFound(err):
		return false, nil // freed since: create after a wait
	case err != nil:
		return false, err
	case out.DeletedDate == nil:
		return false, errors.New("the secret is not scheduled for deletion; the request is invalid for another reason")
	}
	_, err = v.client.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String(name)})
	switch {
	case err == nil:
		return true, nil
	case isInvalidRequest(err), isNotFound(err):
		return false, nil // a forced deletion is finishing
	}
	return false, err
}

// Delete implements vault.Vault; see Options.RecoveryWindowDays. Deleting a
// missing ref, or one already scheduled for deletion, succeeds.
func (v *Vault) Delete(ctx context.Context, ref vault.Ref) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	name := v.SecretName(ref)
	in := &secretsmanager.DeleteSecretInput{SecretId: aws.String(name)}
	if v.recovery == 0 {
		in.ForceDeleteWithoutRecovery = aws.Bool(true)
	} else {
		in.RecoveryWindowInDays = aws.Int64(int64(v.recovery))
	}
	_, err := v.client.DeleteSecret(ctx, in)
	switch {
	case err == nil, isNotFound(err):
		return nil
	case isInvalidRequest(err):
		if deleting, derr := v.deletionPending(ctx, name); derr == nil && deleting {
			return nil
		}
	}
	return fmt.Errorf("awssecrets: delete %s: %w", name, err)
}

// deletionPending reports whether name is scheduled for deletion (or
// already gone).
func (v *Vault) deletionPending(ctx context.Context, name string) (bool, error) {
	out, err := v.client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if isNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return out.DeletedDate != nil, nil
}

// encode chooses the field a value is stored in.
func encode(value []byte) (*string, []byte) {
	if utf8.Valid(value) {
		return aws.String(string(value)), nil
	}
	return nil, value
}

func isNotFound(err error) bool {
	var e *types.ResourceNotFoundException
	return errors.As(err, &e)
}

func isExists(err error) bool {
	var e *types.ResourceExistsException
	return errors.As(err, &e)
}

func isInvalidRequest(err error) bool {
	var e *types.InvalidRequestException
	return errors.As(err, &e)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
