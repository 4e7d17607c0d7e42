package faults

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// Mount serves h under <admin prefix>/<name>/ on Handler, so another
// package (the Realtime server, say) can expose its own fault controls next
// to these. Mounting the same name again replaces the handler.
func (in *Injector) Mount(name string, h http.Handler) {
	in.mu.Lock()
	in.mounts[strings.Trim(name, "/")] = h
	in.mu.Unlock()
}

// ruleJSON is a Rule on the wire, with latency in milliseconds.
type ruleJSON struct {
	ID        string `json:"id,omitempty"`
	Match     Match  `json:"match"`
	Kind      Kind   `json:"kind"`
	LatencyMS int64  `json:"latency_ms,omitempty"`
	Status    int    `json:"status,omitempty"`
	Body      string `json:"body,omitempty"`
	Count     int    `json:"count,omitempty"`
	Remaining int    `json:"remaining,omitempty"`
}

// Handler serves the controls over HTTP, with paths relative to its mount
// point:
//
//	GET    /faults          the rules
//	POST   /faults          add a rule {"match":{...},"kind":"status","status":503,"count":2,"latency_ms":0,"body":""} → 201 {"id":...}
//	DELETE /faults          remove every rule
//	DELETE /faults/{id}     remove one rule
//	GET    /counts          the counters per server, route and credential hash
//	GET    /count?server=&method=&path=&route=&credential=   → {"count":n}
//	DELETE /counts          reset the counters
//	/<name>/...             a handler mounted with Mount
func (in *Injector) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		out := []ruleJSON{}
		for _, rule := range in.Rules() {
			out = append(out, ruleJSON{ID: rule.ID, Match: rule.Match, Kind: rule.Kind, LatencyMS: rule.Latency.Milliseconds(),
				Status: rule.Status, Body: rule.Body, Count: rule.Count, Remaining: rule.Remaining})
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var rj ruleJSON
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			err = json.Unmarshal(b, &rj)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "invalid rule: " + err.Error()})
			return
		}
		switch rj.Kind {
		case Latency, RateLimit, Drop:
		case Status:
			if rj.Status < 100 || rj.Status > 599 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"message": "status must be an HTTP status code"})
				return
			}
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "kind must be latency, status, rate_limit or drop"})
			return
		}
		if rj.Count < 0 || rj.LatencyMS < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "count and latency_ms must not be negative"})
			return
		}
		id := in.Add(Rule{Match: rj.Match, Kind: rj.Kind, Latency: time.Duration(rj.LatencyMS) * time.Millisecond,
			Status: rj.Status, Body: rj.Body, Count: rj.Count})
		writeJSON(w, http.StatusCreated, map[string]string{"id": id})
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		in.Clear()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !in.Remove(r.PathValue("id")) {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "no such rule"})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /counts", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, in.Counts())
	})
	mux.HandleFunc("DELETE /counts", func(w http.ResponseWriter, r *http.Request) {
		in.ResetCounts()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		m := Match{Server: q.Get("server"), Method: q.Get("method"), Path: q.Get("path"), Route: q.Get("route"), Credential: q.Get("credential")}
		writeJSON(w, http.StatusOK, map[string]int{"count": in.Count(m)})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		name, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		in.mu.Lock()
		h := in.mounts[name]
		in.mu.Unlock()
		if h == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + rest
		r2.URL.RawPath = ""
		h.ServeHTTP(w, r2)
	})
	return mux
}
