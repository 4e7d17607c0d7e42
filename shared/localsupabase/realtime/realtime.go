// Package realtime is the Realtime server of the local Supabase stand-in: the
// Phoenix-channel WebSocket protocol (serializers 1.0.0 and 2.0.0) serving
// postgres_changes from a real PostgreSQL database through logical decoding,
// with per-subscriber row-level security, and faults on demand for tests.
//
// One Server serves one project database. All of its sockets share a single
// decoding stream (a temporary pgoutput replication slot on the
// supabase_realtime publication), created when the first subscription needs
// it; like the real service it delivers nothing that was committed before a
// subscription existed, so nothing is replayed after a disconnect.
package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Paths the server answers: the gateway's public path and the server's own.
const (
	PublicPath = "/realtime/v1/websocket"
	DirectPath = "/socket/websocket"
)

// Config configures New. DatabaseURL is required; the duration fields' zero
// values are documented on each.
type Config struct {
	// DatabaseURL is the superuser URL of the project database, used for
	// the replication stream and for reads (RLS checks, value casts).
	DatabaseURL string
	// JWTSecret is the project's HS256 secret.
	JWTSecret []byte
	// ResolveAPIKey maps the apikey a client sent (legacy JWT,
	// sb_publishable_…, sb_secret_…) to the JWT the server should check, as
	// the gateway does; ok=false means the gateway could not translate it
	// and the key reaches the server as sent. Nil treats every key as a JWT.
	ResolveAPIKey func(apikey string) (jwt string, ok bool)

	// IdleTimeout closes a socket that has received nothing for this long.
	// Zero means 60 s, the real server's value.
	IdleTimeout time.Duration
	// ConnectErrorDelay and JoinErrorDelay hold back refused upgrades and
	// failed joins, as the real server does (2 s and 5 s). Zero means no
	// delay, which keeps tests fast.
	ConnectErrorDelay time.Duration
	JoinErrorDelay    time.Duration
	// Now is the clock for token expiry; nil means time.Now.
	Now func() time.Time
	// Logger receives operational logs (never tokens); nil discards them.
	Logger *slog.Logger
}

// Server is a Realtime server for one project database. It is safe for
// concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	pool   *pgxpool.Pool
	faults *Faults
	stream *stream

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	sockets map[*socket]struct{}
	closed  bool
}

// New checks the database (logical WAL, the supabase_realtime publication)
// and returns a Server. It returns an error when DatabaseURL is empty or
// unreachable, wal_level is not logical, or the publication is missing
// (projectdb.Bootstrap creates it). The decoding stream starts with the
// first subscription. Close releases everything.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("realtime: Config.DatabaseURL is required")
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ResolveAPIKey == nil {
		cfg.ResolveAPIKey = func(k string) (string, bool) { return k, true }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("realtime: parse database URL: %w", err)
	}
	pcfg.MaxConns = 8
	for k, v := range sessionSettings {
		pcfg.ConnConfig.RuntimeParams[k] = v
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("realtime: connect: %w", err)
	}
	var walLevel string
	var hasPub bool
	err = pool.QueryRow(ctx, `select current_setting('wal_level'),
		exists(select 1 from pg_publication where pubname = $1)`, publication).Scan(&walLevel, &hasPub)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("realtime: inspect database: %w", err)
	}
	if walLevel != "logical" {
		pool.Close()
		return nil, fmt.Errorf("realtime: the database needs wal_level=logical, has %s", walLevel)
	}
	if !hasPub {
		pool.Close()
		return nil, fmt.Errorf("realtime: the database has no %s publication", publication)
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, log: log, pool: pool, ctx: sctx, cancel: cancel, sockets: map[*socket]struct{}{}}
	s.faults = newFaults(s)
	s.stream = newStream(s)
	return s, nil
}

// Faults returns the server's fault switches and frame counters.
func (s *Server) Faults() *Faults { return s.faults }

// Close drops every socket (close code 1012, as a restarting server does),
// stops the decoding stream (its temporary slot goes with it) and closes the
// database pool. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	socks := make([]*socket, 0, len(s.sockets))
	for sk := range s.sockets {
		socks = append(socks, sk)
	}
	s.mu.Unlock()
	for _, sk := range socks {
		sk.close(websocket.StatusServiceRestart, "")
	}
	s.cancel()
	s.wg.Wait()
	s.pool.Close()
	return nil
}

// ServeHTTP serves the WebSocket endpoint at PublicPath and DirectPath (full
// request paths). Everything else is 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != PublicPath && r.URL.Path != DirectPath {
		http.NotFound(w, r)
		return
	}
	if msg := upgradeProblem(r); msg != "" {
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	vsn := q.Get("vsn")
	if !q.Has("vsn") {
		vsn = vsn1
	}
	if vsn != vsn1 && vsn != vsn2 {
		// Phoenix's transport answers an unknown serializer with a bare 403.
		w.WriteHeader(http.StatusForbidden)
		return
	}
	apikey := r.Header.Get("x-api-key")
	if apikey == "" {
		apikey = q.Get("apikey")
	}
	if apikey == "" {
		s.refuse(w, http.StatusUnauthorized, "API key is missing")
		return
	}
	token, ok := s.cfg.ResolveAPIKey(apikey)
	if !ok {
		token = apikey
	}
	c, terr := verifyJWT(token, s.cfg.JWTSecret, s.cfg.Now())
	if terr != nil {
		msg := terr.message
		if strings.HasPrefix(msg, "Token has expired") {
			msg = "Token has expired"
		}
		s.refuse(w, http.StatusUnauthorized, msg)
		return
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.refuse(w, http.StatusInternalServerError, "Error connecting to Realtime")
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the real endpoint does not check Origin
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return
	}
	ws.SetReadLimit(maxFrameSize)
	sk := newSocket(s, ws, vsn, token, c)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ws.Close(websocket.StatusServiceRestart, "")
		return
	}
	s.sockets[sk] = struct{}{}
	s.mu.Unlock()
	sk.run()
	s.mu.Lock()
	delete(s.sockets, sk)
	s.mu.Unlock()
}

const maxFrameSize = 5_000_000

func (s *Server) refuse(w http.ResponseWriter, status int, msg string) {
	if d := s.cfg.ConnectErrorDelay; d > 0 {
		time.Sleep(d)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// upgradeProblem reports why r is not a WebSocket upgrade, checked before
// authentication as Phoenix's transport does.
func upgradeProblem(r *http.Request) string {
	switch {
	case r.Method != http.MethodGet:
		return "HTTP method " + r.Method + " unsupported"
	case !headerHasToken(r.Header, "Connection", "upgrade"):
		return "'connection' header must contain 'upgrade'"
	case !headerHasToken(r.Header, "Upgrade", "websocket"):
		return "'upgrade' header must contain 'websocket'"
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return "'sec-websocket-version' header must be '13'"
	case r.Header.Get("Sec-WebSocket-Key") == "":
		return "'sec-websocket-key' header is missing"
	}
	return ""
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func (s *Server) liveSockets() []*socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*socket, 0, len(s.sockets))
	for sk := range s.sockets {
		out = append(out, sk)
	}
	return out
}
