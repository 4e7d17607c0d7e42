package supabase

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DefaultManagementURL is the Management API's base URL.
const DefaultManagementURL = "https://api.supabase.com"

// Default timeouts of the clients the constructors build.
const (
	// DefaultTimeout bounds a whole exchange, body included.
	DefaultTimeout = 60 * time.Second
	// DefaultResponseHeaderTimeout bounds the wait for response headers.
	DefaultResponseHeaderTimeout = 30 * time.Second
)

const userAgent = "supabridge"

// Client talks to one Supabase base URL: the Management API or one
// project. The constructors make one ready to use; its services are views
// over the same *http.Client and base URL. A Client is safe for concurrent
// use and never changes after construction. The zero value is not usable.
type Client struct {
	hc        *http.Client
	baseURL   *url.URL // always ends in "/"
	userAgent string
	secrets   []string // credentials this client sends, redacted from errors

	// Management is the Management API (a client made for api.supabase.com).
	Management *ManagementService
	// Auth is a project's Auth API under /auth/v1.
	Auth *AuthService
	// REST is a project's Data API (PostgREST) under /rest/v1.
	REST *RESTService
}

type service struct{ client *Client }

// ManagementService is the Management API's view of a Client.
type ManagementService service

// AuthService is the Auth (GoTrue) API's view of a Client.
type AuthService service

// RESTService is the Data API's (PostgREST) view of a Client.
type RESTService service

// Option configures a Client.
type Option func(*options)

type options struct {
	hc        *http.Client
	timeout   *time.Duration
	userAgent string
}

// WithHTTPClient makes the client send through a copy of hc: its Transport
// (nil: a transport with this package's timeouts) is wrapped with the
// credentials, and its Timeout kept (0: DefaultTimeout) unless WithTimeout
// is also given. hc itself is never modified.
func WithHTTPClient(hc *http.Client) Option { return func(o *options) { o.hc = hc } }

// WithTimeout bounds each whole exchange, body included (default
// DefaultTimeout; 0 disables it, for long streams bounded by their context).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = &d } }

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// newTransport is http.DefaultTransport's configuration with bounded
// dialing, handshakes and header waits.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: DefaultResponseHeaderTimeout,
	}
}

// NewClient returns a client for baseURL (which may carry a path, e.g. a
// proxy's "https://bridge.example/proxy") that adds no credentials: for
// callers that put their own authenticating RoundTripper in WithHTTPClient.
// It fails if baseURL is not an absolute http or https URL.
func NewClient(baseURL string, opts ...Option) (*Client, error) {
	return newClient(baseURL, nil, nil, opts)
}

// NewProjectClient returns a client for a project's APIs (Auth and REST)
// that authenticates with a project API key through APIKeyTransport.
// projectURL is the project's base URL, https://<ref>.supabase.co. It fails
// if projectURL is not an absolute http or https URL or key is empty.
func NewProjectClient(projectURL, key string, opts ...Option) (*Client, error) {
	if key == "" {
		return nil, errors.New("supabase: empty API key")
	}
	wrap := func(rt http.RoundTripper) http.RoundTripper { return &APIKeyTransport{Key: key, Base: rt} }
	return newClient(projectURL, wrap, []string{key}, opts)
}

// NewManagementClient returns a client for the Management API at baseURL
// (empty: DefaultManagementURL) that sends ts's tokens as bearer tokens,
// through golang.org/x/oauth2's Transport. An OAuth grant's token source
// refreshes as it needs; a personal access token works as
// oauth2.StaticTokenSource (see NewPersonalAccessTokenClient). It fails if
// baseURL is not an absolute http or https URL or ts is nil.
func NewManagementClient(baseURL string, ts oauth2.TokenSource, opts ...Option) (*Client, error) {
	if ts == nil {
		return nil, errors.New("supabase: nil token source")
	}
	if baseURL == "" {
		baseURL = DefaultManagementURL
	}
	wrap := func(rt http.RoundTripper) http.RoundTripper { return BearerTransport(ts, rt) }
	return newClient(baseURL, wrap, nil, opts)
}

// NewPersonalAccessTokenClient is NewManagementClient with a static
// personal access token (sbp_…).
func NewPersonalAccessTokenClient(baseURL, token string, opts ...Option) (*Client, error) {
	if token == "" {
		return nil, errors.New("supabase: empty access token")
	}
	c, err := NewManagementClient(baseURL, StaticToken(token), opts...)
	if err != nil {
		return nil, err
	}
	c.secrets = []string{token}
	return c, nil
}

func newClient(base string, wrap func(http.RoundTripper) http.RoundTripper, secrets []string, opts []Option) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("supabase: base URL %q is not an absolute http(s) URL", scrubURL(base))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("supabase: base URL must not carry credentials, a query or a fragment")
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	o := options{userAgent: userAgent}
	for _, opt := range opts {
		opt(&o)
	}
	hc := &http.Client{}
	if o.hc != nil {
		cp := *o.hc
		hc = &cp
	}
	switch {
	case o.timeout != nil:
		hc.Timeout = *o.timeout
	case hc.Timeout == 0:
		hc.Timeout = DefaultTimeout
	}
	if hc.Transport == nil {
		hc.Transport = newTransport()
	}
	if wrap != nil {
		hc.Transport = wrap(hc.Transport)
	}
	c := &Client{hc: hc, baseURL: u, userAgent: o.userAgent, secrets: secrets}
	c.Management = (*ManagementService)(&service{c})
	c.Auth = (*AuthService)(&service{c})
	c.REST = (*RESTService)(&service{c})
	return c, nil
}

