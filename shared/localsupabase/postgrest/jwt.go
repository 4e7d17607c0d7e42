package postgrest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// jwtSkew is the clock skew PostgREST tolerates on exp, nbf and iat.
const jwtSkew = 30

// auth is the outcome of checking a request's credentials.
type auth struct {
	role   string
	claims []byte // JSON object with "role" set, as request.jwt.claims carries it
	authed bool   // false when the request runs as the anonymous role
}

func jwtDecodeErr(msg string) *apiError {
	return &apiError{status: 401, code: "PGRST301", message: msg,
		headers: map[string]string{"WWW-Authenticate": invalidToken(msg)}}
}

func jwtClaimsErr(msg string) *apiError {
	return &apiError{status: 401, code: "PGRST303", message: msg,
		headers: map[string]string{"WWW-Authenticate": invalidToken(msg)}}
}

func invalidToken(msg string) string {
	q, _ := json.Marshal(msg)
	return `Bearer error="invalid_token", error_description=` + string(q)
}

// authenticate applies PostgREST's rules: no bearer token means the anonymous
// role; a token must be an HS256 JWT signed with the secret whose time claims
// hold (30 s skew); its "role" claim names the role, defaulting to anonymous.
func authenticate(header string, secret []byte, anonRole string, now time.Time) (auth, *apiError) {
	token, ok := bearer(header)
	if !ok {
		return anonAuth(anonRole), nil
	}
	if token == "" {
		return auth{}, jwtDecodeErr("Empty JWT is sent in Authorization header")
	}
	if n := strings.Count(token, ".") + 1; n != 3 {
		return auth{}, jwtDecodeErr(fmt.Sprintf("Expected 3 parts in JWT; got %d", n))
	}
	parts := strings.SplitN(token, ".", 3)
	hdrJSON, err := b64(parts[0])
	if err != nil {
		return auth{}, jwtDecodeErr("JWT cryptographic operation failed")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	if json.Unmarshal(hdrJSON, &hdr) != nil {
		return auth{}, jwtDecodeErr("JWT cryptographic operation failed")
	}
	switch hdr.Alg {
	case "HS256":
	case "none", "":
		e := jwtDecodeErr("Wrong or unsupported encoding algorithm")
		e.details = "JWT algorithm " + hdr.Alg + " is not supported"
		return auth{}, e
	default:
		return auth{}, jwtDecodeErr("No suitable key or wrong key type")
	}
	sig, err := b64(parts[2])
	if err != nil {
		return auth{}, jwtDecodeErr("JWT cryptographic operation failed")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return auth{}, jwtDecodeErr("JWT cryptographic operation failed")
	}
	payload, err := b64(parts[1])
	if err != nil {
		return auth{}, jwtClaimsErr("Parsing claims failed")
	}
	claims := map[string]json.RawMessage{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return auth{}, jwtClaimsErr("Parsing claims failed")
	}
	if e := checkTimeClaims(claims, now.Unix()); e != nil {
		return auth{}, e
	}
	role := anonRole
	if raw, ok := claims["role"]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			role = s
		} else {
			role = string(raw)
		}
	}
	rj, _ := json.Marshal(role)
	claims["role"] = rj
	out, _ := json.Marshal(claims)
	return auth{role: role, claims: out, authed: role != anonRole}, nil
}

func anonAuth(anonRole string) auth {
	c, _ := json.Marshal(map[string]string{"role": anonRole})
	return auth{role: anonRole, claims: c}
}

// bearer extracts the token of "Bearer <token>"; ok is false for any other
// scheme, which PostgREST treats as no credentials at all.
func bearer(h string) (string, bool) {
	scheme, rest, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok, _, _ := strings.Cut(rest, " ")
	return tok, true
}

func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func checkTimeClaims(claims map[string]json.RawMessage, now int64) *apiError {
	type check struct {
		name, notNumber, failed string
		bad                     func(v int64) bool
	}
	checks := []check{
		{"exp", "The JWT 'exp' claim must be a number", "JWT expired", func(v int64) bool { return now-jwtSkew > v }},
		{"nbf", "The JWT 'nbf' claim must be a number", "JWT not yet valid", func(v int64) bool { return now+jwtSkew < v }},
		{"iat", "The JWT 'iat' claim must be a number", "JWT issued at future", func(v int64) bool { return now+jwtSkew < v }},
	}
	for _, c := range checks {
		raw, ok := claims[c.name]
		if !ok || string(raw) == "null" {
			continue
		}
		var n json.Number
		if raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
			return jwtClaimsErr(c.notNumber)
		}
		f, err := n.Float64()
		if err != nil {
			return jwtClaimsErr(c.notNumber)
		}
		// Out-of-range values clamp to 0, as the server's bounded conversion does.
		v := int64(0)
		if !math.IsInf(f, 0) && math.Abs(f) < 9e18 {
			v = int64(math.Floor(f))
		}
		if c.bad(v) {
			return jwtClaimsErr(c.failed)
		}
	}
	if raw, ok := claims["aud"]; ok && string(raw) != "null" {
		var s string
		var arr []string
		if json.Unmarshal(raw, &s) != nil && json.Unmarshal(raw, &arr) != nil {
			return jwtClaimsErr("The JWT 'aud' claim must be a string or an array of strings")
		}
	}
	return nil
}
