package postgrest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// apiError is one error response, shaped as PostgREST writes it. Details and
// hint are JSON values (usually strings) or nil, which encodes as null.
type apiError struct {
	status  int
	code    string
	message string
	details any
	hint    any
	headers map[string]string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// body renders the error with keys in the order the server's JSON encoder
// emits them (sorted), so byte-level comparisons with real responses hold.
func (e *apiError) body() []byte {
	b, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Details any    `json:"details"`
		Hint    any    `json:"hint"`
		Message string `json:"message"`
	}{e.code, e.details, e.hint, e.message})
	return b
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := e.body()
	h := w.Header()
	for k, v := range e.headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Proxy-Status", "PostgREST; error="+e.code)
	h.Del("Content-Range")
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Errors raised by request parsing and the schema cache (PGRST1xx, PGRST2xx).

func errParse(message, details string) *apiError {
	return &apiError{status: 400, code: "PGRST100", message: message, details: details}
}

func errInvalidBody(msg string) *apiError {
	return &apiError{status: 400, code: "PGRST102", message: msg}
}

func errRange(details string) *apiError {
	return &apiError{status: 416, code: "PGRST103", message: "Requested range not satisfiable", details: details}
}

func errSchema(schema string, exposed []string) *apiError {
	return &apiError{status: 406, code: "PGRST106", message: "Invalid schema: " + schema,
		hint: "Only the following schemas are exposed: " + strings.Join(exposed, ", ")}
}

func errMediaType(types []string) *apiError {
	return &apiError{status: 406, code: "PGRST107",
		message: "None of these media types are available: " + strings.Join(types, ", ")}
}

func errSingular(n int64) *apiError {
	return &apiError{status: 406, code: "PGRST116", message: "Cannot coerce the result to a single JSON object",
		details: "The result contains " + strconv.FormatInt(n, 10) + " rows"}
}

func errColumnNotFound(table, col string) *apiError {
	return &apiError{status: 400, code: "PGRST204",
		message: "Could not find the '" + col + "' column of '" + table + "' in the schema cache"}
}

func errAggregates() *apiError {
	return &apiError{status: 400, code: "PGRST123", message: "Use of aggregate functions is not allowed"}
}

func errInvalidPath() *apiError {
	return &apiError{status: 404, code: "PGRST125", message: "Invalid path specified in request URL"}
}

// errPg maps a PostgreSQL error to PostgREST's status and body. authed is
// false when the request ran as the anonymous role: missing privileges then
// mean "log in" (401) rather than "forbidden" (403).
func errPg(err error, authed bool) *apiError {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		var ce *pgconn.ConnectError
		if errors.As(err, &ce) {
			return &apiError{status: 503, code: "PGRST000", message: "Database connection error. Retrying the connection."}
		}
		return &apiError{status: 503, code: "PGRST001", message: "Database client error. Retrying the connection."}
	}
	if pe.Code == "PGRST" {
		if e := raisePGRST(pe); e != nil {
			return e
		}
	}
	e := &apiError{status: pgStatus(pe, authed), code: pe.Code, message: pe.Message,
		details: strOrNil(pe.Detail), hint: strOrNil(pe.Hint)}
	if e.status == 401 {
		e.headers = map[string]string{"WWW-Authenticate": "Bearer"}
	}
	return e
}

// raisePGRST implements RAISE SQLSTATE 'PGRST': the message is the JSON
// error body and the detail carries status and headers.
func raisePGRST(pe *pgconn.PgError) *apiError {
	var msg struct {
		Code    *string `json:"code"`
		Message *string `json:"message"`
		Details *string `json:"details"`
		Hint    *string `json:"hint"`
	}
	if json.Unmarshal([]byte(pe.Message), &msg) != nil || msg.Code == nil || msg.Message == nil {
		return &apiError{status: 500, code: "PGRST121", message: `Could not parse JSON in the "RAISE SQLSTATE 'PGRST'" error`,
			details: "Invalid JSON value for MESSAGE: '" + pe.Message + "'",
			hint:    "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'."}
	}
	var det struct {
		Status  *int              `json:"status"`
		Headers map[string]string `json:"headers"`
	}
	if pe.Detail == "" || json.Unmarshal([]byte(pe.Detail), &det) != nil || det.Status == nil || det.Headers == nil ||
		*det.Status < 100 || *det.Status > 599 {
		d := "DETAIL is missing in the RAISE statement"
		if pe.Detail != "" {
			d = "Invalid JSON value for DETAIL: '" + pe.Detail + "'"
		}
		return &apiError{status: 500, code: "PGRST121", message: `Could not parse JSON in the "RAISE SQLSTATE 'PGRST'" error`,
			details: d, hint: "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'."}
	}
	e := &apiError{status: *det.Status, code: *msg.Code, message: *msg.Message, headers: det.Headers}
	if msg.Details != nil {
		e.details = *msg.Details
	}
	if msg.Hint != nil {
		e.hint = *msg.Hint
	}
	return e
}

// pgStatus is PostgREST's SQLSTATE → HTTP status table.
func pgStatus(pe *pgconn.PgError, authed bool) int {
	c := pe.Code
	switch c {
	case "23503", "23505":
		return 409
	case "25006":
		return 405
	case "21000":
		if strings.HasSuffix(pe.Message, "requires a WHERE clause") {
			return 400
		}
		return 500
	case "22023":
		if strings.HasPrefix(pe.Message, "role") && strings.HasSuffix(pe.Message, "does not exist") {
			return 401
		}
		return 400
	case "53400":
		return 500
	case "57P01":
		return 503
	case "P0001":
		return 400
	case "42883":
		if strings.HasPrefix(pe.Message, "function xmlagg(") {
			return 406
		}
		return 404
	case "42P01":
		return 404
	case "42P17":
		return 500
	case "42501":
		if authed {
			return 403
		}
		return 401
	}
	if len(c) < 2 {
		return 400
	}
	switch c[:2] {
	case "08", "53":
		return 503
	case "09", "25", "2D", "38", "39", "3B", "40", "54", "55", "57", "58", "F0", "HV", "XX":
		return 500
	case "0L", "0P", "28":
		return 403
	case "P0":
		return 500
	case "PT":
		if n, err := strconv.Atoi(c[2:]); err == nil && n >= 100 && n <= 599 {
			return n
		}
		return 500
	}
	return 400
}
