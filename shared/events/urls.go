package events

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/netguard"
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
		if !allowPrivate || !netguard.LoopbackHost(host) {
			return invalid("url must use https (http is accepted only for loopback hosts in the local sandbox).")
		}
	default:
		return invalid("url must use https.")
	}
	if allowPrivate {
		return nil
	}
	if netguard.LoopbackHost(host) {
		return invalid("url must not point to a loopback host.")
	}
	if ip, err := netip.ParseAddr(host); err == nil && !netguard.PublicAddr(ip) {
		return invalid("url must not point to a private or reserved address.")
	}
	return nil
}

// NewDeliveryClient returns the HTTP client deliveries go through: bounded
// connection, TLS and header timeouts, no proxy, redirects returned rather
// than followed, and, unless allowPrivate, connections only to public
// addresses (checked on the addresses dialled, so DNS cannot point a public
// name at an internal service).
func NewDeliveryClient(allowPrivate bool) *http.Client {
	g := &netguard.Guard{AllowPrivate: allowPrivate}
	c := g.Client(30 * time.Second)
	c.Transport.(*http.Transport).ResponseHeaderTimeout = 15 * time.Second
	return c
}
