package localsupabase

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// legacyKeyLifetime matches the platform's legacy anon/service_role keys,
// which expire about ten years after issue.
const legacyKeyLifetime = 10 * 365 * 24 * time.Hour

// mintJWT signs the platform's key-shaped claims with the project secret.
func mintJWT(secret []byte, ref, role string, iat time.Time, lifetime time.Duration) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss":  "supabase",
		"ref":  ref,
		"role": role,
		"iat":  iat.Unix(),
		"exp":  iat.Add(lifetime).Unix(),
	})
	s, err := tok.SignedString(secret)
	if err != nil {
		panic("localsupabase: HS256 signing cannot fail: " + err.Error())
	}
	return s
}

const lowerAlphabet = "abcdefghijklmnopqrstuvwxyz"

// randomString draws n characters of alphabet from crypto/rand.
func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("localsupabase: crypto/rand failed: " + err.Error())
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

// newRef returns a project ref or organization slug: 20 lower-case letters,
// the shape the Management API's path patterns require.
func newRef() string { return randomString(20, lowerAlphabet) }

func randomHex(nBytes int) string {
	b := make([]byte, nBytes)
	if _, err := rand.Read(b); err != nil {
		panic("localsupabase: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// newOpaqueKey returns an sb_publishable_/sb_secret_ key in the observed
// shape: prefix, 22 base64url characters, "_", 8 more.
func newOpaqueKey(prefix string) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic("localsupabase: crypto/rand failed: " + err.Error())
	}
	s := base64.RawURLEncoding.EncodeToString(b)
	return prefix + s[:22] + "_" + randomString(8, lowerAlphabet+"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
}
