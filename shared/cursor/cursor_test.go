package cursor_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/cursor"
)

var key = bytes.Repeat([]byte{7}, 32)

type pos struct {
	After string `json:"a"`
}

func TestRoundTripAndBinding(t *testing.T) {
	s := cursor.New(key)
	c, err := s.Sign("accounts\x00production", pos{After: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	var p pos
	if err := s.Open("accounts\x00production", c, &p); err != nil || p.After != "abc" {
		t.Fatalf("Open = %v, %+v", err, p)
	}
	flip := []byte(c)
	flip[2] ^= 1
	other, _ := cursor.New(bytes.Repeat([]byte{8}, 32)).Sign("accounts\x00production", pos{After: "abc"})
	for name, bad := range map[string]struct{ scope, c string }{
		"other scope":   {"accounts\x00staging", c},
		"tampered":      {"accounts\x00production", string(flip)},
		"other key":     {"accounts\x00production", other},
		"no mac":        {"accounts\x00production", strings.Split(c, ".")[0]},
		"garbage":       {"accounts\x00production", "!!!.???"},
		"empty":         {"accounts\x00production", ""},
		"too long":      {"accounts\x00production", strings.Repeat("a", cursor.MaxLen+1)},
		"truncated mac": {"accounts\x00production", c[:len(c)-2]},
	} {
		t.Run(name, func(t *testing.T) {
			if err := s.Open(bad.scope, bad.c, &p); !bridge.IsCode(err, bridge.EINVALID) {
				t.Errorf("Open = %v, want EINVALID", err)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	s := cursor.New(key)
	good, _ := s.Sign("scope", pos{After: "x"})
	for _, seed := range []string{good, "", ".", "a.b", good + "x", "eyJ9.AAAA"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, c string) {
		var p pos
		err := s.Open("scope", c, &p)
		if err != nil && !bridge.IsCode(err, bridge.EINVALID) {
			t.Fatalf("Open returned a non-EINVALID error: %v", err)
		}
		if err == nil && c != good {
			// Only a cursor this signer made may open; anything else is a forgery.
			re, _ := s.Sign("scope", p)
			if re != c {
				t.Fatalf("accepted a cursor that was never signed: %q", c)
			}
		}
	})
}
