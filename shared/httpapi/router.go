package httpapi

import (
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/supabridge/supabridge/shared/bridge"
)

// Router is an http.ServeMux that answers unknown routes with a JSON 404 and
// wrong methods with a JSON 405 carrying Allow, and records its patterns so
// tests can compare them with the SAM template's routes. Register routes
// before serving; serving is safe for concurrent use.
type Router struct {
	mux      *http.ServeMux
	patterns []string
}

// NewRouter returns an empty Router.
func NewRouter() *Router { return &Router{mux: http.NewServeMux()} }

// Handle registers h for pattern ("METHOD /path/{param}").
func (rt *Router) Handle(pattern string, h http.Handler) {
	rt.mux.Handle(pattern, h)
	rt.patterns = append(rt.patterns, pattern)
}

// HandleFunc registers f for pattern.
func (rt *Router) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	rt.Handle(pattern, http.HandlerFunc(f))
}

// Patterns returns the registered patterns, sorted.
func (rt *Router) Patterns() []string {
	p := slices.Clone(rt.patterns)
	slices.Sort(p)
	return p
}

// ServeHTTP dispatches r. ServeMux's own 404 and 405 answers are plain text;
// they are replaced by the error envelope.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// ServeMux would redirect a path with "." or ".." segments or "//" to
	// its clean form; an API answers such a path plainly instead, so that
	// no client is sent somewhere it did not ask for.
	if p := r.URL.Path; p != "" && cleanPath(p) != p {
		Error(w, r, bridge.Errorf(bridge.EINVALID, "The request path is not canonical: it has '.', '..' or empty segments."))
		return
	}
	h, pattern := rt.mux.Handler(r)
	if pattern != "" {
		rt.mux.ServeHTTP(w, r)
		return
	}
	// No pattern matched: ask the mux what it would answer (404, 405, or a
	// redirect for a cleaned path) without letting it write.
	probe := &statusProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch probe.status {
	case http.StatusMethodNotAllowed:
		allow := probe.header.Get("Allow")
		w.Header().Set("Allow", allow)
		Error(w, r, bridge.Errorf(bridge.EMETHOD, "%s is not allowed on %s; allowed: %s.", r.Method, r.URL.Path, allow).
			WithDetails(map[string]any{"allow": strings.Split(allow, ", ")}))
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		Error(w, r, bridge.Errorf(bridge.ENOTFOUND, "No route matches %s %s.", r.Method, r.URL.EscapedPath()))
	default:
		Error(w, r, bridge.Errorf(bridge.ENOTFOUND, "No route matches %s %s.", r.Method, r.URL.EscapedPath()))
	}
}

// cleanPath is path.Clean that keeps a trailing slash, as ServeMux cleans.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// statusProbe records what the mux's fallback handler would write.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
func (p *statusProbe) WriteHeader(s int) {
	if p.status == 0 {
		p.status = s
	}
}