// BaseURL returns a copy of the client's base URL (always ending in "/").
func (c *Client) BaseURL() *url.URL {
	u := *c.baseURL
	return &u
}

// HTTPClient returns the *http.Client requests go through, credentials
// transport included; callers must not modify it.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// NewRequest builds a request for path, relative to the base URL (no
// leading slash; a query string is allowed). A non-nil body is encoded as
// JSON unless it is an io.Reader, which is sent as is. It fails on an
// absolute path or URL, or a body that does not encode.
func (c *Client) NewRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	rel, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("supabase: invalid path: %w", err)
	}
	if rel.IsAbs() || rel.Host != "" || strings.HasPrefix(rel.Path, "/") {
		return nil, errors.New("supabase: request path must be relative to the base URL")
	}
	u := c.baseURL.ResolveReference(rel)
	var r io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		r = b
	default:
		buf := new(bytes.Buffer)
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(body); err != nil {
			return nil, fmt.Errorf("supabase: encode request body: %w", err)
		}
		r = buf
		contentType = "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, fmt.Errorf("supabase: %w", scrubError(err, c.secrets))
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	return req, nil
}

// Response is an HTTP response with what the list methods learned about
// paging and the rate limit. Zero paging fields mean "no such page".
type Response struct {
	*http.Response

	// NextPage and LastPage are page numbers of page-numbered lists (Auth
	// admin users), from the Link header.
	NextPage int
	LastPage int
	// NextOffset is where the next page of an offset-paged list
	// (organization projects, REST reads) starts.
	NextOffset int
	// Total is the number of items the server reported for the whole list
	// (X-Total-Count, Content-Range, a pagination object), or -1 when it
	// did not say.
	Total int64
	// Rate is the rate-limit state the response reported.
	Rate Rate
}

// Rate is the rate-limit state reported by X-RateLimit-* headers. Zero
// fields were not reported.
type Rate struct {
	Limit     int
	Remaining int
	// Reset is how long until the budget resets (X-RateLimit-Reset is in
	// seconds).
	Reset time.Duration
}

func newResponse(r *http.Response) *Response {
	resp := &Response{Response: r, Total: -1}
	if r != nil {
		resp.Rate = parseRate(r.Header)
	}
	return resp
}

func parseRate(h http.Header) Rate {
	var rt Rate
	if n, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Limit"))); err == nil && n >= 0 {
		rt.Limit = n
	}
	if n, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining"))); err == nil && n >= 0 {
		rt.Remaining = n
	}
	rt.Reset = parseSeconds(h.Get("X-RateLimit-Reset"))
	return rt
}

// parseSeconds reads a non-negative number of seconds (fractions allowed),
// capped at a day; anything else is 0.
func parseSeconds(v string) time.Duration {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || f != f {
		return 0
	}
	if f > 86400 {
		f = 86400
	}
	return time.Duration(f * float64(time.Second))
}

// Do sends req, checks the answer with CheckResponse and decodes a 2xx body
// into v: as JSON, or copied as is when v is an io.Writer; nil v discards
// it. The body is always closed. Errors are *APIError or *RateLimitError
// for non-2xx answers, the context's error when it ended, or a transport
// or decoding error; none contains a credential.
func (c *Client) Do(req *http.Request, v any) (*Response, error) {
	resp, err := c.BareDo(req)
	if err != nil {
		return resp, err
	}
	defer resp.Body.Close()
	switch w := v.(type) {
	case nil:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	case io.Writer:
		if _, err := io.Copy(w, resp.Body); err != nil {
			return resp, fmt.Errorf("supabase: read response: %w", scrubError(err, c.secrets))
		}
	default:
		if err := decodeJSON(resp.Body, v); err != nil {
			return resp, fmt.Errorf("supabase: decode %s %s: %w", req.Method, scrubURL(req.URL.Path), err)
		}
	}
	return resp, nil
}

// decodeJSON decodes one JSON value; an empty body leaves v untouched.
func decodeJSON(r io.Reader, v any) error {
	err := json.NewDecoder(r).Decode(v)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// BareDo sends req and checks the answer like Do, but leaves a 2xx body
// unread: the caller must close resp.Body. For a non-2xx answer the body
// is already read and closed.
func (c *Client) BareDo(req *http.Request) (*Response, error) {
	ctx := req.Context()
	r, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, fmt.Errorf("supabase: %w", scrubError(err, c.secrets))
	}
	resp := newResponse(r)
	if err := checkResponse(r, c.secrets); err != nil {
		_ = r.Body.Close()
		return resp, err
	}
	return resp, nil
}

// segment escapes one caller-supplied path segment; empty and dot segments
// are refused because they would change which resource the path names.
func segment(what, s string) (string, error) {
	if s == "" || s == "." || s == ".." {
		return "", fmt.Errorf("supabase: invalid %s %q", what, s)
	}
	return url.PathEscape(s), nil
}
