package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/logs"
)

// RequestIDHeader carries the request ID on every request and response.
const RequestIDHeader = "X-Request-Id"

// Options configures Serve. The zero value is usable.
type Options struct {
	// Logger receives one line per request, plus errors; nil uses
	// slog.Default().
	Logger *slog.Logger
	// MaxBody limits request bodies (DefaultMaxBody when 0; negative: no
	// limit, for handlers that enforce their own).
	MaxBody int64
	// Now is the clock for request durations.
	Now func() time.Time
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:=+/-]{8,128}$`)

// NewRequestID returns a random request ID.
func NewRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// Serve wraps h with the conventions every function shares: a request ID
// (the caller's X-Request-Id when well-formed, otherwise a new one) on the
// response and on a request-scoped logger, a body size limit, recovery from
// panics as a 500 envelope, and one structured log line per request.
func Serve(h http.Handler, opts Options) http.Handler {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	maxBody := opts.MaxBody
	if maxBody == 0 {
		maxBody = DefaultMaxBody
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := now()
		id := r.Header.Get(RequestIDHeader)
		if !requestIDPattern.MatchString(id) {
			id = NewRequestID()
			r.Header.Set(RequestIDHeader, id)
		}
		w.Header().Set(RequestIDHeader, id)
		l := logger.With(slog.String("request_id", id))
		r = r.WithContext(logs.With(r.Context(), l))
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				l.Error("panic", slog.String("panic", logs.Scrub(fmt.Sprint(v))), slog.String("stack", string(debug.Stack())))
				if !rec.wrote {
					Error(rec, r, bridge.Errorf(bridge.EINTERNAL, "An internal error occurred."))
				}
			}
			logRequest(l, r, rec.status, start, now())
		}()
		LimitBody(h, maxBody).ServeHTTP(rec, r)
	})
}

// LimitBody answers 413 (in the envelope) to a request whose declared body
// is over max bytes and makes reading past max an error that Decode
// reports as ETOOLARGE. A max of 0 or less means no limit. Serve applies
// it; the local runner applies each function's own limit per route.
func LimitBody(h http.Handler, max int64) http.Handler {
	if max <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			if r.ContentLength > max {
				Error(w, r, bridge.Errorf(bridge.ETOOLARGE, "The request body exceeds the limit of %d bytes.", max))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		h.ServeHTTP(w, r)
	})
}

func logRequest(l *slog.Logger, r *http.Request, status int, start, end time.Time) {
	if status == 0 {
		status = http.StatusOK
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	l.LogAttrs(r.Context(), level, "request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(end.Sub(start).Microseconds())/1000),
	)
}

// statusRecorder remembers the status written, and passes Flush and Unwrap
// through so streaming handlers keep working.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wrote {
		s.status, s.wrote = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
