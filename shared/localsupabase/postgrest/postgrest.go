// Package postgrest is the Data API of the local Supabase: an http.Handler
// with PostgREST v14 semantics (the wire behaviour Supabase serves under
// /rest/v1) over real SQL against a project's PostgreSQL database.
//
// Every request runs in its own transaction as the role its JWT names
// (SET LOCAL ROLE through set_config, with request.jwt.claims and the other
// request GUCs PostgREST sets), so grants and row-level security policies
// that call auth.uid() or auth.jwt() apply exactly as on Supabase. Response
// bodies are built by PostgreSQL (json_agg) and copied to the client
// without decoding. Identifiers from requests are always quoted and values
// always bound or escaped as literals.
//
// It is test and sandbox infrastructure; no deployed function imports it.
package postgrest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config configures New.
type Config struct {
	// DatabaseURL is a superuser URL of the project database. The handler
	// connects as it and switches role per request with SET LOCAL ROLE, as
	// PostgREST's authenticator does; it only switches to roles granted to
	// authenticator (or, where that role is missing, to non-superusers).
	DatabaseURL string
	// JWTSecret is the project's HS256 secret (at least 32 bytes, as
	// PostgREST requires). Requests carry Authorization: Bearer <jwt>.
	JWTSecret []byte
	// Schemas are the exposed schemas; the first is the default. Empty
	// means {"public", "graphql_public"}, as on Supabase.
	Schemas []string
	// MaxRows caps every read (db-max-rows); 0 means 1000.
	MaxRows int
}

// anonRole is db-anon-role on Supabase.
const anonRole = "anon"

// Handler serves the Data API. Paths are relative to /rest/v1: "/todos",
// "/rpc/fn", "/". It is safe for concurrent use. Close releases its
// connections.
type Handler struct {
	cfg      Config
	pool     *pgxpool.Pool
	cache    atomic.Pointer[schemaCache]
	started  atomic.Uint64 // schema loads begun
	doneFrom atomic.Uint64 // which load (by start order) the cache holds
	mu       sync.Mutex    // serialises reloads
	cancel   context.CancelFunc
	stopped  chan struct{}
	now      func() time.Time
}

// New connects to cfg.DatabaseURL, loads the schema cache and starts
// listening for "NOTIFY pgrst, 'reload schema'" (which the project database's
// DDL event triggers send). A request for an unknown table or function also
// reloads the cache once before failing, so DDL is visible at once. Errors
// come from configuration checks or the database and never contain the URL's
// password.
func New(ctx context.Context, cfg Config) (*Handler, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("postgrest: DatabaseURL is required")
	}
	if len(cfg.JWTSecret) < 32 {
		return nil, errors.New("postgrest: JWTSecret must be at least 32 bytes")
	}
	if len(cfg.Schemas) == 0 {
		cfg.Schemas = []string{"public", "graphql_public"}
	}
	for _, s := range cfg.Schemas {
		if s == "" || s == "pg_catalog" || s == "information_schema" {
			return nil, fmt.Errorf("postgrest: schema %q cannot be exposed", s)
		}
	}
	if cfg.MaxRows <= 0 {
		cfg.MaxRows = 1000
	}
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, errors.New("postgrest: invalid DatabaseURL")
	}
	pc.ConnConfig.RuntimeParams["application_name"] = "postgrest"
	// Statements are prepared before the per-request search_path is set, so
	// the extra search path must already resolve type names in casts.
	pc.ConnConfig.RuntimeParams["search_path"] = "public, extensions"
	if pc.MaxConns < 10 {
		pc.MaxConns = 10
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgrest: connect: %w", err)
	}
	h := &Handler{cfg: cfg, pool: pool, stopped: make(chan struct{}), now: time.Now}
	sc, err := loadSchema(ctx, pool, cfg.Schemas)
	if err != nil {
		pool.Close()
		return nil, err
	}
	h.cache.Store(sc)
	lctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go h.listen(lctx)
	return h, nil
}

// Close stops the schema listener and closes the connection pool. In-flight
// requests fail with a 503.
func (h *Handler) Close() {
	h.cancel()
	<-h.stopped
	h.pool.Close()
}

