package proxy

import (
	"net/url"
	"strings"

	"github.com/supabridge/supabridge/shared/bridge"
)

// api is the Supabase API a proxied path names.
type api uint8

const (
	apiManagement api = iota + 1 // /v1/...           → the Management API
	apiREST                      // /rest/v1/...      → the project's Data API
	apiAuth                      // /auth/v1/...      → the project's Auth
	apiStorage                   // /storage/v1/...   → the project's Storage
	apiFunctions                 // /functions/v1/... → the project's Edge Functions
	apiGraphQL                   // /graphql/v1       → the project's GraphQL
)

// prefixes maps the first path segment to its API; Management API paths
// start with "v1" itself, the project's with "<name>/v1".
var prefixes = map[string]api{
	"rest":      apiREST,
	"auth":      apiAuth,
	"storage":   apiStorage,
	"functions": apiFunctions,
	"graphql":   apiGraphQL,
}

// Prefix is where the proxy's routes start.
const Prefix = "/proxy/"

// maxPathLength bounds the escaped path after Prefix; Supabase's own paths
// (a table, a storage object key of at most 1024 characters) fit easily.
const maxPathLength = 4096

// route is a checked proxied path.
type route struct {
	api api
	// escaped is the path to send upstream, relative to the API's base
	// URL and starting with the API's own prefix ("rest/v1/…"), exactly as
	// the caller escaped it; decoded is the same path unescaped once.
	escaped, decoded string
}

func (r route) project() bool { return r.api != apiManagement }

// parsePath checks the escaped path after Prefix. It refuses anything that
// could make the upstream see a different path than the one checked here:
// dot segments, empty segments, encoded slashes, dots or backslashes (also
// double-encoded), literal backslashes, control characters and absolute
// URLs are EINVALID; an unknown API prefix is ENOTFOUND. Only the path is
// ever checked: the host always comes from the account.
func parsePath(escaped string) (route, error) {
	bad := func(why string) (route, error) {
		return route{}, bridge.Errorf(bridge.EINVALID, "The proxied path is not allowed: %s.", why).
			WithDetails(map[string]any{"reason": why})
	}
	if escaped == "" {
		return route{}, notFound()
	}
	if len(escaped) > maxPathLength {
		return bad("it is longer than 4096 characters")
	}
	if strings.HasPrefix(escaped, "/") || strings.Contains(strings.SplitN(escaped, "/", 2)[0], ":") {
		return bad("it names an absolute URL; name a path under one of Supabase's API prefixes")
	}
	lower := strings.ToLower(escaped)
	for _, enc := range []string{"%2f", "%2e", "%5c", "%00"} {
		if strings.Contains(lower, enc) {
			return bad("it contains an encoded slash, dot, backslash or NUL")
		}
	}
	decoded, err := url.PathUnescape(escaped)
	if err != nil {
		return bad("it is not validly percent-encoded")
	}
	// A second decoding by anything upstream must not reveal separators
	// either.
	if low := strings.ToLower(decoded); strings.Contains(low, "%2f") || strings.Contains(low, "%2e") || strings.Contains(low, "%5c") {
		return bad("it contains a double-encoded slash, dot or backslash")
	}
	for i := 0; i < len(decoded); i++ {
		switch c := decoded[i]; {
		case c == '\\':
			return bad("it contains a backslash")
		case c < 0x20 || c == 0x7f:
			return bad("it contains a control character")
		}
	}
	segs := strings.Split(decoded, "/")
	for i, s := range segs {
		switch {
		case s == "." || s == "..":
			return bad("it contains a dot segment")
		case s == "" && i != len(segs)-1:
			return bad("it contains an empty segment")
		}
	}
	r := route{escaped: escaped, decoded: decoded}
	switch {
	case segs[0] == "v1":
		r.api = apiManagement
		if len(segs) < 2 || segs[1] == "" {
			return route{}, notFound()
		}
	case len(segs) >= 2 && segs[1] == "v1" && prefixes[segs[0]] != 0:
		r.api = prefixes[segs[0]]
	case segs[0] == "realtime":
		return route{}, bridge.Errorf(bridge.ENOTFOUND,
			"Realtime cannot pass through the proxy: API Gateway HTTP APIs carry no WebSockets. Use Supabridge's realtime capability.").
			WithDetails(map[string]any{"prefixes": prefixList})
	default:
		return route{}, notFound()
	}
	return r, nil
}

var prefixList = []string{"/proxy/v1/", "/proxy/rest/v1/", "/proxy/auth/v1/", "/proxy/storage/v1/", "/proxy/functions/v1/", "/proxy/graphql/v1"}

func notFound() error {
	return bridge.Errorf(bridge.ENOTFOUND, "No Supabase API under this path; the proxy serves %s.", strings.Join(prefixList, ", ")).
		WithDetails(map[string]any{"prefixes": prefixList})
}

// join appends a checked route to an upstream base URL (which may carry a
// path of its own), keeping the caller's escaping.
func join(base *url.URL, r route, rawQuery string) *url.URL {
	u := *base
	bp := strings.TrimSuffix(base.Path, "/")
	u.Path = bp + "/" + r.decoded
	u.RawPath = strings.TrimSuffix(base.EscapedPath(), "/") + "/" + r.escaped
	if u.RawPath == u.Path {
		u.RawPath = ""
	}
	u.RawQuery = rawQuery
	u.ForceQuery = false
	u.Fragment, u.RawFragment = "", ""
	return &u
}
