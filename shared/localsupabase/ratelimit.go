package localsupabase

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// rateLimiter is the Management API's fixed-window limiter: a budget per
// identity, scope and endpoint that resets when the window that began with
// the first request ends.
type rateLimiter struct {
	budget int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	windows map[string]*rateWindow
}

type rateWindow struct {
	start time.Time
	used  int
}

func newRateLimiter(budget int, window time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{budget: budget, window: window, now: now, windows: map[string]*rateWindow{}}
}

// take spends one request of key's budget, writes the X-RateLimit headers
// and reports whether the request may proceed.
func (l *rateLimiter) take(w http.ResponseWriter, key string) bool {
	if l.budget < 0 {
		return true
	}
	now := l.now()
	l.mu.Lock()
	win := l.windows[key]
	if win == nil || !now.Before(win.start.Add(l.window)) {
		win = &rateWindow{start: now}
		l.windows[key] = win
		if len(l.windows) > 10000 {
			l.pruneLocked(now)
		}
	}
	win.used++
	used, reset := win.used, win.start.Add(l.window).Sub(now)
	l.mu.Unlock()

	remaining := l.budget - used
	if remaining < 0 {
		remaining = 0
	}
	secs := int((reset + time.Second - 1) / time.Second)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(l.budget))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.Itoa(secs))
	return used <= l.budget
}

func (l *rateLimiter) pruneLocked(now time.Time) {
	for k, w := range l.windows {
		if !now.Before(w.start.Add(l.window)) {
			delete(l.windows, k)
		}
	}
}
