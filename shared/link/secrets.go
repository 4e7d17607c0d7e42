package link

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/google/uuid"
)

// TokenPrefix starts every link token, so that secret scanners and humans
// recognise one.
const TokenPrefix = "slt_"

// newLinkToken returns a token for session id: the session's ID (to find
// it with one read) and 256 random bits (to prove possession). Only its
// hash is stored.
func newLinkToken(id string) string {
	u := uuid.MustParse(id)
	return TokenPrefix + hex.EncodeToString(u[:]) + "_" + randomString(32)
}

// parseLinkToken returns the session ID a token names, or false for
// anything that is not shaped like a link token.
func parseLinkToken(tok string) (string, bool) {
	rest, ok := strings.CutPrefix(tok, TokenPrefix)
	if !ok || len(rest) != 32+1+43 || rest[32] != '_' {
		return "", false
	}
	b, err := hex.DecodeString(rest[:32])
	if err != nil || len(b) != 16 {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(rest[33:]); err != nil {
		return "", false
	}
	u, _ := uuid.FromBytes(b)
	return u.String(), true
}

// hashToken is the stored form of a link token or OAuth state: random
// values of 256 bits need no slow hash.
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func hashesEqual(a, b string) bool {
	return len(a) == len(b) && a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("link: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// deriver derives per-purpose values from the app's signing key, so that
// nothing it derives has to be stored.
type deriver struct{ key []byte }

func (d deriver) mac(purpose string, parts ...string) string {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte("supabridge/link/" + purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verifier is the PKCE code verifier of an OAuth state: 43 characters of
// base64url, within RFC 7636's 43–128. Deriving it means a leaked state
// (it travels in URLs) reveals nothing about the verifier, and the verifier
// never sits in storage.
func (d deriver) verifier(state string) string { return d.mac("pkce", state) }

// csrf is the anti-forgery token of a link session's forms: bound to the
// session and to its token, so it is useless with any other link.
func (d deriver) csrf(sessionID, tokenHash string) string {
	return d.mac("csrf", sessionID, tokenHash)
}

func (d deriver) checkCSRF(sessionID, tokenHash, got string) bool {
	want := d.csrf(sessionID, tokenHash)
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// newState returns an OAuth state for session id: the session ID (the
// callback finds the session with it), 256 random bits, and the popup
// opener's origin when there is one. Its hash is stored on the session, so
// any change to it, the origin included, makes it unknown.
func newState(id, popupOrigin string) string {
	u := uuid.MustParse(id)
	s := hex.EncodeToString(u[:]) + "." + randomString(32)
	if popupOrigin != "" {
		s += "." + base64.RawURLEncoding.EncodeToString([]byte(popupOrigin))
	}
	return s
}

// parseState returns the session ID and popup origin a state carries.
func parseState(state string) (id, popupOrigin string, ok bool) {
	if len(state) > 1024 {
		return "", "", false
	}
	parts := strings.Split(state, ".")
	if len(parts) < 2 || len(parts) > 3 || len(parts[0]) != 32 || len(parts[1]) != 43 {
		return "", "", false
	}
	b, err := hex.DecodeString(parts[0])
	if err != nil {
		return "", "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil {
		return "", "", false
	}
	if len(parts) == 3 {
		o, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || len(o) == 0 {
			return "", "", false
		}
		popupOrigin = string(o)
	}
	u, _ := uuid.FromBytes(b)
	return u.String(), popupOrigin, true
}
