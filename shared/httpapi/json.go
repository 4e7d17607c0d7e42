package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/supabridge/supabridge/shared/bridge"
)

// DefaultMaxBody is the default request body limit of the operator API.
const DefaultMaxBody = 1 << 20

// JSON writes v as a JSON response with status.
func JSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"statusCode":500,"error":"Internal Server Error","message":"An internal error occurred.","details":null,"code":"internal"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Decode reads r's JSON body into v. Unknown fields, trailing data, a
// non-JSON content type, an empty body, and a body over the limit set by the
// middleware are errors that name the problem (EINVALID, EUNSUPPORTEDMED,
// ETOOLARGE).
func Decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return bridge.Errorf(bridge.EUNSUPPORTEDMED, "Request bodies must be JSON (Content-Type: application/json).")
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if tooLarge(err) {
			return decodeError(err)
		}
		return bridge.Errorf(bridge.EINVALID, "The request body must hold a single JSON value.")
	}
	return nil
}

func tooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

func decodeError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case tooLarge(err):
		var mb *http.MaxBytesError
		errors.As(err, &mb)
		return bridge.Errorf(bridge.ETOOLARGE, "The request body exceeds the limit of %d bytes.", mb.Limit)
	case errors.Is(err, io.EOF):
		return bridge.Errorf(bridge.EINVALID, "The request body is empty; a JSON object is required.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return bridge.Errorf(bridge.EINVALID, "The request body is not valid JSON: it ends unexpectedly.")
	case errors.As(err, &syn):
		return bridge.Errorf(bridge.EINVALID, "The request body is not valid JSON: syntax error at byte %d.", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return bridge.Errorf(bridge.EINVALID, "The field %q must be %s, not %s.", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value).
				WithDetails(map[string]any{"field": typ.Field})
		}
		return bridge.Errorf(bridge.EINVALID, "The request body must be %s, not %s.", jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return bridge.Errorf(bridge.EINVALID, "The field %q is not recognised.", field).
			WithDetails(map[string]any{"field": field})
	}
	return bridge.Errorf(bridge.EINVALID, "The request body could not be decoded: %s.", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	}
	return fmt.Sprintf("a %s", goKind)
}
