package events

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
)

// MaxURLLength bounds a webhook URL.
const MaxURLLength = 2048

// CheckWebhookURL validates a webhook endpoint: an absolute https URL
// without credentials or fragment. With allowPrivate (the local sandbox),
// http is accepted for loopback hosts and private addresses are allowed;
// without it, hosts that name loopback, private or reserved addresses are
// refused. It returns EINVALID with a message naming the problem.
func CheckWebhookURL(raw string, allowPrivate bool) error {
	invalid := func(format string, a ...any) error {
		return bridge.Errorf(bridge.EINVALID, format, a...).WithDetails(map[string]any{"field": "url"})
	}
	if raw == "" {
		return invalid("url is required.")
	}
	if len(raw) > MaxURLLength {
		return invalid("url is longer than %d characters.", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return invalid("url must be an absolute https URL.")
	}
	if u.User != nil {
		return invalid("url must not carry credentials; authenticate deliveries with the signature instead.")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return invalid("url must not have a fragment.")
	}
	host := u.Hostname()
	if host == "" {
		return invalid("url must name a host.")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !allowPrivate || !isLoopbackHost(host) {
			return invalid("url must use https (http is accepted only for loopback hosts in the local sandbox).")
		}
	default:
		return invalid("url must use https.")
	}
	if allowPrivate {
		return nil
	}
	if isLoopbackHost(host) {
		return invalid("url must not point to a loopback host.")
	}
	if ip, err := netip.ParseAddr(host); err == nil && !PublicAddr(ip) {
		return invalid("url must not point to a private or reserved address.")
	}
	return nil
}

func isLoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// PublicAddr reports whether ip is a public unicast address: not loopback,
// private, link-local (where cloud metadata services live), multicast,
// unspecified or reserved.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

var errPrivateAddress = errors.New("destination address is not public")

// NewDeliveryClient returns the HTTP client deliveries go through: bounded
// connection, TLS and header timeouts, no proxy, redirects returned rather
// than followed, and, unless allowPrivate, connections only to public
// addresses (checked on the dialed address, so DNS cannot point a public
// name at an internal service).
func NewDeliveryClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !PublicAddr(ap.Addr()) {
				return fmt.Errorf("dial %s: %w", address, errPrivateAddress)
			}
			return nil
		}
	}
	t := &http.Transport{
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 15 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: t,
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
