package supabase

import (
	"net/http"

	"golang.org/x/oauth2"
)

// APIKeyTransport authenticates requests to a project's APIs with a project
// API key, as supabase-js does: the key in the apikey header, and, unless
// the request already carries an Authorization header (a user's access
// token, to act as that user under RLS), also as "Authorization: Bearer
// <key>". The gateway accepts an sb_publishable_/sb_secret_ key as a bearer
// only when it equals apikey exactly, which this always sends; it then
// forwards a short-lived JWT for the key's role.
//
// The request is cloned before headers are added. An APIKeyTransport is
// safe for concurrent use; do not change its fields while it is in use.
type APIKeyTransport struct {
	// Key is the project API key: a legacy anon/service_role JWT,
	// sb_publishable_… or sb_secret_….
	Key string
	// Base sends the request; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *APIKeyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("apikey", t.Key)
	if r.Header.Get("Authorization") == "" {
		r.Header.Set("Authorization", "Bearer "+t.Key)
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// String keeps the key out of anything that prints the transport.
func (t *APIKeyTransport) String() string { return "supabase.APIKeyTransport{Key: [REDACTED]}" }

// GoString keeps the key out of %#v.
func (t *APIKeyTransport) GoString() string { return t.String() }

// BearerTransport returns a RoundTripper that sends ts's access token as
// "Authorization: Bearer <token>" on a clone of each request, then passes
// it to base (nil: http.DefaultTransport). It is golang.org/x/oauth2's
// Transport; token errors are returned from RoundTrip.
func BearerTransport(ts oauth2.TokenSource, base http.RoundTripper) http.RoundTripper {
	return &oauth2.Transport{Source: ts, Base: base}
}

// StaticToken is a TokenSource that always returns token, for personal
// access tokens (sbp_…), which do not refresh.
func StaticToken(token string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Bearer"})
}
