// Package faults injects failures into the local Supabase's HTTP servers on
// demand and counts the requests they receive, so tests can provoke latency,
// error statuses, 429 bursts and dropped connections, and assert facts such
// as "exactly one token call".
//
// One Injector serves every listener of a stack; each listener wraps its
// handler with Wrap under its own server name. Handler exposes the same
// controls over HTTP and lets other packages mount their own fault handlers
// beside them.
//
// It is test and sandbox infrastructure; no deployed function imports it.
package faults

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Kind is what a rule does to a matching request.
type Kind string

// Kinds of fault.
const (
	// Latency delays the request by Rule.Latency, then serves it.
	Latency Kind = "latency"
	// Status answers with Rule.Status (and Rule.Body) without serving it.
	Status Kind = "status"
	// RateLimit answers 429 the way the matched server does when its rate
	// limit is exhausted.
	RateLimit Kind = "rate_limit"
	// Drop closes the connection without answering. Go's HTTP client
	// retries an idempotent request once when a reused connection closes
	// this way, so a rule meant to be seen by such a client needs Count 2.
	Drop Kind = "drop"
)

// Match selects requests. Empty fields match anything.
type Match struct {
	// Server is the listener name given to Wrap ("management",
	// "api:<project ref>").
	Server string `json:"server,omitempty"`
	// Method is an HTTP method.
	Method string `json:"method,omitempty"`
	// Path is the exact URL path, or a prefix when it ends in "*".
	Path string `json:"path,omitempty"`
	// Route is the server's route label, e.g. "POST /v1/oauth/token" or
	// "GET /v1/projects/{ref}" on the Management API.
	Route string `json:"route,omitempty"`
	// Credential is the credential as the client sent it (bearer token,
	// OAuth client id, API key). Only a hash of it is kept.
	Credential string `json:"credential,omitempty"`
}

// Rule is one fault.
type Rule struct {
	ID    string `json:"id,omitempty"`
	Match Match  `json:"match"`
	Kind  Kind   `json:"kind"`
	// Latency for Kind Latency.
	Latency time.Duration `json:"latency,omitempty"`
	// Status and Body for Kind Status; Body defaults to {"message":"<status text>"}.
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
	// Count is how many matching requests the rule applies to; 0 means
	// until removed.
	Count int `json:"count,omitempty"`
	// Remaining is how many applications are left (Count > 0 only).
	Remaining int `json:"remaining,omitempty"`
}

// Request is what the injector knows about one request.
type Request struct {
	Server, Method, Path, Route string
	credHash                    string
}

// ServerOptions tell Wrap how to read one server's requests.
type ServerOptions struct {
	// Route labels a request (for counters and Match.Route); default
	// "METHOD /path".
	Route func(*http.Request) string
	// Credential extracts the credential a request carries; default the
	// bearer token, else the apikey header or query parameter.
	Credential func(*http.Request) string
	// TooManyRequests writes the server's own 429 answer for Kind RateLimit;
	// default a JSON {"message":"Too Many Requests"}.
	TooManyRequests func(http.ResponseWriter, *http.Request)
}

// Injector holds the rules and counters. Its methods are safe for concurrent
// use; the zero value is not usable, call New.
type Injector struct {
	mu     sync.Mutex
	rules  []*Rule
	nextID int
	counts map[Request]int
	mounts map[string]http.Handler
}

// New returns an Injector with no rules.
func New() *Injector {
	return &Injector{counts: map[Request]int{}, mounts: map[string]http.Handler{}}
}

// Add installs a rule and returns its id. Rules apply in the order added;
// the first matching Status, RateLimit or Drop rule ends the request, and
// every matching Latency rule before it adds its delay.
func (in *Injector) Add(r Rule) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.nextID++
	r.ID = "f" + itoa(in.nextID)
	r.Remaining = r.Count
	in.rules = append(in.rules, &r)
	return r.ID
}

// Remove deletes one rule; it reports whether it existed.
func (in *Injector) Remove(id string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i, r := range in.rules {
		if r.ID == id {
			in.rules = append(in.rules[:i], in.rules[i+1:]...)
			return true
		}
	}
	return false
}

