package bridge

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status in package httpapi.
const (
	EINVALID        = "invalid"            // the request is malformed
	EUNAUTHORIZED   = "unauthorized"       // missing or invalid credentials
	EFORBIDDEN      = "forbidden"          // authenticated, but not allowed
	ENOTFOUND       = "not_found"          // no such object in this environment
	EMETHOD         = "method_not_allowed" // the route exists, the method does not
	ENOTSUPPORTED   = "not_supported"      // Supabase offers no such operation
	ECONFLICT       = "conflict"           // the object changed or already exists
	EGONE           = "gone"               // the object existed but expired or was used
	ETOOLARGE       = "payload_too_large"  // the request body is over the limit
	EUNPROCESSABLE  = "unprocessable"      // well-formed but semantically invalid
	ERATELIMIT      = "rate_limited"       // too many requests
	EREMOTE         = "remote_error"       // Supabase answered with an error
	EUNAVAILABLE    = "unavailable"        // a dependency is temporarily unreachable
	EINTERNAL       = "internal"           // a bug or an unexpected failure
	ENEEDSREAUTH    = "needs_reauth"       // the account's credentials were revoked
	EVALIDATION     = "validation_error"   // linking credentials failed validation
	EPRECONDITION   = "precondition_failed"
	EIDEMPOTENCY    = "idempotency_conflict"
	EUNSUPPORTEDMED = "unsupported_media_type"
)

// Error is a domain error: a code, a message that is safe to show to the
// caller, optional structured details, and an optional cause that is never
// shown (only logged, and only for EINTERNAL).
//
// Messages must never contain credentials.
type Error struct {
	Code    string
	Message string
	Details any
	Err     error
}

// Error implements error. It includes the cause so that logs carry it; the
// HTTP layer shows only Message.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted, caller-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails returns a copy of e carrying details.
func (e *Error) WithDetails(d any) *Error {
	c := *e
	c.Details = d
	return &c
}

// WithCause returns a copy of e carrying cause as its unwrapped error.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err: the message of the
// first *Error in its chain, or a generic message for any other error.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred."
}

// IsCode reports whether err carries code.
func IsCode(err error, code string) bool { return ErrorCode(err) == code }
