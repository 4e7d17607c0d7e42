// Package httpapi holds the conventions every Supabridge HTTP function
// follows: Go 1.22 ServeMux routing with JSON 404 and 405 answers, the error
// envelope {"statusCode","error","message","details"}, request IDs on every
// response and log line, size-limited JSON bodies, structured request logs,
// panic recovery, and operator authentication by API key.
//
// Handlers return domain errors (*bridge.Error); Error turns them into the
// envelope through the one code→status table here, and logs only internal
// errors with their cause.
package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/logs"
)

// codeStatus is the only place a domain error code becomes an HTTP status.
var codeStatus = map[string]int{
	bridge.EINVALID:        http.StatusBadRequest,
	bridge.EUNAUTHORIZED:   http.StatusUnauthorized,
	bridge.EFORBIDDEN:      http.StatusForbidden,
	bridge.ENOTFOUND:       http.StatusNotFound,
	bridge.EMETHOD:         http.StatusMethodNotAllowed,
	bridge.ENOTSUPPORTED:   http.StatusMethodNotAllowed,
	bridge.ECONFLICT:       http.StatusConflict,
	bridge.EIDEMPOTENCY:    http.StatusConflict,
	bridge.EGONE:           http.StatusGone,
	bridge.EPRECONDITION:   http.StatusPreconditionFailed,
	bridge.ETOOLARGE:       http.StatusRequestEntityTooLarge,
	bridge.EUNSUPPORTEDMED: http.StatusUnsupportedMediaType,
	bridge.EUNPROCESSABLE:  http.StatusUnprocessableEntity,
	bridge.EVALIDATION:     http.StatusUnprocessableEntity,
	bridge.ERATELIMIT:      http.StatusTooManyRequests,
	bridge.EINTERNAL:       http.StatusInternalServerError,
	bridge.EREMOTE:         http.StatusBadGateway,
	bridge.EUNAVAILABLE:    http.StatusServiceUnavailable,
	bridge.ENEEDSREAUTH:    http.StatusUnauthorized,
}

// Status returns the HTTP status for a domain error code (500 for unknown
// codes).
func Status(code string) int {
	if s, ok := codeStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the error envelope of every Supabridge error response.
type ErrorBody struct {
	StatusCode int    `json:"statusCode"`
	Error      string `json:"error"`
	Message    string `json:"message"`
	Details    any    `json:"details"`
	// Code is the machine-readable domain code.
	Code string `json:"code"`
}

// NewErrorBody renders err as the envelope.
func NewErrorBody(err error) ErrorBody {
	code := bridge.ErrorCode(err)
	status := Status(code)
	body := ErrorBody{StatusCode: status, Error: http.StatusText(status), Message: bridge.ErrorMessage(err), Code: code}
	var e *bridge.Error
	if errors.As(err, &e) {
		body.Details = e.Details
	}
	return body
}

// Error writes err as the error envelope. Internal errors are logged with
// their cause; the response shows only a generic message.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	body := NewErrorBody(err)
	if body.Code == bridge.EINTERNAL {
		logs.From(r.Context()).LogAttrs(r.Context(), slog.LevelError, "internal error",
			slog.String("error", logs.Scrub(err.Error())))
	}
	JSON(w, body.StatusCode, body)
}