// reload returns a schema cache read from the catalog after the call
// began: the result of a load that a concurrent caller started after that
// moment, or its own. Joining a load that started earlier would miss DDL
// committed just before the call (a table created, then queried at once).
func (h *Handler) reload(ctx context.Context) *schemaCache {
	after := h.started.Load()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.doneFrom.Load() > after {
		return h.cache.Load()
	}
	seq := h.started.Add(1)
	sc, err := loadSchema(ctx, h.pool, h.cfg.Schemas)
	if err != nil {
		return h.cache.Load()
	}
	h.cache.Store(sc)
	h.doneFrom.Store(seq)
	return sc
}

func (h *Handler) listen(ctx context.Context) {
	defer close(h.stopped)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := h.pool.Acquire(ctx)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN pgrst")
			if err == nil {
				backoff = 100 * time.Millisecond
				// Notifications sent while disconnected are lost.
				h.reload(ctx)
				for {
					n, werr := conn.Conn().WaitForNotification(ctx)
					if werr != nil {
						break
					}
					if n.Payload == "reload schema" || n.Payload == "" {
						h.reload(ctx)
					}
				}
			}
			// The connection holds a LISTEN; never return it to the pool.
			_ = conn.Conn().Close(context.Background())
			conn.Release()
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
			backoff = min(backoff*2, 5*time.Second)
		}
	}
}

// request is one parsed API request.
type request struct {
	r       *http.Request
	auth    auth
	schema  string
	qp      *queryParams
	prefs   preferences
	accept  accepted
	applied []string // Preference-Applied values
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e := h.serve(w, r); e != nil {
		writeError(w, e)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) *apiError {
	segs, e := pathSegments(r.URL)
	if e != nil {
		return e
	}
	a, e := authenticate(r.Header.Get("Authorization"), h.cfg.JWTSecret, anonRole, h.now())
	if e != nil {
		return e
	}
	if r.Method == http.MethodOptions {
		allow := "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
		if len(segs) == 2 {
			allow = "OPTIONS,GET,HEAD,POST"
		}
		w.Header().Set("Allow", allow)
		w.WriteHeader(http.StatusOK)
		return nil
	}
	req := &request{r: r, auth: a}
	isRead := r.Method == http.MethodGet || r.Method == http.MethodHead
	profile := "Content-Profile"
	if isRead {
		profile = "Accept-Profile"
	}
	req.schema = h.cfg.Schemas[0]
	if p := r.Header.Get(profile); p != "" {
		ok := false
		for _, s := range h.cfg.Schemas {
			ok = ok || s == p
		}
		if !ok {
			return errSchema(p, h.cfg.Schemas)
		}
		req.schema = p
	}
	if len(segs) == 0 {
		return h.serveRoot(w, req)
	}
	if len(segs) == 2 {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodPost:
		default:
			return &apiError{status: 405, code: "PGRST101", message: "Cannot use the " + r.Method + " method on RPC"}
		}
	} else {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut:
		default:
			return &apiError{status: 405, code: "PGRST117", message: "Unsupported HTTP method: " + r.Method}
		}
	}
	if req.qp, e = parseQuery(r.URL.RawQuery); e != nil {
		return e
	}
	req.prefs = parsePrefer(r.Header.Values("Prefer"))
	if req.prefs.handling == "strict" && len(req.prefs.invalid) > 0 {
		return &apiError{status: 400, code: "PGRST122", message: "Invalid preferences given with handling=strict",
			details: "Invalid preferences: " + strings.Join(req.prefs.invalid, ", ")}
	}
	if req.accept, e = negotiate(r.Header.Get("Accept"), false); e != nil {
		return e
	}
	if len(segs) == 2 {
		return h.serveRPC(w, req, segs[1])
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return h.serveRead(w, req, segs[0])
	case http.MethodPost:
		return h.serveInsert(w, req, segs[0], false)
	case http.MethodPut:
		return h.serveInsert(w, req, segs[0], true)
	case http.MethodPatch:
		return h.serveUpdate(w, req, segs[0])
	default:
		return h.serveDelete(w, req, segs[0])
	}
}

// pathSegments splits "/table" or "/rpc/fn" (decoding each segment).
func pathSegments(u *url.URL) ([]string, *apiError) {
	p := strings.TrimPrefix(u.EscapedPath(), "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return nil, nil
	}
	raw := strings.Split(p, "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		d, err := url.PathUnescape(s)
		if err != nil || d == "" {
			return nil, errInvalidPath()
		}
		segs[i] = d
	}
	switch {
	case len(segs) == 1:
		return segs, nil
	case len(segs) == 2 && segs[0] == "rpc":
		return segs, nil
	}
	return nil, errInvalidPath()
}

