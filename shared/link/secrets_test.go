package link

import (
	"strings"
	"testing"

	"github.com/supabridge/supabridge/shared/bridge"
)

func TestLinkTokenRoundTrip(t *testing.T) {
	id := bridge.NewID()
	tok := newLinkToken(id)
	got, ok := parseLinkToken(tok)
	if !ok || got != id {
		t.Fatalf("parseLinkToken(newLinkToken(%s)) = %s, %v", id, got, ok)
	}
	if other := newLinkToken(id); other == tok {
		t.Fatal("two tokens for one session are equal")
	}
	for _, bad := range []string{"", tok[:len(tok)-1], strings.Replace(tok, "slt_", "slx_", 1), tok + "x", strings.Replace(tok, "_", "-", 2)} {
		if _, ok := parseLinkToken(bad); ok {
			t.Errorf("parseLinkToken(%q) accepted", bad)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	id := bridge.NewID()
	for _, origin := range []string{"", "https://app.example.com", "http://127.0.0.1:5173"} {
		s := newState(id, origin)
		gotID, gotOrigin, ok := parseState(s)
		if !ok || gotID != id || gotOrigin != origin {
			t.Errorf("parseState(newState(%s, %q)) = %s, %q, %v", id, origin, gotID, gotOrigin, ok)
		}
	}
}

func TestDerivedValues(t *testing.T) {
	d := deriver{key: []byte(strings.Repeat("k", 48))}
	other := deriver{key: []byte(strings.Repeat("j", 48))}
	s1, s2 := newState(bridge.NewID(), ""), newState(bridge.NewID(), "")
	v := d.verifier(s1)
	if len(v) < 43 || len(v) > 128 || strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") != "" {
		t.Errorf("verifier %q is not an RFC 7636 verifier", v)
	}
	if v != d.verifier(s1) || v == d.verifier(s2) || v == other.verifier(s1) {
		t.Error("verifiers are not a function of the state and the key alone")
	}
	c := d.csrf("id", "hash")
	if !d.checkCSRF("id", "hash", c) || d.checkCSRF("id2", "hash", c) || d.checkCSRF("id", "hash2", c) || other.checkCSRF("id", "hash", c) || d.checkCSRF("id", "hash", "") {
		t.Error("CSRF tokens are not bound to the session, its token and the key")
	}
}

func FuzzParseLinkToken(f *testing.F) {
	f.Add(newLinkToken(bridge.NewID()))
	f.Add("slt_")
	f.Add("slt_" + strings.Repeat("z", 32) + "_" + strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, tok string) {
		id, ok := parseLinkToken(tok)
		if ok && !bridge.ValidID(id) {
			t.Fatalf("parseLinkToken(%q) = %q, not an ID", tok, id)
		}
	})
}

func FuzzParseState(f *testing.F) {
	f.Add(newState(bridge.NewID(), "https://app.example.com"))
	f.Add(newState(bridge.NewID(), ""))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, state string) {
		id, _, ok := parseState(state)
		if ok && !bridge.ValidID(id) {
			t.Fatalf("parseState(%q) = %q, not an ID", state, id)
		}
	})
}
