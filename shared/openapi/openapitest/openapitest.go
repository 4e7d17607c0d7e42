// Package openapitest checks, in tests, that responses match Supabridge's
// OpenAPI document: status, content type, headers and body schema of the
// operation the request names.
package openapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/errors"

	"github.com/supabridge/supabridge/shared/openapi"
)

// Validator validates responses against the document. It is safe for
// concurrent use (validations run one at a time).
type Validator struct {
	mu sync.Mutex
	v  validator.Validator
}

// New loads the document, checks it against the OpenAPI 3.1 meta-schema
// and returns a Validator, or fails tb.
func New(tb testing.TB) *Validator {
	tb.Helper()
	v, err := Load()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// Load is New without a testing.TB.
func Load() (*Validator, error) {
	b, err := openapi.JSON()
	if err != nil {
		return nil, err
	}
	doc, err := libopenapi.NewDocument(b)
	if err != nil {
		return nil, fmt.Errorf("openapitest: %w", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapitest: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		var msgs []string
		for _, e := range verrs {
			msgs = append(msgs, e.Error())
		}
		return nil, fmt.Errorf("openapitest: the document is not valid OpenAPI 3.1: %s", strings.Join(msgs, "; "))
	}
	return &Validator{v: v}, nil
}

// Problems returns what is wrong with a response to req (nil when it
// matches the document).
func (v *Validator) Problems(req *http.Request, status int, header http.Header, body []byte) []string {
	resp := &http.Response{
		StatusCode: status, Header: header.Clone(), Request: req,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
	}
	v.mu.Lock()
	ok, errs := v.v.ValidateHttpResponse(req, resp)
	v.mu.Unlock()
	if ok {
		return nil
	}
	if status == http.StatusMethodNotAllowed && methodMissing(errs) {
		// A method the document does not list on a path it does: the
		// router's 405, which no operation can describe. It must still be
		// the error envelope, with Allow.
		return envelopeProblems(header, body)
	}
	var out []string
	for _, e := range errs {
		msg := e.Message
		if e.Reason != "" {
			msg += ": " + e.Reason
		}
		for _, se := range e.SchemaValidationErrors {
			msg += fmt.Sprintf(" [%s: %s]", se.FieldPath, se.Reason)
		}
		out = append(out, msg)
	}
	if len(out) == 0 {
		out = []string{"the response does not match the document"}
	}
	return out
}

func methodMissing(errs []*errors.ValidationError) bool {
	for _, e := range errs {
		if !strings.Contains(e.Message, "not found") || !strings.Contains(e.Reason, "method for that path does not exist") {
			return false
		}
	}
	return len(errs) > 0
}

// envelopeProblems checks a body against the error envelope's required
// members.
func envelopeProblems(header http.Header, body []byte) []string {
	var e struct {
		StatusCode *int    `json:"statusCode"`
		Error      *string `json:"error"`
		Message    *string `json:"message"`
		Code       *string `json:"code"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.StatusCode == nil || e.Error == nil || e.Message == nil || e.Code == nil {
		return []string{"a 405 without the error envelope"}
	}
	if header.Get("Allow") == "" {
		return []string{"a 405 without Allow"}
	}
	return nil
}

// Check fails tb when a response to req does not match the document.
func (v *Validator) Check(tb testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	tb.Helper()
	if p := v.Problems(req, status, header, body); p != nil {
		tb.Errorf("%s %s → %d does not match the OpenAPI document:\n  %s\nbody: %.600s", req.Method, req.URL.RequestURI(), status, strings.Join(p, "\n  "), body)
	}
}

// CheckRecorder is Check for a recorded response.
func (v *Validator) CheckRecorder(tb testing.TB, req *http.Request, rec *httptest.ResponseRecorder) {
	tb.Helper()
	v.Check(tb, req, rec.Code, rec.Header(), rec.Body.Bytes())
}
