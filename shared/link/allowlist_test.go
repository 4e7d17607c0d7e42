package link

import (
	"strings"
	"testing"

	"github.com/supabridge/supabridge/shared/bridge"
)

func TestValidateEntry(t *testing.T) {
	cases := []struct {
		entry string
		ok    bool
	}{
		{"https://app.example.com/linked", true},
		{"https://app.example.com/callbacks/*", true},
		{"http://localhost:3000/done", true},
		{"https://app.example.com*", false},
		{"https://app.example.com/a*b", false},
		{"https://app.example.com/*/x*", false},
		{"http://app.example.com/cb", false},
		{"https://app.example.com/cb#frag", false},
		{"javascript:alert(1)", false},
		{"/relative", false},
	}
	for _, tc := range cases {
		if err := ValidateEntry(tc.entry); (err == nil) != tc.ok {
			t.Errorf("ValidateEntry(%q) = %v, want ok=%v", tc.entry, err, tc.ok)
		}
	}
}

func TestAllowlist(t *testing.T) {
	al := Allowlist{Entries: []string{"https://app.example.com/linked", "https://app.example.com/callbacks/*"}}
	local := Allowlist{Loopback: true}
	cases := []struct {
		al  Allowlist
		uri string
		ok  bool
	}{
		{al, "https://app.example.com/linked", true},
		{al, "https://app.example.com/linked?x=1", false},
		{al, "https://app.example.com/Linked", false},
		{al, "https://app.example.com/callbacks/", true},
		{al, "https://app.example.com/callbacks/supabase?state=1", true},
		{al, "https://app.example.com/callbacks", false},
		{al, "https://app.example.com.evil.test/callbacks/", false},
		{al, "https://evil.test/https://app.example.com/linked", false},
		{al, "https://user@app.example.com/linked", false},
		{al, "http://localhost/cb", false},
		{local, "http://localhost:3000/cb", true},
		{local, "http://127.0.0.1/cb", true},
		{local, "http://[::1]:8080/cb", true},
		{local, "https://localhost/cb", true},
		{local, "http://localhost.evil.test/cb", false},
		{local, "http://127.0.0.1.nip.io/cb", false},
		{local, "https://app.example.com/linked", false},
	}
	for _, tc := range cases {
		if err := tc.al.Check(tc.uri); (err == nil) != tc.ok {
			t.Errorf("Check(%q) with %+v = %v, want ok=%v", tc.uri, tc.al, err, tc.ok)
		}
	}

	origins := []struct {
		al     Allowlist
		origin string
		ok     bool
	}{
		{al, "https://app.example.com", true},
		{al, "https://app.example.com/", false},
		{al, "https://app.example.com:8443", false},
		{al, "http://app.example.com", false},
		{al, "https://evil.test", false},
		{al, "null", false},
		{local, "http://127.0.0.1:5173", true},
		{local, "http://localhost:3000", true},
		{local, "https://app.example.com", false},
	}
	for _, tc := range origins {
		if got := tc.al.AllowsOrigin(tc.origin); got != tc.ok {
			t.Errorf("AllowsOrigin(%q) = %v, want %v", tc.origin, got, tc.ok)
		}
	}
}

func FuzzAllowlistCheck(f *testing.F) {
	for _, s := range []string{"https://app.example.com/callbacks/x", "https://app.example.com.evil/callbacks/", "http://localhost:1/", "https://app.example.com/linked"} {
		f.Add(s)
	}
	al := Allowlist{Entries: []string{"https://app.example.com/linked", "https://app.example.com/callbacks/*"}}
	f.Fuzz(func(t *testing.T, uri string) {
		if al.Check(uri) != nil {
			return
		}
		if uri != "https://app.example.com/linked" && !strings.HasPrefix(uri, "https://app.example.com/callbacks/") {
			t.Fatalf("Check accepted %q, which no entry covers", uri)
		}
	})
}

func TestFormTargets(t *testing.T) {
	h := &Handler{ManagementURL: "https://api.supabase.com"}
	got := h.formTargets(nil)
	if strings.Join(got, " ") != "https://api.supabase.com https://supabase.com" {
		t.Errorf("form targets with the platform: %v", got)
	}
	h = &Handler{ManagementURL: "http://127.0.0.1:5555/"}
	got = h.formTargets(&bridge.LinkSession{RedirectURI: "https://app.example.com/linked?x=1"})
	if strings.Join(got, " ") != "http://127.0.0.1:5555 https://app.example.com" {
		t.Errorf("form targets with a stand-in and a redirect: %v", got)
	}
}
