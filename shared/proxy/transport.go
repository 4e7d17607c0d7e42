package proxy

import (
	"bytes"
	"context"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/netguard"
)

// NewTransport returns the transport to Supabase: connections only to
// public addresses (unless allowPrivate, for the local sandbox), checked
// at every dial so DNS cannot be turned against the check; no
// environment proxy (it would dial unchecked); and no transparent
// decompression, so bodies and Content-Encoding pass through as Supabase
// sent them.
func NewTransport(allowPrivate bool) *http.Transport {
	t := (&netguard.Guard{AllowPrivate: allowPrivate}).Transport()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 150 * time.Second // Edge Functions may run this long
	t.DisableCompression = true
	return t
}

// retrier is the ReverseProxy's transport: it sends a request and, when
// the answer allows, sends it again: once after Supabase rejected the
// account's credentials and they were renewed, and up to Handler.Retries
// times for idempotent requests that met a connection error, 502, 503 or
// 504.
type retrier struct {
	h    *Handler
	base http.RoundTripper
}

// rejectionPeek is how much of a project's 401 body is read to tell the
// gateway's "Invalid API key" (the account's key) from a 401 of the
// service behind it (a user's expired token, a missing grant).
const rejectionPeek = 4 << 10

func (t *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	c := callFrom(req.Context())
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if c == nil {
		return base.RoundTrip(req)
	}
	ctx := req.Context()
	cur := req
	renewed := false
	for attempt := 0; ; attempt++ {
		resp, err := base.RoundTrip(cur)
		var wait time.Duration
		switch {
		case err != nil:
			if !c.canRetry(attempt) || ctx.Err() != nil {
				return nil, err
			}
			wait = t.h.backoff(attempt, 0)
		case resp.StatusCode == http.StatusUnauthorized && !renewed && c.replayable:
			resp, retry := c.renew(ctx, resp)
			if !retry {
				return resp, nil
			}
			renewed = true
			attempt--
			cur = c.again(req)
			continue
		case retryStatus(resp.StatusCode) && c.canRetry(attempt):
			wait = t.h.backoff(attempt, retryAfter(resp.Header, t.h.now()))
			if wait < 0 || !t.h.fits(ctx, wait) {
				return resp, nil
			}
			drain(resp)
		default:
			return resp, nil
		}
		if err != nil && !t.h.fits(ctx, wait) {
			return nil, err
		}
		if serr := sleep(ctx, wait); serr != nil {
			return nil, serr
		}
		cur = c.again(req)
	}
}

func (c *call) canRetry(attempt int) bool {
	return c.idempotent && c.replayable && attempt < c.h.retries()
}

func retryStatus(s int) bool {
	return s == http.StatusBadGateway || s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout
}

func (h *Handler) retries() int {
	if h.Retries > 0 {
		return h.Retries
	}
	return 2
}

// backoff is the wait before retry attempt+1: RetryBase doubling, with
// full jitter over its upper half, or Retry-After when that is longer; -1
// when Retry-After asks for more than MaxRetryAfter.
func (h *Handler) backoff(attempt int, after time.Duration) time.Duration {
	base := h.RetryBase
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	d := base << attempt
	d = d/2 + time.Duration(mrand.Int64N(int64(d/2)+1))
	maxAfter := h.MaxRetryAfter
	if maxAfter <= 0 {
		maxAfter = 10 * time.Second
	}
	if after > maxAfter {
		return -1
	}
	return max(d, after)
}

// retryMargin is what a retry must leave of the request's deadline for the
// retried exchange itself.
const retryMargin = time.Second

// fits reports whether waiting d still leaves the retry time to run
// before the request's deadline (on Lambda, the function's).
func (h *Handler) fits(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || dl.Sub(h.now()) > d+retryMargin
}

// retryAfter reads Retry-After as seconds or an HTTP date; 0 when absent
// or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// drain reads a little of a discarded response so its connection can be
// reused, then closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// again is the request to send next: a copy with a fresh body and the
// credentials as they now stand.
func (c *call) again(req *http.Request) *http.Request {
	r := req.Clone(req.Context())
	if req.GetBody != nil && req.Body != nil {
		if b, err := req.GetBody(); err == nil {
			r.Body = b
		}
	}
	c.authorize(r.Header)
	return r
}

// renew handles a 401. It decides whether Supabase rejected the account's
// credential (any 401 from the Management API; the gateway's "Invalid API
// key" from a project) and, if so, renews it: an OAuth grant is refreshed
// once (single flight), a project key fetched again, a rejected project or
// access key marks the account needs_reauth. retry is true when a new
// credential is in place; otherwise resp is returned to the caller as
// Supabase sent it.
func (c *call) renew(ctx context.Context, resp *http.Response) (_ *http.Response, retry bool) {
	a := c.h.Access
	if !c.route.project() {
		next, err := a.Rejected(ctx, c.acct, c.cred)
		if err != nil || bearerOf(next) == bearerOf(c.cred) {
			return resp, false
		}
		drain(resp)
		c.cred = next
		return nil, true
	}
	prefix, _ := io.ReadAll(io.LimitReader(resp.Body, rejectionPeek))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(prefix), resp.Body), resp.Body}
	if !bytes.Contains(prefix, []byte("Invalid API key")) {
		return resp, false
	}
	var key string
	if c.acct.AuthMethod == bridge.AuthAPIKey {
		next, err := a.Rejected(ctx, c.acct, c.cred)
		if err != nil {
			return resp, false
		}
		c.cred, key = next, next.APIKey.Reveal()
	} else {
		if err := a.ProjectKeyRejected(ctx, c.acct, c.ref); err != nil {
			return resp, false
		}
		pk, err := a.ProjectKey(ctx, c.acct, c.ref)
		if err != nil {
			return resp, false
		}
		key = pk.Key.Reveal()
	}
	if key == "" || key == c.key {
		return resp, false
	}
	drain(resp)
	c.key = key
	return nil, true
}

func bearerOf(c bridge.Credential) string {
	if c.Method == bridge.AuthAccessToken {
		return c.PersonalAccessToken.Reveal()
	}
	return c.AccessToken.Reveal()
}
