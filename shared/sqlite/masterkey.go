package sqlite

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MasterKeyEnv names the environment variable that may carry the master
// key, as 64 hex digits or base64 (standard or URL alphabet, padded or not).
const MasterKeyEnv = "SUPABRIDGE_MASTER_KEY"

// ParseMasterKey decodes a 32-byte master key written as 64 hex digits or
// as base64. Its errors describe the input's shape, never its content.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("the master key is empty")
	}
	if len(s) == 64 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) == 32 {
				return b, nil
			}
			return nil, fmt.Errorf("the master key decodes to %d bytes; it must be 32 (64 hex digits or 44 base64 characters)", len(b))
		}
	}
	return nil, fmt.Errorf("the master key (%d characters) is neither 64 hex digits nor base64 of 32 bytes", len(s))
}

// MasterKey returns the 32-byte key that seals the embedded vault. When
// envValue (the value of MasterKeyEnv) is set, it is the key. Otherwise the
// key is read from keyFile, which is created (mode 0600, directory 0700)
// with a random key on first use; created reports that. A key file that
// group or others may read or write is refused. Errors never contain key
// material.
func MasterKey(envValue, keyFile string) (key []byte, created bool, err error) {
	if strings.TrimSpace(envValue) != "" {
		key, err := ParseMasterKey(envValue)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", MasterKeyEnv, err)
		}
		return key, false, nil
	}
	key, err = readKeyFile(keyFile)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if err := createKeyFile(keyFile); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, false, err
	} else if err == nil {
		created = true
	}
	// Read back even when this call created it: another process may have
	// won the race to create it, and its key is the one to use.
	key, err = readKeyFile(keyFile)
	return key, created && err == nil, err
}

func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("master key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("master key file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("master key file %s has mode %04o, open to group or others; run: chmod 600 %s",
			path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	key, err := ParseMasterKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return key, nil
}

// createKeyFile writes a new random key to a private temporary file and
// links it into place, so that no reader ever sees a partial key file and
// of two processes starting together exactly one key wins (the other gets
// fs.ErrExist).
func createKeyFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("master key file: %w", err)
	}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return fmt.Errorf("master key file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".master-key-*")
	if err != nil {
		return fmt.Errorf("master key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("master key file: %w", err)
	}
	if _, err := tmp.WriteString(hex.EncodeToString(key[:]) + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("master key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("master key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("master key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fs.ErrExist
		}
		return fmt.Errorf("master key file: %w", err)
	}
	return nil
}
