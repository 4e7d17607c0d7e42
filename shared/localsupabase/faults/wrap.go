package faults

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Wrap returns next behind the injector under the server name: every
// request is counted, then delayed, failed or dropped as the rules say.
func (in *Injector) Wrap(server string, next http.Handler, opts ServerOptions) http.Handler {
	if opts.Route == nil {
		opts.Route = func(r *http.Request) string { return r.Method + " " + r.URL.Path }
	}
	if opts.Credential == nil {
		opts.Credential = DefaultCredential
	}
	if opts.TooManyRequests == nil {
		opts.TooManyRequests = func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "Too Many Requests"})
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := Request{Server: server, Method: r.Method, Path: r.URL.Path, Route: opts.Route(r), credHash: hashCred(opts.Credential(r))}
		delay, rule := in.decide(req)
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if rule == nil {
			next.ServeHTTP(w, r)
			return
		}
		switch rule.Kind {
		case Status:
			if rule.Body != "" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(rule.Status)
				_, _ = w.Write([]byte(rule.Body))
				return
			}
			writeJSON(w, rule.Status, map[string]string{"message": http.StatusText(rule.Status)})
		case RateLimit:
			opts.TooManyRequests(w, r)
		case Drop:
			hj, ok := w.(http.Hijacker)
			if !ok {
				panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
			}
			conn, _, err := hj.Hijack()
			if err == nil {
				_ = conn.Close()
			}
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// DefaultCredential is the bearer token, else the apikey header, else the
// apikey query parameter.
func DefaultCredential(r *http.Request) string {
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	if k := r.Header.Get("apikey"); k != "" {
		return k
	}
	return r.URL.Query().Get("apikey")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
