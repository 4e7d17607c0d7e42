// Package auth is the local stand-in for Supabase Auth (GoTrue) as a project
// serves it under /auth/v1: health, settings and the admin user API, over
// real SQL on the project's auth.users and auth.identities.
//
// The gateway in front strips /auth/v1 and turns API keys into a bearer JWT;
// this server, like GoTrue, reads only that JWT. Error bodies come in both of
// GoTrue's shapes, chosen by X-Supabase-Api-Version.
//
// It is test and sandbox infrastructure; no deployed function imports it.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Version is what GET /health reports, the GoTrue release the local CLI
// stack pins.
const Version = "v2.189.0"

// Config configures New. DatabaseURL and JWTSecret are required.
type Config struct {
	// DatabaseURL is a superuser URL of the project database, bootstrapped
	// by projectdb.
	DatabaseURL string
	// JWTSecret is the project's HS256 secret; admin calls must carry a JWT
	// signed with it whose role is service_role or supabase_admin.
	JWTSecret []byte
	// ExternalURL is the public base of this server (".../auth/v1"), used in
	// generated links.
	ExternalURL string
	// SiteURL is the default redirect of generated links (default
	// http://localhost:3000, the CLI's).
	SiteURL string
	// PasswordMinLength applies to admin password updates (default 6).
	PasswordMinLength int
	// MaxConns bounds the connection pool (default 4).
	MaxConns int32
	// Now defaults to time.Now.
	Now func() time.Time
	// Logger receives internal errors (never request bodies or tokens).
	Logger *slog.Logger
}

// Server serves the Auth API. It is safe for concurrent use.
type Server struct {
	cfg  Config
	pool *pgxpool.Pool
	mux  *http.ServeMux
	log  *slog.Logger
}

// adminRoles are GoTrue's default JWT admin roles.
var adminRoles = []string{"service_role", "supabase_admin"}

const maxBody = 1 << 20

// New connects lazily to the database and returns a Server. Close it to
// release the pool.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if len(cfg.JWTSecret) == 0 {
		return nil, errors.New("auth: JWTSecret is required")
	}
	if cfg.SiteURL == "" {
		cfg.SiteURL = "http://localhost:3000"
	}
	if cfg.PasswordMinLength == 0 {
		cfg.PasswordMinLength = 6
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 4
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("auth: database URL: %w", err)
	}
	pc.MaxConns = cfg.MaxConns
	pc.MinConns = 0
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("auth: pool: %w", err)
	}
	s := &Server{cfg: cfg, pool: pool, mux: http.NewServeMux(), log: cfg.Logger}
	s.route("GET /health", s.health)
	s.route("GET /settings", s.settings)
	s.route("GET /admin/users", s.admin(s.listUsers))
	s.route("POST /admin/users", s.admin(s.createUser))
	s.route("GET /admin/users/{user_id}", s.admin(s.withUser(s.getUser)))
	s.route("PUT /admin/users/{user_id}", s.admin(s.withUser(s.updateUser)))
	s.route("DELETE /admin/users/{user_id}", s.admin(s.withUser(s.deleteUser)))
	s.route("POST /invite", s.admin(s.invite))
	s.route("POST /admin/generate_link", s.admin(s.generateLink))
	return s, nil
}

// Close releases the database pool.
func (s *Server) Close() { s.pool.Close() }

// ServeHTTP serves paths relative to /auth/v1.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type handlerFunc func(w http.ResponseWriter, r *http.Request) *apiError

// route adds GoTrue's per-request plumbing: a request id, the body limit and
// the rendering of errors.
func (s *Server) route(pattern string, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		reqID := newID()
		w.Header().Set("X-Request-Id", reqID)
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("auth: panic", "route", pattern, "panic", fmt.Sprint(p))
				writeError(w, r, internal("Unexpected failure, please check server logs for more information"), reqID)
			}
		}()
		if e := h(w, r); e != nil {
			writeError(w, r, e, reqID)
		}
	})
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// readBody reads a JSON body with GoTrue's limit.
func readBody(r *http.Request) ([]byte, *apiError) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, newError(http.StatusRequestEntityTooLarge, "request_entity_too_large", fmt.Sprintf("Request body too large (max %d bytes)", maxBody))
		}
		return nil, badRequest("Could not read body")
	}
	return b, nil
}

