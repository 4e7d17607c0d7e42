// Package logs builds Supabridge's structured JSON logger (log/slog) and
// carries a request-scoped logger in a context.
//
// Credentials never reach a log line: bridge.Secret values redact
// themselves, and the handler also redacts any attribute whose key names a
// credential (authorization, apikey, token, secret, password, cookie and
// their variants) and any string value that looks like one (JWTs, Supabase
// keys, personal access tokens, Supabridge API keys, Bearer credentials).
package logs

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// New returns a JSON logger writing to w at level.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}))
}

// ParseLevel maps "debug", "info", "warn" and "error" (any case) to a level;
// anything else is info.
func ParseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return slog.LevelInfo
	}
	return l
}

type ctxKey struct{}

// With returns ctx carrying l.
func With(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// From returns the logger in ctx, or slog.Default().
func From(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

const redacted = "[REDACTED]"

var sensitiveKey = regexp.MustCompile(`(?i)(authorization|apikey|api_key|token|secret|password|passwd|cookie|credential|signature|private_key|master_key|code_verifier)`)

// credentialValue matches values that are credentials whatever their key:
// JWTs, Supabase API keys and personal access tokens, Supabridge API keys
// and Bearer headers.
var credentialValue = regexp.MustCompile(`(?i)(eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*|sb_(secret|publishable)_[A-Za-z0-9_-]{8,}|sbp_[A-Za-z0-9_-]{8,}|sbk_[A-Za-z0-9_-]{8,}|bearer\s+[A-Za-z0-9._~+/=-]{8,})`)

func redactAttr(_ []string, a slog.Attr) slog.Attr {
	if sensitiveKey.MatchString(a.Key) && a.Value.Kind() != slog.KindGroup && !strings.HasSuffix(strings.ToLower(a.Key), "_id") {
		return slog.String(a.Key, redacted)
	}
	if a.Value.Kind() == slog.KindString {
		if s := a.Value.String(); credentialValue.MatchString(s) {
			return slog.String(a.Key, Scrub(s))
		}
	}
	return a
}

// Scrub replaces every credential-looking substring of s with a redaction
// marker. Use it on text from outside (upstream error bodies, URLs) before it
// reaches an error string or a log.
func Scrub(s string) string { return credentialValue.ReplaceAllString(s, redacted) }
