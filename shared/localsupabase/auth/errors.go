package auth

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// apiError is one of GoTrue's HTTP errors: a status, a machine code and a
// message, rendered in whichever of the two body shapes the request asked for.
type apiError struct {
	Status  int
	Code    string
	Message string
	// WeakPassword carries the reasons of a weak_password error.
	WeakPassword []string
}

func (e *apiError) Error() string { return e.Message }

func newError(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

func badRequest(msg string) *apiError {
	return newError(http.StatusBadRequest, "validation_failed", msg)
}

func internal(msg string) *apiError {
	return newError(http.StatusInternalServerError, "unexpected_failure", msg)
}

// apiVersionHeader selects the error body shape. Only one dated version
// exists; anything earlier, absent or unparseable means the legacy shape.
const apiVersionHeader = "X-Supabase-Api-Version"

var apiVersion20240101 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func wantsDatedErrors(r *http.Request) bool {
	v := r.Header.Get(apiVersionHeader)
	if v == "" {
		return false
	}
	t, err := time.Parse("2006-01-02", v)
	if err != nil {
		return false
	}
	return !t.Before(apiVersion20240101)
}

func writeError(w http.ResponseWriter, r *http.Request, e *apiError, requestID string) {
	h := w.Header()
	if e.Code != "" {
		h.Set("X-Sb-Error-Code", e.Code)
	}
	if wantsDatedErrors(r) {
		h.Set(apiVersionHeader, "2024-01-01")
		code := e.Code
		if code == "" {
			code = "unknown"
			if e.Status == http.StatusInternalServerError {
				code = "unexpected_failure"
			}
		}
		body := map[string]any{"code": code, "message": e.Message}
		if e.WeakPassword != nil {
			body["weak_password"] = map[string]any{"reasons": e.WeakPassword}
		}
		writeJSON(w, e.Status, body)
		return
	}
	body := map[string]any{"code": e.Status, "msg": e.Message}
	if e.Code != "" {
		body["error_code"] = e.Code
	}
	if e.Status >= 500 && requestID != "" {
		body["error_id"] = requestID
	}
	if e.WeakPassword != nil {
		body["weak_password"] = map[string]any{"reasons": e.WeakPassword}
	}
	writeJSON(w, e.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"code":500,"error_code":"unexpected_failure","msg":"Unexpected failure, please check server logs for more information"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
