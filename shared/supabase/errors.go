package supabase

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// MaxErrorBody bounds how much of an error response is read and kept.
const MaxErrorBody = 64 << 10

// APIError is a non-2xx answer from any Supabase API. Code, Message, Hint
// and Details come from the body in the answering service's own shape:
//
//   - Management API: {"message"} (a string or a list), optionally
//     "error", "missing_permissions"; v2: {"error":{"code","message"}}
//   - Auth: {"code":<status>,"error_code","msg"} (legacy) or
//     {"code":"<error_code>","message"} (X-Supabase-Api-Version 2024-01-01)
//   - Data API: {"code","message","details","hint"}
//   - the API gateway: {"message","hint"}
//
// Every string field, the body included, has credentials scrubbed.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Method and URL identify the request (URL with credentials scrubbed).
	Method string
	URL    string
	// Code is Supabase's machine-readable code (Auth's error_code,
	// PostgREST's PGRST…/SQLSTATE); empty when the service gives none.
	Code string
	// Message is the human-readable message (the status text when the body
	// has none).
	Message string
	// Hint and Details are PostgREST's (and the gateway's) extra text;
	// Details also carries Auth's weak-password reasons and the Management
	// API's missing_permissions.
	Hint    string
	Details string
	// Body is the raw response body, at most MaxErrorBody bytes.
	Body []byte
	// Header is the response's header (rate-limit headers included).
	Header http.Header
	// Rate is the rate-limit state the response reported.
	Rate Rate
}

// Error describes the failure: method, URL, status, code, message and hint.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "supabase: %s %s: %d", e.Method, e.URL, e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Hint != "" {
		b.WriteString(" (hint: " + e.Hint + ")")
	}
	return b.String()
}

// RateLimitError is a 429 answer. It wraps the *APIError, so errors.As
// finds either.
type RateLimitError struct {
	*APIError
	// RetryAfter is how long to wait, from Retry-After or else
	// X-RateLimit-Reset; 0 when neither says.
	RetryAfter time.Duration
}

// Error describes the rate limit and when to retry.
func (e *RateLimitError) Error() string {
	s := e.APIError.Error()
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// Unwrap returns the underlying *APIError.
func (e *RateLimitError) Unwrap() error { return e.APIError }

// CheckResponse returns nil for a 2xx response; otherwise it reads up to
// MaxErrorBody bytes of the body (closing it) and returns a
// *RateLimitError for 429 or an *APIError, with credentials that look like
// Supabase keys or tokens scrubbed. Do calls it on every response.
func CheckResponse(r *http.Response) error { return checkResponse(r, nil) }

func checkResponse(r *http.Response, secrets []string) error {
	if c := r.StatusCode; c >= 200 && c <= 299 {
		return nil
	}
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(r.Body, MaxErrorBody))
		_ = r.Body.Close()
		// Later readers of the response see what was read.
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	e := &APIError{StatusCode: r.StatusCode, Header: r.Header.Clone(), Rate: parseRate(r.Header)}
	if r.Request != nil {
		e.Method = r.Request.Method
		if r.Request.URL != nil {
			e.URL = scrubURL(r.Request.URL.String(), secrets...)
		}
	}
	parseErrorBody(e, body)
	if e.Message == "" {
		e.Message = http.StatusText(r.StatusCode)
	}
	e.Code = scrubText(e.Code, secrets)
	e.Message = scrubText(e.Message, secrets)
	e.Hint = scrubText(e.Hint, secrets)
	e.Details = scrubText(e.Details, secrets)
	e.Body = []byte(scrubText(string(body), secrets))
	if r.StatusCode == http.StatusTooManyRequests {
		return &RateLimitError{APIError: e, RetryAfter: retryAfter(r.Header, time.Now())}
	}
	return e
}

// retryAfter reads Retry-After (seconds or an HTTP date), then
// X-RateLimit-Reset (seconds).
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if d := parseSeconds(v); d > 0 {
			return d
		}
		if t, err := http.ParseTime(v); err == nil {
			if d := t.Sub(now); d > 0 {
				return min(d, 24*time.Hour)
			}
		}
	}
	return parseSeconds(h.Get("X-RateLimit-Reset"))
}

