package link

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
)

// Resolver looks up a host's addresses; *net.Resolver implements it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

var _ Resolver = (*net.Resolver)(nil)

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

func (u *Upstreams) resolver() Resolver {
	if u.Resolver != nil {
		return u.Resolver
	}
	return net.DefaultResolver
}

// extraBlocked are ranges netip's predicates do not cover but that never
// hold a Supabase project: "this network", shared address space (CGNAT,
// also home to some clouds' metadata services), IETF protocol assignments,
// benchmarking, reserved, and NAT64 (whose embedded IPv4 is checked too).
var extraBlocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// PublicAddr reports whether ip is a public unicast address: not loopback,
// private, link-local (which holds 169.254.169.254, the metadata address),
// unique-local (fd00:ec2::254), shared (CGNAT), multicast, unspecified or
// reserved.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	if ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	for _, p := range extraBlocked {
		if p.Contains(ip) {
			return false
		}
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		return PublicAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	return true
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
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ips, err := u.resolver().LookupIPAddr(ctx, host)
		if err != nil || len(ips) == 0 {
			return nil, bridge.Errorf(bridge.EVALIDATION, "The project host %s could not be found.", host)
		}
		for _, ip := range ips {
			a, ok := netip.AddrFromSlice(ip.IP)
			if !ok {
				return nil, bridge.Errorf(bridge.EVALIDATION, "The project host %s could not be found.", host)
			}
			addrs = append(addrs, a.Unmap())
		}
	}
	for _, a := range addrs {
		if !PublicAddr(a) {
			return nil, bridge.Errorf(bridge.EVALIDATION, "The project host %s points to a private or reserved network address; only public Supabase projects can be linked.", host)
		}
	}
	return addrs, nil
}

// errPrivateDial is what a connection attempt to a non-public address
// fails with.
var errPrivateDial = errors.New("link: refusing to connect to a non-public address")

// DialContext connects to addr like net.Dialer, but resolves the host
// itself and connects only to addresses that pass PublicAddr (unless
// AllowPrivate). Checking the address actually dialled, not only the one
// seen when the URL was checked, defeats DNS rebinding.
func (u *Upstreams) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if u.AllowPrivate {
		return d.DialContext(ctx, network, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	addrs, err := u.publicAddrs(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", errPrivateDial, host)
	}
	var last error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// Client returns an HTTP client for project URLs: every connection goes
// through DialContext, no proxy is used (it would dial on our behalf,
// unchecked), redirects are returned rather than followed, and exchanges
// are bounded by timeout.
func (u *Upstreams) Client(timeout time.Duration) *http.Client {
	t := &http.Transport{
		DialContext:           u.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: t,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
