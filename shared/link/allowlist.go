package link

import (
	"net"
	"net/url"
	"strings"

	"github.com/supabridge/supabridge/shared/bridge"
)

// LocalEnvironment is the environment the local runner's key belongs to.
// Its redirect allowlist also admits any http://localhost or
// http://127.0.0.1 address, so a developer can link without configuring
// anything.
const LocalEnvironment = "local"

// maxRedirectURI bounds redirect URIs; the authorize endpoint allows 4 kB
// for its redirect_uri and state together, and ours travel in URLs too.
const maxRedirectURI = 2048

// Allowlist is an environment's redirect allowlist. An entry is either an
// exact URL, which a redirect_uri must equal byte for byte, or a prefix
// written with a trailing '*' whose part before the '*' ends in '/', which
// any redirect_uri starting with that part matches: the '/' keeps
// https://app.example.com/* from matching https://app.example.com.evil.test.
// The zero value allows nothing.
type Allowlist struct {
	Entries []string
	// Loopback also allows http and https URLs on localhost, 127.0.0.1 and
	// [::1] with any port and path.
	Loopback bool
}

// ValidateEntry checks one allowlist entry as an operator wrote it (the
// admin tool calls it before storing).
func ValidateEntry(entry string) error {
	prefix, isPrefix := strings.CutSuffix(entry, "*")
	if isPrefix && !strings.HasSuffix(prefix, "/") {
		return bridge.Errorf(bridge.EINVALID, "A prefix entry must end in \"/*\", for example https://app.example.com/callbacks/*.")
	}
	if strings.Contains(prefix, "*") {
		return bridge.Errorf(bridge.EINVALID, "Only a trailing '*' is allowed in an allowlist entry.")
	}
	_, err := parseRedirect(prefix)
	return err
}

// parseRedirect checks the shape every redirect URI must have: absolute
// http(s) with a host, no credentials, no fragment, https unless loopback.
func parseRedirect(raw string) (*url.URL, error) {
	bad := func(msg string) error { return bridge.Errorf(bridge.EINVALID, "%s", msg) }
	if raw == "" || len(raw) > maxRedirectURI {
		return nil, bad("redirect_uri must be an absolute URL of at most 2048 characters.")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, bad("redirect_uri must be an absolute http or https URL.")
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, bad("redirect_uri must not contain credentials or a fragment.")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return nil, bad("redirect_uri must use https (http is allowed only for localhost).")
		}
	default:
		return nil, bad("redirect_uri must be an absolute http or https URL.")
	}
	return u, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Check returns nil when redirectURI may be used, and an EINVALID error
// saying why not otherwise.
func (a Allowlist) Check(redirectURI string) error {
	u, err := parseRedirect(redirectURI)
	if err != nil {
		return err
	}
	if a.Loopback && isLoopbackHost(u.Hostname()) {
		return nil
	}
	for _, e := range a.Entries {
		if prefix, ok := strings.CutSuffix(e, "*"); ok {
			if strings.HasPrefix(redirectURI, prefix) {
				return nil
			}
		} else if redirectURI == e {
			return nil
		}
	}
	return bridge.Errorf(bridge.EINVALID, "redirect_uri is not on this environment's redirect allowlist; add it with `admin redirects add`.").
		WithDetails(map[string]any{"field": "redirect_uri"})
}

// AllowsOrigin reports whether a page at origin (scheme://host[:port]) may
// receive a link's result by postMessage: its origin must be that of an
// allowlisted redirect URI (or loopback, when allowed).
func (a Allowlist) AllowsOrigin(origin string) bool {
	u, err := parseRedirect(origin)
	if err != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return false
	}
	o := u.Scheme + "://" + u.Host
	if o != origin {
		return false
	}
	if a.Loopback && isLoopbackHost(u.Hostname()) {
		return true
	}
	for _, e := range a.Entries {
		eu, err := url.Parse(strings.TrimSuffix(e, "*"))
		if err == nil && eu.Scheme+"://"+eu.Host == o {
			return true
		}
	}
	return false
}