// lookupTable finds a relation, reloading the cache once on a miss.
func (h *Handler) lookupTable(ctx context.Context, schema, name string) (*schemaCache, *table, *apiError) {
	sc := h.cache.Load()
	if t := sc.tables[qkey(schema, name)]; t != nil {
		return sc, t, nil
	}
	sc = h.reload(ctx)
	if t := sc.tables[qkey(schema, name)]; t != nil {
		return sc, t, nil
	}
	e := &apiError{status: 404, code: "PGRST205",
		message: "Could not find the table '" + schema + "." + name + "' in the schema cache"}
	if c, ok := closest(name, sc.names[schema], 0.75); ok {
		e.hint = "Perhaps you meant the table '" + schema + "." + c + "'"
	}
	return sc, nil, e
}

// ensureColumns checks payload or columns= names, reloading once on a miss.
func (h *Handler) ensureColumns(ctx context.Context, t *table, cols []string) (*table, *apiError) {
	missing := func(t *table) string {
		for _, c := range cols {
			if t.colByName[c] == nil {
				return c
			}
		}
		return ""
	}
	m := missing(t)
	if m == "" {
		return t, nil
	}
	sc := h.reload(ctx)
	if nt := sc.tables[qkey(t.schema, t.name)]; nt != nil {
		t = nt
		if m = missing(t); m == "" {
			return t, nil
		}
	}
	return nil, errColumnNotFound(t.name, m)
}

// stmt is one statement of a request transaction and how to read its row.
type stmt struct {
	sql  string
	args []any
	scan func(pgx.Row) error
}

// txOpts describes the transaction a request runs in.
type txOpts struct {
	readOnly bool
	stmts    []stmt
	// after runs once all statements succeeded; returning false rolls back.
	after func() (commit bool, e *apiError)
}

const generationKey = "postgrest.generation"

// run executes statements in one transaction as the request's role, with
// PostgREST's request GUCs set.
func (h *Handler) run(ctx context.Context, req *request, o txOpts) *apiError {
	sc := h.cache.Load()
	ri := sc.roles[req.auth.role]
	if ri == nil {
		ri = h.reload(ctx).roles[req.auth.role]
	}
	if ri != nil && !ri.allowed {
		return &apiError{status: pgStatusFor("42501", req.auth.authed), code: "42501",
			message: fmt.Sprintf("permission denied to set role %q", req.auth.role)}
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := h.pool.Acquire(actx)
	cancel()
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return &apiError{status: 504, code: "PGRST003", message: "Timed out acquiring connection from connection pool."}
		}
		return errPg(err, req.auth.authed)
	}
	defer conn.Release()
	gen := h.doneFrom.Load()
	if g, _ := conn.Conn().PgConn().CustomData()[generationKey].(uint64); g != gen {
		// The schema changed since this connection prepared its statements.
		if err := conn.Conn().DeallocateAll(ctx); err != nil {
			_ = conn.Conn().Close(context.Background())
			return errPg(err, req.auth.authed)
		}
		conn.Conn().PgConn().CustomData()[generationKey] = gen
	}

	begin := "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
	if o.readOnly {
		begin = "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
	}
	gucSQL, gucArgs := h.gucs(req, ri)
	b := &pgx.Batch{}
	b.Queue(begin)
	b.Queue(gucSQL, gucArgs...)
	for _, s := range o.stmts {
		b.Queue(s.sql, s.args...)
	}
	br := conn.Conn().SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	for i := 0; err == nil && i < len(o.stmts); i++ {
		err = o.stmts[i].scan(br.QueryRow())
	}
	cerr := br.Close()
	if err == nil {
		err = cerr
	}
	if err != nil {
		h.abort(conn.Conn(), err)
		return errPg(err, req.auth.authed)
	}
	commit, e := true, (*apiError)(nil)
	if o.after != nil {
		commit, e = o.after()
	}
	if !commit {
		h.abort(conn.Conn(), nil)
		return e
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		h.abort(conn.Conn(), err)
		return errPg(err, req.auth.authed)
	}
	return e
}

