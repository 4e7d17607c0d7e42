package realtime

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"strings"
	"time"
)

// tokenError is why a JWT was refused. Its fields are the code and message
// the real server uses; neither ever contains the token.
type tokenError struct {
	code    string // join-reply prefix, e.g. "InvalidJWTToken"
	message string
}

func (e *tokenError) Error() string { return e.message }

var (
	errTokenMalformed = &tokenError{"MalformedJWT", "The token provided is not a valid JWT"}
	errTokenSignature = &tokenError{"JwtSignatureError", "Failed to validate JWT signature"}
	errTokenSigner    = &tokenError{"JwtSignatureError", "Failed to generate JWT signer, check your JWT secret or JWKS configuration"}
	errTokenClaims    = &tokenError{"InvalidJWTToken", "Fields `role` and `exp` are required in JWT"}
)

func errTokenExpired(ago int64) *tokenError {
	return &tokenError{"InvalidJWTToken", fmt.Sprintf("Token has expired %d seconds ago", ago)}
}

// claims is a verified token: its raw claims (stored with subscriptions and
// handed to RLS as request.jwt.claims), role and expiry.
type claims struct {
	raw  json.RawMessage
	role string
	exp  time.Time
}

// verifyJWT checks an HS256/384/512 token against secret in the order the
// real server does: shape, signature, expiry, then the required claims.
func verifyJWT(token string, secret []byte, now time.Time) (*claims, *tokenError) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errTokenMalformed
	}
	headerJSON, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, errTokenMalformed
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(headerJSON, &header); err != nil {
		return nil, errTokenMalformed
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errTokenMalformed
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil || fields == nil {
		return nil, errTokenMalformed
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errTokenMalformed
	}
	var h func() hash.Hash
	switch header.Alg {
	case "HS256":
		h = sha256.New
	case "HS384":
		h = sha512.New384
	case "HS512":
		h = sha512.New
	default:
		// Only a shared secret is configured, so asymmetric algorithms have
		// no signer, as on a project without JWKS.
		return nil, errTokenSigner
	}
	if len(secret) == 0 {
		return nil, errTokenSigner
	}
	mac := hmac.New(h, secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(mac.Sum(nil), sig) {
		return nil, errTokenSignature
	}
	c := &claims{raw: json.RawMessage(payload)}
	if rawExp, ok := fields["exp"]; ok {
		var exp float64
		if err := json.Unmarshal(rawExp, &exp); err != nil {
			return nil, errTokenMalformed
		}
		c.exp = time.Unix(int64(exp), 0)
		if !c.exp.After(now) {
			return nil, errTokenExpired(int64(now.Sub(c.exp) / time.Second))
		}
	}
	rawRole, hasRole := fields["role"]
	if !hasRole || c.exp.IsZero() {
		return nil, errTokenClaims
	}
	if err := json.Unmarshal(rawRole, &c.role); err != nil || c.role == "" {
		return nil, errTokenClaims
	}
	return c, nil
}