// parseErrorBody fills Code, Message, Hint and Details from whichever shape
// the body has; a body that is not a JSON object leaves them empty.
func parseErrorBody(e *APIError, body []byte) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m == nil {
		return
	}
	// Management API v2 nests its error.
	if raw, ok := m["error"]; ok {
		var inner map[string]json.RawMessage
		if json.Unmarshal(raw, &inner) == nil && inner != nil {
			e.Code = jsonString(inner["code"])
			e.Message = jsonText(inner["message"])
			e.Details = jsonText(inner["description"])
			return
		}
	}
	// Auth's legacy shape puts the status in "code" and the code in
	// "error_code"; the dated shape and PostgREST put a string in "code".
	if c := jsonString(m["error_code"]); c != "" {
		e.Code = c
	} else {
		e.Code = jsonString(m["code"])
	}
	for _, k := range []string{"message", "msg", "error_description"} {
		if e.Message = jsonText(m[k]); e.Message != "" {
			break
		}
	}
	if errStr := jsonString(m["error"]); errStr != "" {
		switch {
		case e.Code == "" && jsonString(m["error_description"]) != "":
			e.Code = errStr // OAuth-style {error, error_description}
		case e.Message == "":
			e.Message = errStr
		}
	}
	e.Hint = jsonText(m["hint"])
	e.Details = jsonText(m["details"])
	if e.Details == "" {
		e.Details = jsonText(m["detail"])
	}
	if wp, ok := m["weak_password"]; ok && e.Details == "" {
		var w struct {
			Reasons []string `json:"reasons"`
		}
		if json.Unmarshal(wp, &w) == nil && len(w.Reasons) > 0 {
			e.Details = "weak password: " + strings.Join(w.Reasons, ", ")
		}
	}
	if mp, ok := m["missing_permissions"]; ok && e.Details == "" {
		var perms []string
		if json.Unmarshal(mp, &perms) == nil && len(perms) > 0 {
			e.Details = "missing permissions: " + strings.Join(perms, ", ")
		}
	}
}

// jsonString is raw as a string when it is one.
func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// jsonText renders a message-like value: a string as is, a list of strings
// joined (NestJS validation messages), null as empty, anything else as
// compact JSON (PostgREST details raised as JSON).
func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if s := jsonString(raw); s != "" || string(raw) == `""` {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, "; ")
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.String()
	}
	return ""
}

const redacted = "[REDACTED]"

// credentialPattern matches what Supabase credentials look like: JWTs
// (legacy keys, access tokens), opaque project keys, personal and OAuth
// access tokens, OAuth client secrets, and bearer credentials.
var credentialPattern = regexp.MustCompile(`(?i)(eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*|\bsb[a-z]?_[A-Za-z0-9_-]{8,}|\bbearer\s+[A-Za-z0-9._~+/=-]{8,}|\bbasic\s+[A-Za-z0-9+/=]{8,})`)

// sensitiveParams are query parameters whose values are credentials.
var sensitiveParams = []string{"apikey", "api_key", "access_token", "refresh_token", "id_token", "token",
	"client_secret", "code", "code_verifier", "password", "secret", "key", "jwt"}

// scrubText removes the given secrets (exact matches) and anything shaped
// like a Supabase credential.
func scrubText(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 6 {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return credentialPattern.ReplaceAllString(s, redacted)
}

// scrubURL redacts userinfo and credential-bearing query parameters of a
// URL, then scrubs the rest like text.
func scrubURL(raw string, secrets ...string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return scrubText(raw, secrets)
	}
	if u.User != nil {
		u.User = url.User(redacted)
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err == nil {
			changed := false
			for k := range q {
				if slices.Contains(sensitiveParams, strings.ToLower(k)) {
					q[k] = []string{redacted}
					changed = true
				}
			}
			if changed {
				u.RawQuery = q.Encode()
			}
		} else {
			u.RawQuery = redacted
		}
	}
	return scrubText(u.String(), secrets)
}

// scrubError rewrites a transport error so that its text carries no
// credential: the URL of a *url.Error is scrubbed, and any other error is
// replaced by one with scrubbed text.
func scrubError(err error, secrets []string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: scrubURL(ue.URL, secrets...), Err: scrubError(ue.Err, secrets)}
	}
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := scrubText(msg, secrets); clean != msg {
		return errors.New(clean)
	}
	return err
}
