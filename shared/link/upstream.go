package link

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/netguard"
)

// Resolver looks up a host's addresses; *net.Resolver implements it.
type Resolver = netguard.Resolver

// Upstreams decides which project URLs an end customer may link and builds
// the HTTP client that reaches them. A project URL is typed by someone
// outside the operator's trust, so without these checks the link flow
// would let them make Supabridge call its own network (cloud metadata,
// internal services). The zero value allows public https hosts only and
// uses the system resolver. Safe for concurrent use.
type Upstreams struct {
	// AllowPrivate also allows http and loopback, private, link-local and
	// shared (CGNAT) addresses: the local sandbox, whose projects listen on
	// 127.0.0.1.
	AllowPrivate bool
	// Resolver resolves hosts, both when a URL is checked and again for
	// every connection (nil: net.DefaultResolver).
	Resolver Resolver
}

func (u *Upstreams) guard() *netguard.Guard {
	return &netguard.Guard{AllowPrivate: u.AllowPrivate, Resolver: u.Resolver}
}

// CheckURL parses a project URL as an end customer typed it and returns
// its canonical form (scheme://host[:port], lowercase, no path). It must be
// https (http too with AllowPrivate) with no credentials, query or
// fragment, and its host must resolve only to public addresses unless
// AllowPrivate. Errors are EVALIDATION with a message that names the host
// at most, never the whole input.
func (u *Upstreams) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	bad := func(msg string) error { return bridge.Errorf(bridge.EVALIDATION, "%s", msg) }
	if raw == "" {
		return nil, bad("Enter the project URL, for example https://abcdefghijklmnopqrst.supabase.co.")
	}
	p, err := url.Parse(raw)
	if err != nil || p.Host == "" || p.Opaque != "" {
		return nil, bad("Enter the project URL as a full address, for example https://abcdefghijklmnopqrst.supabase.co.")
	}
	scheme := strings.ToLower(p.Scheme)
	switch {
	case scheme == "https":
	case scheme == "http" && u.AllowPrivate:
	default:
		return nil, bad("The project URL must start with https://.")
	}
	if p.User != nil {
		return nil, bad("The project URL must not contain a user name or password.")
	}
	if p.RawQuery != "" || p.Fragment != "" || strings.Contains(raw, "#") || (p.Path != "" && p.Path != "/") {
		return nil, bad("Enter only the project's base URL, without a path or query, for example https://abcdefghijklmnopqrst.supabase.co.")
	}
	host := strings.ToLower(p.Hostname())
	if host == "" || len(host) > 253 {
		return nil, bad("The project URL has no valid host name.")
	}
	if port := p.Port(); port != "" {
		if n, err := net.LookupPort("tcp", port); err != nil || n == 0 {
			return nil, bad("The project URL has an invalid port.")
		}
	}
	out := &url.URL{Scheme: scheme, Host: strings.ToLower(p.Host)}
	if u.AllowPrivate {
		return out, nil
	}
	if _, err := u.publicAddrs(ctx, host); err != nil {
		return nil, err
	}
	return out, nil
}

// publicAddrs resolves host and returns its addresses, or EVALIDATION if it
// has none or any of them is not public: a name with one private address
// among public ones would still let a connection land inside.
func (u *Upstreams) publicAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := (&netguard.Guard{Resolver: u.Resolver}).Addrs(ctx, host)
	switch {
	case errors.Is(err, netguard.ErrNotPublic):
		return nil, bridge.Errorf(bridge.EVALIDATION, "The project host %s points to a private or reserved network address; only public Supabase projects can be linked.", host)
	case err != nil:
		return nil, bridge.Errorf(bridge.EVALIDATION, "The project host %s could not be found.", host)
	}
	return addrs, nil
}

// DialContext connects to addr like net.Dialer, but resolves the host
// itself and connects only to public addresses (unless AllowPrivate).
// Checking the address actually dialled, not only the one seen when the URL
// was checked, defeats DNS rebinding.
func (u *Upstreams) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return u.guard().DialContext(ctx, network, addr)
}

// Client returns an HTTP client for project URLs: every connection goes
// through DialContext, no proxy is used (it would dial on our behalf,
// unchecked), redirects are returned rather than followed, and exchanges
// are bounded by timeout.
func (u *Upstreams) Client(timeout time.Duration) *http.Client {
	return u.guard().Client(timeout)
}
