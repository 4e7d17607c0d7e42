package auth

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNormalise(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
		phone    bool
	}{
		{"A@Example.COM", "a@example.com", true, false},
		{"", "", false, false},
		{"no-at", "", false, false},
		{strings.Repeat("a", 250) + "@b.com", "", false, false},
		{"+1 555 123 4567", "15551234567", true, true},
		{"+0123", "", false, true},
		{"12", "12", true, true},
	}
	for _, tt := range tests {
		var got string
		var e *apiError
		if tt.phone {
			got, e = normalisePhone(tt.in)
		} else {
			got, e = normaliseEmail(tt.in)
		}
		if (e == nil) != tt.ok || got != tt.want {
			t.Errorf("normalise(%q) = %q, %v; want %q ok=%v", tt.in, got, e, tt.want, tt.ok)
		}
	}
}

func TestDatedErrors(t *testing.T) {
	for v, want := range map[string]bool{"": false, "2024-01-01": true, "2025-06-30": true, "2023-12-31": false, "junk": false} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set(apiVersionHeader, v)
		if got := wantsDatedErrors(r); got != want {
			t.Errorf("version %q: dated = %v, want %v", v, got, want)
		}
	}
}

// FuzzParsers feeds the request-derived parsers arbitrary input: none may
// panic, and accepted values keep their invariants.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{"a@b.co", "+1 555 0100", "24h", "none", "-1s", "2024-01-01", "\x00", "1e9h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if e, err := normaliseEmail(s); err == nil && (e != strings.ToLower(e) || len(e) > 255) {
			t.Errorf("accepted email %q normalised to %q", s, e)
		}
		if p, err := normalisePhone(s); err == nil && (len(p) < 2 || len(p) > 15) {
			t.Errorf("accepted phone %q as %q", s, p)
		}
		if until, err := parseBan(s, time.Unix(0, 0)); err == nil && s != "none" && until == nil {
			t.Errorf("ban %q accepted without a time", s)
		}
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set(apiVersionHeader, s)
		_ = wantsDatedErrors(r)
	})
}