func badJSON(err error) *apiError {
	return newError(http.StatusBadRequest, "bad_json", "Could not parse request body as JSON: "+err.Error())
}

var bearerRE = regexp.MustCompile(`(?i)^bearer (\S+$)`)

type ctxKey int

const claimsKey ctxKey = 0

// admin requires a bearer JWT signed with the project secret whose role is
// an admin role, with GoTrue's statuses: 401 without a token, 403 for a bad
// one or a non-admin role.
func (s *Server) admin(next handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) *apiError {
		m := bearerRE.FindStringSubmatch(r.Header.Get("Authorization"))
		if m == nil {
			return newError(http.StatusUnauthorized, "no_authorization", "This endpoint requires a valid Bearer token")
		}
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(m[1], claims, func(*jwt.Token) (any, error) {
			return s.cfg.JWTSecret, nil
		}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(s.cfg.Now))
		if err != nil {
			return newError(http.StatusForbidden, "bad_jwt", "invalid JWT: unable to parse or verify signature, "+err.Error())
		}
		role, _ := claims["role"].(string)
		if !slices.Contains(adminRoles, role) {
			return newError(http.StatusForbidden, "not_admin", "User not allowed")
		}
		return next(w, r.WithContext(context.WithValue(r.Context(), claimsKey, claims)))
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) *apiError {
	writeJSON(w, http.StatusOK, map[string]any{
		"version":     Version,
		"name":        "GoTrue",
		"description": "GoTrue is a user registration and authentication API",
	})
	return nil
}

func (s *Server) settings(w http.ResponseWriter, r *http.Request) *apiError {
	external := map[string]bool{"anonymous_users": false, "email": true, "phone": false}
	for _, p := range []string{"apple", "azure", "bitbucket", "discord", "facebook", "figma", "fly", "github",
		"gitlab", "google", "keycloak", "kakao", "linkedin", "linkedin_oidc", "notion", "spotify", "slack",
		"slack_oidc", "workos", "twitch", "twitter", "x", "zoom"} {
		external[p] = false
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"external":                         external,
		"disable_signup":                   false,
		"mailer_autoconfirm":               false,
		"phone_autoconfirm":                false,
		"sms_provider":                     "twilio",
		"saml_enabled":                     false,
		"saml_private_key_next_configured": false,
		"passkeys_enabled":                 false,
	})
	return nil
}

// requestAud is the audience users are listed and created in.
func requestAud(r *http.Request) string {
	if a := r.Header.Get("X-JWT-AUD"); a != "" {
		return a
	}
	return "authenticated"
}

func (s *Server) internalError(msg string, err error) *apiError {
	s.log.Error("auth: "+msg, "err", err)
	return internal(msg)
}

// normaliseEmail mirrors GoTrue's checks: required, at most 255 bytes, a
// plausible address; stored lower-case.
var emailRE = regexp.MustCompile(`^[a-zA-Z0-9.!#$%&'*+/=?^_{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)

func normaliseEmail(email string) (string, *apiError) {
	if email == "" {
		return "", badRequest("An email address is required")
	}
	if len(email) > 255 {
		return "", badRequest("An email address is too long")
	}
	if !emailRE.MatchString(email) {
		return "", badRequest("Unable to validate email address: invalid format")
	}
	return strings.ToLower(email), nil
}

var e164RE = regexp.MustCompile(`^[1-9]\d{1,14}$`)

func normalisePhone(phone string) (string, *apiError) {
	p := strings.TrimPrefix(strings.ReplaceAll(strings.TrimSpace(phone), " ", ""), "+")
	if !e164RE.MatchString(p) {
		return "", badRequest("Invalid phone number format (E.164 required)")
	}
	return p, nil
}
