// Package proxy is Supabridge's passthrough to every Supabase API: a request
// to /proxy/<Supabase path> is sent, 1 to 1, to the Supabase host of the
// integrated account it names, with the operator's credentials taken out
// and the account's put in, so that the official clients (supabase-js
// created with "<Supabridge URL>/proxy" as its project URL) work through it
// without ever holding the customer's key.
//
// Paths keep Supabase's own prefixes: /proxy/v1/… reaches the Management
// API; /proxy/rest/v1, /auth/v1, /storage/v1, /functions/v1 and /graphql/v1
// reach the account's project (an organization account names it with
// X-Supabase-Project-Ref). The operator's API key comes as
// "Authorization: Bearer" or "apikey", the account as X-Integrated-Account-Id
// or the integrated_account_id query parameter.
//
// It is an httputil.ReverseProxy with Rewrite: bodies stream both ways,
// upstream statuses, headers and bodies come back unchanged and marked
// X-Supabridge-Remote: true, and Supabridge's own refusals use the error
// envelope. A 401 on an OAuth grant (or on a rotated project key) is
// answered by one refresh and one retry when the body can be replayed;
// idempotent requests that meet a connection error, 502, 503 or 504 are
// retried at most twice with jittered backoff, honouring Retry-After and the
// request's deadline. Redirects are returned, never followed.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/supabridge/supabridge/shared/access"
	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/credentials"
	"github.com/supabridge/supabridge/shared/cursor"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/logs"
	"github.com/supabridge/supabridge/shared/netguard"
)

// Headers the proxy reads and never forwards.
const (
	HeaderAccount    = "X-Integrated-Account-Id"
	HeaderProjectRef = "X-Supabase-Project-Ref"
	// HeaderRemote marks every response that came from Supabase.
	HeaderRemote = "X-Supabridge-Remote"
)

// Limits.
const (
	// LambdaPayloadLimit is Lambda's synchronous payload limit (6 MB), for
	// the invocation event and for the response alike.
	LambdaPayloadLimit = 6 << 20
	// MaxRequestBody is the default request body limit: a body that could
	// not reach a deployed function anyway is refused with 413 everywhere.
	MaxRequestBody = LambdaPayloadLimit
	// ReplayLimit is the largest request body kept in memory so that it
	// can be sent again (after a refresh or a retry); larger bodies stream
	// and are never retried.
	ReplayLimit = 64 << 10
)

// Access resolves accounts, credentials and project keys;
// *access.Resolver implements it.
type Access interface {
	Account(ctx context.Context, env, id string) (*bridge.Account, error)
	Credential(ctx context.Context, acct *bridge.Account) (bridge.Credential, error)
	Rejected(ctx context.Context, acct *bridge.Account, cred bridge.Credential) (bridge.Credential, error)
	ProjectKey(ctx context.Context, acct *bridge.Account, ref string) (access.ProjectKey, error)
	ProjectKeyRejected(ctx context.Context, acct *bridge.Account, ref string) error
}

var _ Access = (*access.Resolver)(nil)

// Authenticator checks operator API keys; *httpapi.Authenticator
// implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (httpapi.Principal, error)
}

var _ Authenticator = (*httpapi.Authenticator)(nil)

// Handler serves /proxy/. Set its fields before the first request; it is
// safe for concurrent use afterwards. The zero value is not usable: New
// fills it.
type Handler struct {
	Access  Access
	Auth    Authenticator
	Cursors *cursor.Signer
	// ManagementURL is the Management API's base URL.
	ManagementURL *url.URL
	// Transport carries requests to Supabase (NewTransport: dials only
	// public addresses unless told otherwise, never decompresses).
	Transport http.RoundTripper
	// MaxBody limits request bodies (MaxRequestBody when 0).
	MaxBody int64
	// MaxResponse, when positive, limits response bodies to what a
	// buffering runtime can return (LambdaPayloadLimit on Lambda, whose
	// API Gateway adapter cannot stream and base64-encodes binary bodies);
	// zero streams any size.
	MaxResponse int64
	// Retries (2) bounds the retries of one idempotent request; RetryBase
	// (200 ms) is the first backoff, doubled each time and jittered;
	// MaxRetryAfter (10 s) is the longest Retry-After waited for. Zero
	// means the default.
	Retries       int
	RetryBase     time.Duration
	MaxRetryAfter time.Duration
	// Now is the clock of retry deadlines (nil: time.Now).
	Now    func() time.Time
	Logger *slog.Logger

	once sync.Once
	rp   *httputil.ReverseProxy
}

// Mount registers the proxy's routes on rt, wired to a.
func Mount(rt *httpapi.Router, a *app.App) { New(a).Register(rt) }

// New returns a Handler wired to a: its API keys, its account resolver
// (with its own credential manager) and its cursor signer, reaching
// Supabase through NewTransport.
func New(a *app.App) *Handler {
	mgmt, err := url.Parse(strings.TrimRight(a.Config.ManagementAPIURL, "/"))
	if err != nil {
		// app.ConfigFromEnv validated it.
		panic("proxy: management URL: " + err.Error())
	}
	return &Handler{
		Access:        access.New(a, credentials.New(a, events.New(a))),
		Auth:          a.Auth,
		Cursors:       a.Cursors,
		ManagementURL: mgmt,
		Transport:     NewTransport(a.Config.AllowPrivateUpstreams),
		Logger:        a.Logger,
	}
}

// Methods are the HTTP methods the proxy passes through.
var Methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// Register adds the proxy's route, /proxy/{path...} for every method (API
// Gateway's ANY /proxy/{path+}), to rt. The router refuses dot segments and
// doubled slashes before the Handler sees them; the Handler refuses methods
// outside Methods.
func (h *Handler) Register(rt *httpapi.Router) {
	rt.Handle(Prefix+"{path...}", h)
}

// allowed reports whether the proxy passes method through.
func allowed(method string) bool {
	for _, m := range Methods {
		if m == method {
			return true
		}
	}
	return false
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) maxBody() int64 {
	if h.MaxBody > 0 {
		return h.MaxBody
	}
	return MaxRequestBody
}

func (h *Handler) proxy() *httputil.ReverseProxy {
	h.once.Do(func() {
		h.rp = &httputil.ReverseProxy{
			Rewrite:        rewrite,
			Transport:      &retrier{h: h, base: h.Transport},
			ModifyResponse: h.modifyResponse,
			ErrorHandler:   h.proxyError,
			BufferPool:     bufferPool{},
			ErrorLog:       slog.NewLogLogger(h.logger().Handler(), slog.LevelWarn),
		}
	})
	return h.rp
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// ServeHTTP proxies one request, or answers with the error envelope when
// the request cannot be proxied.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !allowed(r.Method) {
		w.Header().Set("Allow", strings.Join(Methods, ", "))
		httpapi.Error(w, r, bridge.Errorf(bridge.EMETHOD, "%s is not passed through; the proxy passes %s.", r.Method, strings.Join(Methods, ", ")))
		return
	}
	c, err := h.prepare(w, r)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	h.proxy().ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
}

// prepare checks the request and resolves everything the upstream call
// needs. On a warm function it reads nothing from the store or the vault.
func (h *Handler) prepare(w http.ResponseWriter, r *http.Request) (*call, error) {
	op, err := operatorCredentials(r)
	if err != nil {
		return nil, err
	}
	p, err := h.Auth.Authenticate(r.Context(), op.key)
	if err != nil {
		return nil, err
	}
	escaped, ok := strings.CutPrefix(r.URL.EscapedPath(), Prefix)
	if !ok {
		return nil, notFound()
	}
	rt, err := parsePath(escaped)
	if err != nil {
		return nil, err
	}
	q := splitQuery(r.URL.RawQuery)
	id, err := accountID(r, q)
	if err != nil {
		return nil, err
	}
	if r.ContentLength > h.maxBody() {
		return nil, tooLarge(h.maxBody())
	}
	ctx := r.Context()
	acct, err := h.Access.Account(ctx, p.Environment, id)
	if err != nil {
		return nil, err
	}
	if acct.Status == bridge.StatusNeedsReauth {
		return nil, bridge.Errorf(bridge.ENEEDSREAUTH, "Integrated account %s needs to be reconnected.", acct.ID).
			WithDetails(map[string]any{"integrated_account_id": acct.ID, "status": acct.Status})
	}
	c := &call{h: h, route: rt, acct: acct, idempotent: idempotent(r.Method)}
	if err := h.target(ctx, c, r, op, q); err != nil {
		return nil, err
	}
	if err := h.body(w, r, c); err != nil {
		return nil, err
	}
	return c, nil
}

// target decides where the request goes and with which credential.
func (h *Handler) target(ctx context.Context, c *call, r *http.Request, op operator, q query) error {
	forward := q.forward
	if q.responseFormat != "" || q.nextCursor != "" {
		u, err := h.unifiedRequest(c, r, q)
		if err != nil {
			return err
		}
		c.unified = u
		if u.offset > 0 || u.limit > 0 {
			forward = setPage(forward, u.offset, u.limit)
		}
	}
	if !c.route.project() {
		if c.acct.AuthMethod.Plane() != bridge.PlaneOrganization {
			return bridge.Errorf(bridge.EUNPROCESSABLE,
				"Integrated account %s was linked with a project API key; it reaches that project's APIs, not the Management API.", c.acct.ID).
				WithDetails(map[string]any{"authentication_method": c.acct.AuthMethod})
		}
		cred, err := h.Access.Credential(ctx, c.acct)
		if err != nil {
			return err
		}
		c.cred = cred
		c.target = join(h.ManagementURL, c.route, forward)
		return nil
	}
	c.userAuth = op.userAuth
	ref := strings.TrimSpace(r.Header.Get(HeaderProjectRef))
	var base string
	if c.acct.AuthMethod == bridge.AuthAPIKey {
		if ref != "" && ref != c.acct.ProjectRef {
			return bridge.Errorf(bridge.EINVALID, "This integrated account is linked to project %s only.", c.acct.ProjectRef)
		}
		cred, err := h.Access.Credential(ctx, c.acct)
		if err != nil {
			return err
		}
		c.cred, c.key, base = cred, cred.APIKey.Reveal(), c.acct.ProjectURL
	} else {
		if ref == "" {
			return bridge.Errorf(bridge.EINVALID, "Integrated account %s is an organization; name the project with the %s header.", c.acct.ID, HeaderProjectRef).
				WithDetails(map[string]any{"header": HeaderProjectRef})
		}
		pk, err := h.Access.ProjectKey(ctx, c.acct, ref)
		if err != nil {
			return err
		}
		c.ref, c.key, base = ref, pk.Key.Reveal(), pk.URL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return bridge.Errorf(bridge.EINTERNAL, "The account's project URL is not usable.").WithCause(errors.New("unparsable project URL"))
	}
	c.target = join(u, c.route, forward)
	return nil
}

// body limits the request body and keeps a small one for a replay.
func (h *Handler) body(w http.ResponseWriter, r *http.Request, c *call) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		c.replayable = true
		return nil
	}
	limited := http.MaxBytesReader(w, r.Body, h.maxBody())
	if r.ContentLength > ReplayLimit {
		r.Body = limited
		return nil
	}
	// Known and small, or of unknown length: read up to ReplayLimit.
	buf := make([]byte, 0, min(max(r.ContentLength, 512), ReplayLimit+1))
	b := bytes.NewBuffer(buf)
	n, err := b.ReadFrom(io.LimitReader(limited, ReplayLimit+1))
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return tooLarge(h.maxBody())
	case err != nil:
		return bridge.Errorf(bridge.EINVALID, "The request body could not be read.")
	case n > ReplayLimit:
		// Of unknown length and large: stream what was read, then the rest.
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b.Bytes()), limited), limited}
		return nil
	}
	body := b.Bytes()
	r.ContentLength = int64(len(body))
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	c.replayable = true
	return nil
}

func tooLarge(limit int64) error {
	return bridge.Errorf(bridge.ETOOLARGE, "The request body exceeds the proxy's limit of %d bytes (Lambda's payload limit).", limit).
		WithDetails(map[string]any{"limit": limit})
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// callKey carries the *call from ServeHTTP to Rewrite, the transport and
// ModifyResponse.
type callKey struct{}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// rewrite builds the outbound request: the account's URL, the caller's
// headers minus hop-by-hop ones (ReverseProxy removes those and the
// forwarding headers), the proxy's own headers and the operator's
// credentials, plus the account's credentials.
func rewrite(pr *httputil.ProxyRequest) {
	c := callFrom(pr.In.Context())
	out := pr.Out
	out.URL = c.target
	out.Host = ""
	hd := out.Header
	hd.Del(HeaderAccount)
	hd.Del(HeaderProjectRef)
	hd.Del("Cookie")
	// On Lambda the API Gateway adapter splits every header but a few
	// singletons at its commas into several values, which a server may
	// read only the first of; one comma-joined line is what the caller
	// sent, and RFC 9110 makes it equivalent to repeated lines.
	for k, v := range hd {
		if len(v) > 1 {
			hd[k] = []string{strings.Join(v, ", ")}
		}
	}
	if c.unified != nil {
		// The rows are read and reshaped: ask for plain, uncompressed JSON.
		hd.Set("Accept", "application/json")
		hd.Del("Accept-Encoding")
	}
	c.authorize(hd)
}

// proxyError answers for a request the upstream never answered.
func (h *Handler) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		mb  *http.MaxBytesError
		big *responseTooLarge
		out error
	)
	switch {
	case errors.As(err, &mb):
		out = tooLarge(mb.Limit)
	case errors.As(err, &big):
		out = bridge.Errorf(bridge.ETOOLARGE,
			"Supabase's response (%s) is larger than a Lambda function can return (%d bytes); ask for less, for example with a Range header or a smaller limit.", big.size(), big.limit).
			WithDetails(map[string]any{"limit": big.limit})
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The caller went away; nobody reads this answer.
		out = bridge.Errorf(bridge.EUNAVAILABLE, "The request was cancelled.")
	case errors.Is(err, netguard.ErrNotPublic):
		out = bridge.Errorf(bridge.EFORBIDDEN, "The account's Supabase host resolves to a private or reserved address; only public Supabase hosts are reachable.")
	case errors.Is(err, context.DeadlineExceeded):
		out = bridge.Errorf(bridge.EUNAVAILABLE, "Supabase did not answer in time.")
	default:
		var be *bridge.Error
		if errors.As(err, &be) {
			out = be
		} else {
			out = bridge.Errorf(bridge.EUNAVAILABLE, "Supabase could not be reached; retry later.")
		}
	}
	logs.From(r.Context()).LogAttrs(r.Context(), slog.LevelWarn, "proxy: no upstream answer",
		slog.String("error", logs.Scrub(err.Error())))
	httpapi.Error(w, r, out)
}

// bufferPool lends ReverseProxy its 32 KiB copy buffers, so a request does
// not allocate one.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *copyBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }
