package supabase

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// KeyKind is the kind of a project API key, spelled as the Management API's
// api-keys "type" field spells it.
type KeyKind string

// Kinds of project API key.
const (
	KeyLegacy      KeyKind = "legacy"      // an anon or service_role JWT
	KeyPublishable KeyKind = "publishable" // sb_publishable_…
	KeySecret      KeyKind = "secret"      // sb_secret_…
)

// KeyInfo is what a project API key says about itself.
type KeyInfo struct {
	Kind KeyKind
	// Role is the Postgres role requests made with the key run as: anon or
	// service_role.
	Role string
	// BypassesRLS reports whether that role bypasses row-level security
	// (service_role does); such a key can also call the Auth admin API.
	BypassesRLS bool
	// Ref is a legacy key's "ref" claim (the project it was issued for);
	// empty for opaque keys and keys without one.
	Ref string
	// ExpiresAt is a legacy key's "exp" claim; zero when absent.
	ExpiresAt time.Time
}

// ErrUnrecognizedKey is wrapped by ClassifyKey's errors.
var ErrUnrecognizedKey = errors.New("supabase: not a recognized project API key")

const (
	publishablePrefix = "sb_publishable_"
	secretPrefix      = "sb_secret_"
)

// ClassifyKey tells what kind of project API key key is without a network
// call: sb_publishable_ and sb_secret_ keys by prefix, legacy keys by the
// role claim of the JWT, which is decoded but not verified (only the
// project can do that). Only anon and service_role JWTs are API keys; a
// user's access token or any other value is refused with an error wrapping
// ErrUnrecognizedKey, which never contains the key.
func ClassifyKey(key string) (KeyInfo, error) {
	switch {
	case strings.HasPrefix(key, publishablePrefix) && len(key) > len(publishablePrefix):
		return KeyInfo{Kind: KeyPublishable, Role: "anon"}, nil
	case strings.HasPrefix(key, secretPrefix) && len(key) > len(secretPrefix):
		return KeyInfo{Kind: KeySecret, Role: "service_role", BypassesRLS: true}, nil
	}
	parts := strings.Split(key, ".")
	if len(parts) != 3 {
		return KeyInfo{}, fmt.Errorf("%w: neither sb_publishable_, sb_secret_ nor a JWT", ErrUnrecognizedKey)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return KeyInfo{}, fmt.Errorf("%w: JWT payload is not base64url", ErrUnrecognizedKey)
	}
	var claims struct {
		Role string          `json:"role"`
		Ref  string          `json:"ref"`
		Exp  json.RawMessage `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return KeyInfo{}, fmt.Errorf("%w: JWT payload is not a JSON object", ErrUnrecognizedKey)
	}
	info := KeyInfo{Kind: KeyLegacy, Role: claims.Role, Ref: claims.Ref}
	switch claims.Role {
	case "anon":
	case "service_role":
		info.BypassesRLS = true
	case "":
		return KeyInfo{}, fmt.Errorf("%w: JWT has no role claim", ErrUnrecognizedKey)
	default:
		return KeyInfo{}, fmt.Errorf("%w: JWT role %q is not anon or service_role", ErrUnrecognizedKey, truncate(claims.Role, 40))
	}
	var exp float64
	if len(claims.Exp) > 0 && json.Unmarshal(claims.Exp, &exp) == nil && exp > 0 && exp < 1e11 {
		info.ExpiresAt = time.Unix(int64(exp), 0).UTC()
	}
	return info, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
