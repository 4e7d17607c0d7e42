package localsupabase

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/supabridge/supabridge/shared/localsupabase/auth"
	"github.com/supabridge/supabridge/shared/localsupabase/faults"
	"github.com/supabridge/supabridge/shared/localsupabase/postgrest"
	"github.com/supabridge/supabridge/shared/localsupabase/projectdb"
	"github.com/supabridge/supabridge/shared/localsupabase/realtime"
)

// Project is one project of the stand-in: a database, a JWT secret with the
// keys derived from it, and a base URL serving the API gateway. Its exported
// fields never change after creation.
type Project struct {
	Ref              string
	Name             string
	OrganizationSlug string
	Region           string
	CreatedAt        time.Time
	// APIURL is the project's base URL (the stand-in for
	// https://<ref>.supabase.co).
	APIURL string
	// DBURL is a superuser URL of the project's database.
	DBURL string
	// JWTSecret is the project's HS256 secret.
	JWTSecret string
	// AnonKey and ServiceRoleKey are the legacy JWT API keys.
	AnonKey        string
	ServiceRoleKey string
	// PublishableKey (sb_publishable_…) and SecretKey (sb_secret_…) are the
	// opaque API keys.
	PublishableKey string
	SecretKey      string

	stack    *Stack
	auth     *auth.Server
	realtime *realtime.Server
	rest     *postgrest.Handler
	server   *http.Server
	// readyAt is when the project turns ACTIVE_HEALTHY; zero while its
	// database is still being created. Guarded by stack.mu.
	readyAt    time.Time
	initFailed bool
}

// Realtime returns the project's Realtime server, for its Go fault API
// (Realtime().Faults()). Its HTTP fault controls are mounted on the stack's
// admin endpoint under realtime-<ref>/.
func (p *Project) Realtime() *realtime.Server { return p.realtime }

// ServerName is the project's fault/counter server name.
func (p *Project) ServerName() string { return "api:" + p.Ref }

// Status is the project's status as the Management API reports it.
func (p *Project) Status() string {
	p.stack.mu.Lock()
	defer p.stack.mu.Unlock()
	return p.statusLocked()
}

func (p *Project) statusLocked() string {
	switch {
	case p.initFailed:
		return "INIT_FAILED"
	case p.readyAt.IsZero() || p.stack.cfg.Now().Before(p.readyAt):
		return "COMING_UP"
	default:
		return "ACTIVE_HEALTHY"
	}
}

// newProject fills in identity and keys; no resources yet.
func (s *Stack) newProject(orgSlug, name string) *Project {
	now := s.cfg.Now().UTC()
	p := &Project{
		Ref: newRef(), Name: name, OrganizationSlug: orgSlug, Region: "local", CreatedAt: now,
		JWTSecret: randomString(40, lowerAlphabet+"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
		stack:     s,
	}
	p.AnonKey = mintJWT([]byte(p.JWTSecret), p.Ref, "anon", now, legacyKeyLifetime)
	p.ServiceRoleKey = mintJWT([]byte(p.JWTSecret), p.Ref, "service_role", now, legacyKeyLifetime)
	p.PublishableKey = newOpaqueKey("sb_publishable_")
	p.SecretKey = newOpaqueKey("sb_secret_")
	return p
}

// provision creates (when createDB) and bootstraps the project's database,
// then starts its listener. The project is not yet listed anywhere.
func (s *Stack) provision(ctx context.Context, orgSlug, name, dbName string, createDB bool, addr string) (*Project, error) {
	p := s.newProject(orgSlug, name)
	if err := s.provisionInto(ctx, p, dbName, createDB, addr); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Stack) provisionInto(ctx context.Context, p *Project, dbName string, createDB bool, addr string) error {
	if dbName == "" {
		dbName = p.Ref
	}
	if createDB {
		if err := s.createDatabase(ctx, dbName); err != nil {
			return err
		}
	}
	p.DBURL = s.databaseURL(dbName)
	if err := projectdb.Bootstrap(ctx, p.DBURL); err != nil {
		return fmt.Errorf("localsupabase: project %s: %w", p.Ref, err)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("localsupabase: project %s listener: %w", p.Ref, err)
	}
	p.APIURL = "http://" + urlHost(ln.Addr())
	a, err := auth.New(ctx, auth.Config{
		DatabaseURL: p.DBURL,
		JWTSecret:   []byte(p.JWTSecret),
		ExternalURL: p.APIURL + "/auth/v1",
		Now:         s.cfg.Now,
		Logger:      s.log,
	})
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("localsupabase: project %s: %w", p.Ref, err)
	}
	p.auth = a
	rt, err := realtime.New(ctx, realtime.Config{
		DatabaseURL:   p.DBURL,
		JWTSecret:     []byte(p.JWTSecret),
		ResolveAPIKey: p.ResolveAPIKey,
		Now:           s.cfg.Now,
		Logger:        s.log,
	})
	if err != nil {
		a.Close()
		_ = ln.Close()
		return fmt.Errorf("localsupabase: project %s: %w", p.Ref, err)
	}
	p.realtime = rt
	rest, err := postgrest.New(ctx, postgrest.Config{DatabaseURL: p.DBURL, JWTSecret: []byte(p.JWTSecret)})
	if err != nil {
		_ = rt.Close()
		a.Close()
		_ = ln.Close()
		return fmt.Errorf("localsupabase: project %s: %w", p.Ref, err)
	}
	p.rest = rest
	s.injector.Mount("realtime-"+p.Ref, rt.Faults())
	h := s.injector.Wrap(p.ServerName(), s.logRequests(p.ServerName(), p.gateway()), faults.ServerOptions{
		TooManyRequests: authTooManyRequests,
	})
	p.server = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.server.Serve(ln) }()
	return nil
}

func (p *Project) close(ctx context.Context) {
	if p.server != nil {
		_ = p.server.Shutdown(ctx)
	}
	if p.realtime != nil {
		_ = p.realtime.Close()
	}
	if p.rest != nil {
		p.rest.Close()
	}
	if p.auth != nil {
		p.auth.Close()
	}
}

// authTooManyRequests is the platform's generic request rate limit answer
// in GoTrue's legacy shape.
func authTooManyRequests(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Sb-Error-Code", "over_request_rate_limit")
	if r.Header.Get("X-Supabase-Api-Version") >= "2024-01-01" {
		w.Header().Set("X-Supabase-Api-Version", "2024-01-01")
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"code": "over_request_rate_limit", "message": "Request rate limit reached"})
		return
	}
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"code": 429, "error_code": "over_request_rate_limit", "msg": "Request rate limit reached"})
}

func (s *Stack) logRequests(server string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		s.log.Debug("request", "server", server, "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController (and the drop fault's hijack) reach
// the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack lets websockets (Realtime) through the logging wrapper.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Flush passes streaming through.
func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }
