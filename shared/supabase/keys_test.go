package supabase

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

// fakeJWT builds an unsigned JWT with the given payload; ClassifyKey never
// verifies signatures, so any signature will do.
func fakeJWT(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".c2lnbmF0dXJl"
}

func TestClassifyKey(t *testing.T) {
	exp := time.Unix(2085913084, 0).UTC()
	for _, tc := range []struct {
		name    string
		key     string
		want    KeyInfo
		wantErr bool
	}{
		{"publishable", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH", KeyInfo{Kind: KeyPublishable, Role: "anon"}, false},
		{"secret", "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz", KeyInfo{Kind: KeySecret, Role: "service_role", BypassesRLS: true}, false},
		{"legacy anon", fakeJWT(`{"iss":"supabase","ref":"abcdefghijklmnopqrst","role":"anon","iat":1770337084,"exp":2085913084}`),
			KeyInfo{Kind: KeyLegacy, Role: "anon", Ref: "abcdefghijklmnopqrst", ExpiresAt: exp}, false},
		{"legacy service_role", fakeJWT(`{"iss":"supabase","ref":"abcdefghijklmnopqrst","role":"service_role","exp":2085913084}`),
			KeyInfo{Kind: KeyLegacy, Role: "service_role", BypassesRLS: true, Ref: "abcdefghijklmnopqrst", ExpiresAt: exp}, false},
		{"local CLI key without ref", fakeJWT(`{"iss":"supabase-demo","role":"anon","exp":1983812996}`),
			KeyInfo{Kind: KeyLegacy, Role: "anon", ExpiresAt: time.Unix(1983812996, 0).UTC()}, false},
		{"padded payload", fakeJWT(`{"role":"anon"}`) + "", KeyInfo{Kind: KeyLegacy, Role: "anon"}, false},
		{"user access token", fakeJWT(`{"sub":"u","role":"authenticated"}`), KeyInfo{}, true},
		{"no role", fakeJWT(`{"iss":"supabase"}`), KeyInfo{}, true},
		{"payload not JSON", "aGVhZA.bm90IGpzb24.c2ln", KeyInfo{}, true},
		{"payload not base64", "a.b$c.d", KeyInfo{}, true},
		{"personal access token", "sbp_0123456789abcdef", KeyInfo{}, true},
		{"bare prefix", "sb_secret_", KeyInfo{}, true},
		{"empty", "", KeyInfo{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ClassifyKey(tc.key)
			if tc.wantErr {
				if !errors.Is(err, ErrUnrecognizedKey) {
					t.Fatalf("err = %v, want ErrUnrecognizedKey", err)
				}
				if len(tc.key) > len(publishablePrefix) {
					assertNoSecret(t, "error", err.Error(), tc.key)
				}
				return
			}
			assertNoError(t, err)
			assertEqual(t, "info", got, tc.want)
		})
	}
}

func FuzzClassifyKey(f *testing.F) {
	f.Add("sb_secret_x")
	f.Add(fakeJWT(`{"role":"service_role","exp":1e300}`))
	f.Add(fakeJWT(`{"role":"anon","exp":"soon"}`))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, key string) {
		info, err := ClassifyKey(key)
		if err != nil {
			return
		}
		if info.BypassesRLS != (info.Role == "service_role") {
			t.Fatalf("BypassesRLS %v for role %q", info.BypassesRLS, info.Role)
		}
	})
}
