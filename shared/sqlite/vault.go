package sqlite

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"

	"github.com/supabridge/supabridge/shared/vault"
)

// ErrWrongMasterKey reports a master key other than the one the file's
// vault was first opened with.
var ErrWrongMasterKey = errors.New("sqlite: the master key does not match the one this file's vault was created with")

// sealFormat starts every sealed value, so that the format can change.
const sealFormat byte = 1

// keyCheck is sealed once per file, under additional data no ref can have
// (ref names contain '/'), so that a wrong key fails at start-up instead of
// at the first read.
const (
	keyCheckName  = "vault_key_check"
	keyCheckAD    = "key-check"
	keyCheckPlain = "supabridge vault key check"
)

// Vault is the embedded credential vault: each value is sealed with
// AES-256-GCM under the master key, with a random nonce and the ref's name
// as additional data (a sealed value copied to another ref does not open),
// and stored in the DB's file. It is safe for concurrent use, and for use by
// several processes sharing the file. Errors never contain values. It keeps
// no cache: every Get reads the file, so it never returns a value older than
// any process's last write.
type Vault struct {
	db   *DB
	aead cipher.AEAD
}

var _ vault.Vault = (*Vault)(nil)

// Vault returns the file's vault sealed under key, which must be 32 bytes
// (see MasterKey). The first call on a file records a check value; later
// calls with another key return ErrWrongMasterKey.
func (db *DB) Vault(ctx context.Context, key []byte) (*Vault, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("sqlite: vault: the master key must be 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key) // copies the key
	if err != nil {
		return nil, fmt.Errorf("sqlite: vault: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sqlite: vault: %w", err)
	}
	v := &Vault{db: db, aead: aead}
	if err := v.checkKey(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *Vault) checkKey(ctx context.Context) error {
	tx, err := v.db.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: create-or-read is one step
	if err != nil {
		return fmt.Errorf("sqlite: vault: %w", err)
	}
	defer tx.Rollback()
	var sealed []byte
	err = tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, keyCheckName).Scan(&sealed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		sealed, err = v.seal([]byte(keyCheckPlain), keyCheckAD)
		if err != nil {
			return fmt.Errorf("sqlite: vault: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, keyCheckName, sealed); err != nil {
			return fmt.Errorf("sqlite: vault: %w", err)
		}
	case err != nil:
		return fmt.Errorf("sqlite: vault: %w", err)
	}
	if _, err := v.open(sealed, keyCheckAD); err != nil {
		return ErrWrongMasterKey
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: vault: %w", err)
	}
	return nil
}

func (v *Vault) seal(plain []byte, ad string) ([]byte, error) {
	ns := v.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+v.aead.Overhead())
	out[0] = sealFormat
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return v.aead.Seal(out, out[1:], plain, []byte(ad)), nil
}

// errUnsealable never carries the cause: nothing about the value leaks.
var errUnsealable = errors.New("cannot decrypt (wrong master key, damaged value, or a value moved from another ref)")

func (v *Vault) open(sealed []byte, ad string) ([]byte, error) {
	ns := v.aead.NonceSize()
	if len(sealed) < 1+ns+v.aead.Overhead() || sealed[0] != sealFormat {
		return nil, errUnsealable
	}
	plain, err := v.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(ad))
	if err != nil {
		return nil, errUnsealable
	}
	return plain, nil
}

// Put implements vault.Vault: it creates or replaces the value at ref. It
// returns errors wrapping vault.ErrInvalidRef and vault.ErrInvalidValue for
// what vault.Ref.Validate and vault.CheckValue refuse.
func (v *Vault) Put(ctx context.Context, ref vault.Ref, value []byte) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	if err := vault.CheckValue(value); err != nil {
		return err
	}
	name := ref.Name()
	sealed, err := v.seal(value, name)
	if err != nil {
		return fmt.Errorf("sqlite: vault: put %s: %w", name, err)
	}
	_, err = v.db.w.ExecContext(ctx, `INSERT INTO secrets (name, sealed) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed`, name, sealed)
	if err != nil {
		return fmt.Errorf("sqlite: vault: put %s: %w", name, err)
	}
	return nil
}

// Get implements vault.Vault. A missing ref returns an error wrapping
// vault.ErrNotFound.
func (v *Vault) Get(ctx context.Context, ref vault.Ref) ([]byte, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	name := ref.Name()
	var sealed []byte
	err := v.db.r.QueryRowContext(ctx, `SELECT sealed FROM secrets WHERE name = ?`, name).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: vault: get %s: %w", name, vault.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: vault: get %s: %w", name, err)
	}
	plain, err := v.open(sealed, name)
	if err != nil {
		return nil, fmt.Errorf("sqlite: vault: get %s: %w", name, err)
	}
	return plain, nil
}

// Delete implements vault.Vault; deleting a missing ref succeeds.
func (v *Vault) Delete(ctx context.Context, ref vault.Ref) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	if _, err := v.db.w.ExecContext(ctx, `DELETE FROM secrets WHERE name = ?`, ref.Name()); err != nil {
		return fmt.Errorf("sqlite: vault: delete %s: %w", ref.Name(), err)
	}
	return nil
}
