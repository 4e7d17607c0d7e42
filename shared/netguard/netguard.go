// Package netguard keeps Supabridge's outbound connections to addresses
// outside its operator's trust (project URLs typed by end customers,
// webhook endpoints, proxied upstreams) on the public internet: without it,
// anyone who can name a URL could make Supabridge call cloud metadata
// services or the operator's internal network.
//
// Addresses are checked when a URL is accepted and again on every
// connection, on the addresses actually dialled, so a name that later
// resolves inside the network (DNS rebinding) is still refused.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// ErrNotPublic is what a lookup or connection to a non-public address
// fails with (wrapped, with the host).
var ErrNotPublic = errors.New("netguard: destination is not a public address")

// ErrNotFound reports a host that does not resolve.
var ErrNotFound = errors.New("netguard: host not found")

// blocked are ranges netip's predicates do not cover and that never hold a
// public service: "this network", shared address space (CGNAT, also home to
// some clouds' metadata services), IETF protocol assignments, the
// documentation and benchmarking networks, reserved space, and NAT64's
// local-use prefix.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// nat64 embeds an IPv4 address, which is checked in its place.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// PublicAddr reports whether ip is a public unicast address: not loopback,
// private, link-local (which holds 169.254.169.254, the metadata address),
// unique-local (fd00:ec2::254), shared (CGNAT), multicast, broadcast,
// unspecified, documentation or reserved.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	if ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	for _, p := range blocked {
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

// LoopbackHost reports whether host names the local machine (localhost, a
// .localhost name, or a loopback address).
func LoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// Resolver looks up a host's addresses; *net.Resolver implements it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Guard checks and dials destinations. The zero value allows public
// addresses only and uses the system resolver. Safe for concurrent use.
type Guard struct {
	// AllowPrivate allows every address: the local sandbox, whose
	// projects and receivers listen on 127.0.0.1.
	AllowPrivate bool
	// Resolver resolves hosts (nil: net.DefaultResolver).
	Resolver Resolver
}

func (g *Guard) resolver() Resolver {
	if g.Resolver != nil {
		return g.Resolver
	}
	return net.DefaultResolver
}

// Addrs resolves host (a name or a literal address) and returns its
// addresses, or an error wrapping ErrNotFound, or ErrNotPublic if any of
// them is not public (unless AllowPrivate): a name with one private address
// among public ones would still let a connection land inside.
func (g *Guard) Addrs(ctx context.Context, host string) ([]netip.Addr, error) {
	host = strings.Trim(host, "[]")
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip.Unmap()}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ips, err := g.resolver().LookupIPAddr(ctx, host)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, host)
		}
		for _, ip := range ips {
			a, ok := netip.AddrFromSlice(ip.IP)
			if !ok {
				return nil, fmt.Errorf("%w: %s", ErrNotFound, host)
			}
			addrs = append(addrs, a.Unmap())
		}
	}
	if g.AllowPrivate {
		return addrs, nil
	}
	for _, a := range addrs {
		if !PublicAddr(a) {
			return nil, fmt.Errorf("%w: %s", ErrNotPublic, host)
		}
	}
	return addrs, nil
}

// DialContext connects like net.Dialer, but resolves the host itself and
// dials only addresses that Addrs accepts.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	addrs, err := g.Addrs(ctx, host)
	if err != nil {
		return nil, err
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

// Transport returns an HTTP transport whose every connection goes through
// DialContext, with no proxy (a proxy would dial on our behalf, unchecked)
// and bounded handshake and header timeouts.
func (g *Guard) Transport() *http.Transport {
	return &http.Transport{
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Client returns an HTTP client over Transport that returns redirects
// rather than following them (a redirect must not carry a request, or its
// credentials, somewhere unchecked) and bounds whole exchanges by timeout.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: g.Transport(),
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