// abort rolls back; a connection that cannot is closed so the pool drops it.
func (h *Handler) abort(c *pgx.Conn, cause error) {
	var pe *pgconn.PgError
	if errors.As(cause, &pe) && pe.Code == "0A000" {
		c.PgConn().CustomData()[generationKey] = uint64(1<<64 - 1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c.IsClosed() {
		return
	}
	if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
		_ = c.Close(ctx)
	}
}

func pgStatusFor(code string, authed bool) int {
	return pgStatus(&pgconn.PgError{Code: code}, authed)
}

// gucs builds the per-request set_config statement, in PostgREST's order:
// search_path, the role's settings, role, claims, method, path, headers,
// cookies.
func (h *Handler) gucs(req *request, ri *roleInfo) (string, []any) {
	var sb strings.Builder
	var args []any
	add := func(name string, value any) {
		if len(args) > 0 {
			sb.WriteString(", ")
		}
		args = append(args, name, value)
		fmt.Fprintf(&sb, "set_config($%d, $%d, true)", len(args)-1, len(args))
	}
	sb.WriteString("SELECT ")
	add("search_path", ident(req.schema)+", public, extensions")
	if ri != nil {
		for _, s := range ri.settings {
			if k, v, ok := strings.Cut(s, "="); ok {
				add(k, v)
			}
		}
	}
	add("role", req.auth.role)
	add("request.jwt.claims", string(req.auth.claims))
	add("request.method", req.r.Method)
	add("request.path", req.r.URL.Path)
	hdrs := map[string]string{}
	for k, v := range req.r.Header {
		hdrs[strings.ToLower(k)] = strings.Join(v, ",")
	}
	hj, _ := json.Marshal(hdrs)
	add("request.headers", string(hj))
	cookies := map[string]string{}
	for _, c := range req.r.Cookies() {
		cookies[c.Name] = c.Value
	}
	cj, _ := json.Marshal(cookies)
	add("request.cookies", string(cj))
	return sb.String(), args
}

// response is a successful reply.
type response struct {
	status  int
	body    []byte
	headers map[string]string
	ctype   string
}

func (h *Handler) write(w http.ResponseWriter, req *request, res response, gucHeaders, gucStatus *string) *apiError {
	hd := w.Header()
	for k, v := range res.headers {
		hd.Set(k, v)
	}
	if len(h.cfg.Schemas) > 1 {
		hd.Set("Content-Profile", req.schema)
	}
	if len(req.applied) > 0 {
		hd.Set("Preference-Applied", strings.Join(req.applied, ", "))
	}
	if res.ctype != "" {
		hd.Set("Content-Type", res.ctype)
	}
	status := res.status
	if gucHeaders != nil && *gucHeaders != "" {
		var list []map[string]string
		if json.Unmarshal([]byte(*gucHeaders), &list) != nil {
			return &apiError{status: 500, code: "PGRST111",
				message: "response.headers guc must be a JSON array composed of objects with a single key and a string value"}
		}
		for _, m := range list {
			if len(m) != 1 {
				return &apiError{status: 500, code: "PGRST111",
					message: "response.headers guc must be a JSON array composed of objects with a single key and a string value"}
			}
			for k, v := range m {
				hd.Set(k, v)
			}
		}
	}
	if gucStatus != nil && *gucStatus != "" {
		n, err := strconv.Atoi(*gucStatus)
		if err != nil || n < 100 || n > 599 {
			return &apiError{status: 500, code: "PGRST112", message: "response.status guc must be a valid status code"}
		}
		status = n
	}
	if status != http.StatusNoContent && status != http.StatusNotModified {
		hd.Set("Content-Length", strconv.Itoa(len(res.body)))
	}
	w.WriteHeader(status)
	if req.r.Method != http.MethodHead && len(res.body) > 0 {
		_, _ = w.Write(res.body)
	}
	return nil
}

// contentRange renders Content-Range as PostgREST does: the range part is
// "*" when empty (or when the total is 0).
func contentRange(lower, upper int64, total *int64) string {
	rng := "*"
	if (total == nil || *total != 0) && lower <= upper {
		rng = strconv.FormatInt(lower, 10) + "-" + strconv.FormatInt(upper, 10)
	}
	tot := "*"
	if total != nil {
		tot = strconv.FormatInt(*total, 10)
	}
	return rng + "/" + tot
}
