package localsupabase

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// gatewayJWTLifetime bounds the JWTs minted for opaque keys; the platform
// mints "temporary, short-lived" ones per request.
const gatewayJWTLifetime = time.Hour

// ResolveAPIKey maps an API key to the JWT the gateway forwards for it: the
// legacy JWTs pass through, sb_publishable_ becomes a fresh anon JWT and
// sb_secret_ a fresh service_role JWT. ok is false for any other value. The
// Realtime server takes it as its ResolveAPIKey.
func (p *Project) ResolveAPIKey(apikey string) (jwt string, ok bool) {
	switch apikey {
	case "":
		return "", false
	case p.AnonKey, p.ServiceRoleKey:
		return apikey, true
	case p.PublishableKey:
		return mintJWT([]byte(p.JWTSecret), p.Ref, "anon", p.stack.cfg.Now(), gatewayJWTLifetime), true
	case p.SecretKey:
		return mintJWT([]byte(p.JWTSecret), p.Ref, "service_role", p.stack.cfg.Now(), gatewayJWTLifetime), true
	}
	return "", false
}

// gateway routes a project's base URL the way Supabase's API gateway does:
// /auth/v1 and /rest/v1 need a valid apikey and are forwarded with the
// prefix stripped and Authorization rewritten; Realtime paths go through
// whole (the Realtime server checks its key itself).
func (p *Project) gateway() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/auth/v1/", p.keyAuth(http.StripPrefix("/auth/v1", p.auth)))
	mux.Handle("/rest/v1/", p.keyAuth(http.StripPrefix("/rest/v1", p.rest)))
	mux.Handle("/realtime/v1/", p.realtime)
	mux.Handle("/socket/", p.realtime)
	mux.Handle("/", http.HandlerFunc(noRoute))
	return cors(mux)
}

func noRoute(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "no Route matched with those values"})
}

// keyAuth is the gateway's key check and Authorization rewrite: an
// Authorization header is kept unless it carries an sb_ key; otherwise the
// key's JWT becomes the bearer.
func (p *Project) keyAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("apikey")
		fromQuery := false
		if key == "" {
			key = r.URL.Query().Get("apikey")
			fromQuery = key != ""
		}
		if key == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"message": "No API key found in request",
				"hint":    "No `apikey` request header or url param was found.",
			})
			return
		}
		jwt, ok := p.ResolveAPIKey(key)
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"message": "Invalid API key",
				"hint":    "Double check your Supabase `anon` or `service_role` API key.",
			})
			return
		}
		if key == p.SecretKey && isBrowser(r) {
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"message": "Forbidden use of secret API key in browser",
				"hint":    "Secret API keys can only be used in a protected environment and should never be used in a browser.",
			})
			return
		}
		r2 := r.Clone(r.Context())
		if a := r.Header.Get("Authorization"); a == "" || strings.HasPrefix(a, "Bearer sb_") {
			r2.Header.Set("Authorization", "Bearer "+jwt)
		}
		if fromQuery {
			// The key is the gateway's business; the services behind it
			// would read it as a filter or unknown parameter.
			q := r2.URL.Query()
			q.Del("apikey")
			r2.URL.RawQuery = q.Encode()
		}
		next.ServeHTTP(w, r2)
	})
}

// isBrowser is the platform's test for secret keys: a browser User-Agent.
func isBrowser(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("User-Agent"), "Mozilla/")
}

// cors answers preflights and marks responses as readable by any origin,
// as the gateway's CORS plugin does.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if origin := r.Header.Get("Origin"); origin != "" {
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Expose-Headers", "Content-Range, Content-Location, Link, X-Total-Count, Preference-Applied, X-Supabase-Api-Version, X-Sb-Error-Code")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS")
			if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
				h.Set("Access-Control-Allow-Headers", rh)
			}
			h.Set("Access-Control-Max-Age", "3600")
			w.WriteHeader(http.StatusOK)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
