package userdir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/directory"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/logs"
	"github.com/supabridge/supabridge/shared/netguard"
	"github.com/supabridge/supabridge/shared/supabase"
)

// errorBody is the error envelope with the remote parts: remote_error and
// raw_response are set only when Supabase caused the error.
type errorBody struct {
	httpapi.ErrorBody
	RemoteError bool `json:"remote_error,omitempty"`
	RawResponse any  `json:"raw_response,omitempty"`
}

// writeError writes err as the envelope. Errors caused by Supabase carry
// remote_error, the upstream body as raw_response, and the upstream's
// rate-limit headers.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	out := errorBody{ErrorBody: httpapi.NewErrorBody(err)}
	if out.Code == bridge.EINTERNAL {
		logs.From(r.Context()).LogAttrs(r.Context(), slog.LevelError, "internal error",
			slog.String("error", logs.Scrub(err.Error())))
	}
	var api *supabase.APIError
	if errors.As(err, &api) {
		out.RemoteError = true
		out.RawResponse = rawBody(api.Body)
		// Supabase's rate-limit headers, passed on so callers can back off
		// as Supabase asks.
		for _, k := range []string{"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
			if v := api.Header.Get(k); v != "" {
				w.Header().Set(k, v)
			}
		}
		var rl *supabase.RateLimitError
		if errors.As(err, &rl) && rl.RetryAfter > 0 && w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", strconv.Itoa(int(rl.RetryAfter.Seconds()+0.999)))
		}
	}
	if out.StatusCode == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "GET")
	}
	httpapi.JSON(w, out.StatusCode, out)
}

// rawBody is an upstream body as JSON when it is JSON, else as text.
func rawBody(b []byte) any {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	return string(b)
}

// statusCode maps an upstream status to the domain code whose status the
// caller sees: the same where it means the same, 502 for upstream failures.
func statusCode(s int) string {
	switch {
	case s == http.StatusBadRequest || s == http.StatusRequestedRangeNotSatisfiable:
		return bridge.EINVALID
	case s == http.StatusUnauthorized:
		return bridge.ENEEDSREAUTH
	case s == http.StatusForbidden:
		return bridge.EFORBIDDEN
	case s == http.StatusNotFound:
		return bridge.ENOTFOUND
	case s == http.StatusConflict:
		return bridge.ECONFLICT
	case s == http.StatusRequestEntityTooLarge:
		return bridge.ETOOLARGE
	case s == http.StatusUnprocessableEntity || s == http.StatusNotAcceptable || s == http.StatusMultipleChoices:
		return bridge.EUNPROCESSABLE
	case s == http.StatusTooManyRequests:
		return bridge.ERATELIMIT
	case s == http.StatusServiceUnavailable:
		return bridge.EUNAVAILABLE
	}
	return bridge.EREMOTE
}

// schemaMismatch reports PostgREST and PostgreSQL codes that mean the
// directory tables do not match the account's settings.
func schemaMismatch(code string) bool {
	switch code {
	case "PGRST200", "PGRST204", "PGRST205", "PGRST106", "42P01", "42703":
		return true
	}
	return false
}

// upstream turns a Supabase client error into a domain error; service
// names the API for the message ("Auth", "the Data API", "the Management
// API"). Domain errors pass through unchanged.
func upstream(err error, service string) error {
	if err == nil {
		return nil
	}
	var be *bridge.Error
	if errors.As(err, &be) {
		return err
	}
	var api *supabase.APIError
	if !errors.As(err, &api) {
		if errors.Is(err, netguard.ErrNotPublic) {
			return bridge.Errorf(bridge.EFORBIDDEN, "The account's Supabase host resolves to a private or reserved address; only public Supabase hosts are reachable.").WithCause(err)
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return bridge.Errorf(bridge.EUNAVAILABLE, "%s did not answer in time; retry later.", service).WithCause(err)
		}
		return bridge.Errorf(bridge.EUNAVAILABLE, "%s could not be reached; retry later.", service).WithCause(err)
	}
	code := statusCode(api.StatusCode)
	msg := fmt.Sprintf("%s answered %d", service, api.StatusCode)
	if api.Code != "" {
		msg += " " + api.Code
	}
	msg += ": " + api.Message
	if api.Hint != "" {
		msg += " (" + api.Hint + ")"
	}
	if schemaMismatch(api.Code) {
		code = bridge.EUNPROCESSABLE
		msg += ". The project's directory tables do not match this account's settings: apply the directory schema or fix the account's directory settings."
	}
	details := map[string]any{"remote_status": api.StatusCode}
	if api.Code != "" {
		details["remote_code"] = api.Code
	}
	if api.Details != "" {
		details["remote_details"] = api.Details
	}
	return bridge.Errorf(code, "%s", msg).WithDetails(details).WithCause(err)
}

// blameRemoteQuery turns the Data API's 400 for a read that carried the
// caller's remote_query into the caller's mistake (otherwise an unknown
// column would read as a schema mismatch).
func blameRemoteQuery(err error, q *listReq) error {
	var api *supabase.APIError
	if len(q.Remote) == 0 || !errors.As(err, &api) || api.StatusCode != http.StatusBadRequest {
		return err
	}
	details := map[string]any{"parameter": "remote_query", "remote_status": api.StatusCode, "remote_code": api.Code}
	return bridge.Errorf(bridge.EINVALID, "remote_query was rejected: %s answered %s: %s", dataAPI, api.Code, api.Message).
		WithDetails(details).WithCause(err)
}

// isStatus reports whether err is an upstream answer with status s.
func isStatus(err error, s int) bool {
	var api *supabase.APIError
	return errors.As(err, &api) && api.StatusCode == s
}

// listBody is the list envelope.
type listBody struct {
	Result      any     `json:"result"`
	NextCursor  *string `json:"next_cursor"`
	PrevCursor  *string `json:"prev_cursor"`
	ResultCount int     `json:"result_count"`
}

// shape applies exclude_fields to an encoded object.
func shape(b []byte, exclude []string) (json.RawMessage, error) {
	if len(exclude) == 0 {
		return b, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, f := range exclude {
		delete(m, f)
	}
	return json.Marshal(m)
}

// writeObject writes one object, shaped by p.
func writeObject(w http.ResponseWriter, r *http.Request, status int, v any, p *params) {
	b, err := json.Marshal(v)
	if err == nil {
		b, err = shape(b, p.Exclude)
	}
	if err != nil {
		writeError(w, r, bridge.Errorf(bridge.EINTERNAL, "The response could not be encoded.").WithCause(err))
		return
	}
	httpapi.JSON(w, status, json.RawMessage(b))
}

// writeList writes a page of items, shaped by p.
func writeList[T any](w http.ResponseWriter, r *http.Request, items []T, next string, p *params) {
	body := listBody{Result: items, ResultCount: len(items)}
	if items == nil {
		body.Result = []T{}
	}
	if next != "" {
		body.NextCursor = &next
	}
	if len(p.Exclude) > 0 {
		shaped := make([]json.RawMessage, len(items))
		for i := range items {
			b, err := json.Marshal(items[i])
			if err == nil {
				shaped[i], err = shape(b, p.Exclude)
			}
			if err != nil {
				writeError(w, r, bridge.Errorf(bridge.EINTERNAL, "The response could not be encoded.").WithCause(err))
				return
			}
		}
		body.Result = shaped
	}
	httpapi.JSON(w, http.StatusOK, body)
}

// validation turns a directory.ValidationError into EUNPROCESSABLE with
// its failures as details; other errors pass through.
func validation(err error) error {
	var ve directory.ValidationError
	if errors.As(err, &ve) {
		return bridge.Errorf(bridge.EUNPROCESSABLE, "The request body is not valid: %s", ve.Error()).
			WithDetails(map[string]any{"failures": []directory.FieldError(ve)})
	}
	return err
}
