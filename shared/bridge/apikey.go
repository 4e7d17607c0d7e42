package bridge

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"time"
)

// APIKeyPrefix starts every operator API key, so that secret scanners and
// humans recognise one.
const APIKeyPrefix = "sbk_"

// APIKey is an operator API key. Only its SHA-256 hash is stored; the key
// itself is shown once, when minted.
type APIKey struct {
	ID          string `json:"id"`
	Environment string `json:"environment"`
	Name        string `json:"name,omitempty"`
	Hash        string `json:"-"`
	// Hint is the key's prefix and last four characters, for listings.
	Hint      string    `json:"hint"`
	CreatedAt time.Time `json:"created_at"`
}

var envPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidEnvironment reports whether name can name an environment: lowercase
// letters, digits, '-' and '_', starting with a letter or digit, at most 63
// characters.
func ValidEnvironment(name string) bool { return envPattern.MatchString(name) }

// NewAPIKey mints a key for env. It returns the stored record and the key
// value, which must be shown to the operator once and never stored.
func NewAPIKey(env, name string, now time.Time) (*APIKey, Secret, error) {
	if !ValidEnvironment(env) {
		return nil, "", Errorf(EINVALID, "Environment names use lowercase letters, digits, '-' and '_' (at most 63 characters).")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", err
	}
	key := APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return &APIKey{
		ID:          NewID(),
		Environment: env,
		Name:        name,
		Hash:        HashAPIKey(key),
		Hint:        key[:len(APIKeyPrefix)+4] + "…" + key[len(key)-4:],
		CreatedAt:   now.UTC(),
	}, Secret(key), nil
}

// HashAPIKey returns the hex SHA-256 of key: keys are 256 random bits, so a
// fast hash is enough and lookups stay a single read.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(key)))
	return hex.EncodeToString(sum[:])
}
