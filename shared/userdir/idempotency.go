package userdir

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/logs"
	"github.com/supabridge/supabridge/shared/store"
)

// IdempotencyHeader names the caller's key on POST and PATCH.
const IdempotencyHeader = "Idempotency-Key"

// ReplayedHeader marks a response replayed for a repeated key.
const ReplayedHeader = "Idempotent-Replayed"

const (
	defaultIdempotencyTTL  = 24 * time.Hour
	defaultIdempotencyLock = 2 * time.Minute
)

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// fingerprint identifies a request: method, path, query (canonical order)
// and body. The same key with another fingerprint is a conflict.
func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	for _, s := range []string{r.Method, r.URL.EscapedPath(), r.URL.Query().Encode()} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func validKey(k string) bool {
	if len(k) == 0 || len(k) > store.MaxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// idempotent makes POST and PATCH with an Idempotency-Key safe to retry:
// the first request's response is kept (per environment, integrated
// account and key) and replayed to any later request with the same key
// and the same method, path, query and body; a different request under the
// key is a 409, as is one that arrives while the first is still running.
// Responses that invite a retry (5xx, 429) are not kept.
func (h *Handler) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(IdempotencyHeader)
		if key == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !validKey(key) {
			writeError(w, r, invalid(IdempotencyHeader, "%s must be 1 to %d visible ASCII characters.", IdempotencyHeader, store.MaxIdempotencyKey))
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				writeError(w, r, bridge.Errorf(bridge.ETOOLARGE, "The request body exceeds the limit of %d bytes.", mb.Limit))
				return
			}
			writeError(w, r, bridge.Errorf(bridge.EINVALID, "The request body could not be read."))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		ctx := r.Context()
		rec := &store.IdempotencyRecord{
			Environment: httpapi.Environment(r),
			Scope:       "userdir\x00" + r.URL.Query().Get("integrated_account_id"),
			Key:         key,
			Fingerprint: fingerprint(r, body),
		}
		prior, err := h.Idempotency.ClaimIdempotencyKey(ctx, rec, orDefault(h.IdempotencyLock, defaultIdempotencyLock), orDefault(h.IdempotencyTTL, defaultIdempotencyTTL))
		if err != nil {
			writeError(w, r, err)
			return
		}
		if prior != nil {
			replay(w, r, prior, rec.Fingerprint)
			return
		}
		buf := &bufferedWriter{header: http.Header{}}
		next.ServeHTTP(buf, r)
		status := buf.statusOrOK()
		keep := status < 500 && status != http.StatusTooManyRequests
		done := context.WithoutCancel(ctx)
		if keep {
			hdr := map[string][]string{}
			if ct := buf.header.Get("Content-Type"); ct != "" {
				hdr["Content-Type"] = []string{ct}
			}
			if err := h.Idempotency.CompleteIdempotencyKey(done, rec, status, hdr, buf.body.Bytes()); err != nil {
				logs.From(ctx).Warn("keep idempotent response", slog.String("error", logs.Scrub(err.Error())))
				keep = false
			}
		}
		if !keep {
			if err := h.Idempotency.ReleaseIdempotencyKey(done, rec); err != nil {
				logs.From(ctx).Warn("release idempotency key", slog.String("error", logs.Scrub(err.Error())))
			}
		}
		buf.flushTo(w, status)
	})
}

// replay answers a request whose key is already held.
func replay(w http.ResponseWriter, r *http.Request, prior *store.IdempotencyRecord, fp string) {
	switch {
	case prior.Fingerprint != fp:
		writeError(w, r, bridge.Errorf(bridge.EIDEMPOTENCY,
			"This %s was already used with a different request (method, path, query or body); send a new key for a new request.", IdempotencyHeader).
			WithDetails(map[string]any{"header": IdempotencyHeader}))
	case prior.State != store.IdempotencyComplete:
		writeError(w, r, bridge.Errorf(bridge.EIDEMPOTENCY,
			"A request with this %s is still being processed; retry once it has finished.", IdempotencyHeader).
			WithDetails(map[string]any{"header": IdempotencyHeader}))
	default:
		for k, vs := range prior.Header {
			w.Header()[http.CanonicalHeaderKey(k)] = vs
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set(ReplayedHeader, "true")
		w.WriteHeader(prior.Status)
		_, _ = w.Write(prior.Body)
	}
}

// bufferedWriter holds a response until its fate as an idempotent record
// is decided.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(s int) {
	if b.status == 0 {
		b.status = s
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) statusOrOK() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}

func (b *bufferedWriter) flushTo(w http.ResponseWriter, status int) {
	for k, vs := range b.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(status)
	_, _ = w.Write(b.body.Bytes())
}