// Clear removes every rule.
func (in *Injector) Clear() {
	in.mu.Lock()
	in.rules = nil
	in.mu.Unlock()
}

// Rules returns a copy of the installed rules.
func (in *Injector) Rules() []Rule {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]Rule, 0, len(in.rules))
	for _, r := range in.rules {
		out = append(out, *r)
	}
	return out
}

// AddLatency delays the next n matching requests (n = 0: all) by d.
func (in *Injector) AddLatency(m Match, d time.Duration, n int) string {
	return in.Add(Rule{Match: m, Kind: Latency, Latency: d, Count: n})
}

// FailNext answers the next n matching requests (n = 0: all) with status
// and body (empty: {"message":"<status text>"}).
func (in *Injector) FailNext(m Match, status int, body string, n int) string {
	return in.Add(Rule{Match: m, Kind: Status, Status: status, Body: body, Count: n})
}

// RateLimitNext answers the next n matching requests with the server's own
// 429, a burst of rate limiting.
func (in *Injector) RateLimitNext(m Match, n int) string {
	return in.Add(Rule{Match: m, Kind: RateLimit, Count: n})
}

// DropNext closes the connection of the next n matching requests.
func (in *Injector) DropNext(m Match, n int) string {
	return in.Add(Rule{Match: m, Kind: Drop, Count: n})
}

// Count returns how many requests matching m have been received (including
// those a fault answered) since the last ResetCounts.
func (in *Injector) Count(m Match) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for req, c := range in.counts {
		if m.matches(req) {
			n += c
		}
	}
	return n
}

// RouteCount is one row of Counts.
type RouteCount struct {
	Server string `json:"server"`
	Route  string `json:"route"`
	// Credential is a short hash of the credential ("" when none), enough to
	// tell credentials apart without revealing them.
	Credential string `json:"credential,omitempty"`
	Count      int    `json:"count"`
}

// Counts returns the counters per server, route and credential.
func (in *Injector) Counts() []RouteCount {
	in.mu.Lock()
	defer in.mu.Unlock()
	agg := map[[3]string]int{}
	for req, c := range in.counts {
		short := req.credHash
		if len(short) > 12 {
			short = short[:12]
		}
		agg[[3]string{req.Server, req.Route, short}] += c
	}
	out := make([]RouteCount, 0, len(agg))
	for k, c := range agg {
		out = append(out, RouteCount{Server: k[0], Route: k[1], Credential: k[2], Count: c})
	}
	return out
}

// ResetCounts zeroes every counter.
func (in *Injector) ResetCounts() {
	in.mu.Lock()
	in.counts = map[Request]int{}
	in.mu.Unlock()
}

func hashCred(c string) string {
	if c == "" {
		return ""
	}
	s := sha256.Sum256([]byte(c))
	return hex.EncodeToString(s[:])
}

func (m Match) matches(req Request) bool {
	if m.Server != "" && m.Server != req.Server {
		return false
	}
	if m.Method != "" && !strings.EqualFold(m.Method, req.Method) {
		return false
	}
	if m.Path != "" {
		if p, ok := strings.CutSuffix(m.Path, "*"); ok {
			if !strings.HasPrefix(req.Path, p) {
				return false
			}
		} else if m.Path != req.Path {
			return false
		}
	}
	if m.Route != "" && m.Route != req.Route {
		return false
	}
	if m.Credential != "" && hashCred(m.Credential) != req.credHash {
		return false
	}
	return true
}

// decide counts the request and returns the latency to add and the rule
// that ends it, if any.
func (in *Injector) decide(req Request) (time.Duration, *Rule) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.counts[req]++
	var delay time.Duration
	kept := in.rules[:0]
	var final *Rule
	for _, r := range in.rules {
		applies := final == nil && r.Match.matches(req)
		if applies {
			if r.Kind == Latency {
				delay += r.Latency
			} else {
				c := *r
				final = &c
			}
			if r.Count > 0 {
				r.Remaining--
				if r.Remaining <= 0 {
					continue // used up
				}
			}
		}
		kept = append(kept, r)
	}
	in.rules = kept
	return delay, final
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
