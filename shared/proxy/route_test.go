package proxy

import (
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/supabridge/supabridge/shared/bridge"
)

func TestParsePath(t *testing.T) {
	for _, tt := range []struct {
		in   string
		api  api
		code string
	}{
		{"v1/projects", apiManagement, ""},
		{"v1/projects/abc/api-keys", apiManagement, ""},
		{"rest/v1/", apiREST, ""},
		{"rest/v1/px_books", apiREST, ""},
		{"rest/v1/rpc/px_add", apiREST, ""},
		{"auth/v1/admin/users", apiAuth, ""},
		{"storage/v1/object/bucket/a%20b.png", apiStorage, ""},
		{"storage/v1/object/bucket/100%25.png", apiStorage, ""},
		{"functions/v1/hello-world", apiFunctions, ""},
		{"graphql/v1", apiGraphQL, ""},
		{"", 0, bridge.ENOTFOUND},
		{"v1", 0, bridge.ENOTFOUND},
		{"rest", 0, bridge.ENOTFOUND},
		{"rest/v2/x", 0, bridge.ENOTFOUND},
		{"realtime/v1/websocket", 0, bridge.ENOTFOUND},
		{"rest/v1/../v1", 0, bridge.EINVALID},
		{"rest/v1/%2e%2e", 0, bridge.EINVALID},
		{"rest/v1/a%2Fb", 0, bridge.EINVALID},
		{"rest/v1/a%5Cb", 0, bridge.EINVALID},
		{`rest/v1/a\b`, 0, bridge.EINVALID},
		{"rest/v1/%252e%252e", 0, bridge.EINVALID},
		{"rest/v1//x", 0, bridge.EINVALID},
		{"/evil.example.com", 0, bridge.EINVALID},
		{"https:/evil.example.com", 0, bridge.EINVALID},
		{"rest/v1/%zz", 0, bridge.EINVALID},
		{"rest/v1/a%0ab", 0, bridge.EINVALID},
	} {
		r, err := parsePath(tt.in)
		if bridge.ErrorCode(err) != tt.code || r.api != tt.api {
			t.Errorf("parsePath(%q) = %v, %v; want api %v, code %q", tt.in, r.api, err, tt.api, tt.code)
		}
	}
}

// FuzzParsePath: whatever path a caller sends, an accepted one stays under
// its API prefix on the account's host, with no dot or empty segment, no
// backslash and no encoded separator, even after a second decoding.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"rest/v1/px_books", "v1/projects", "storage/v1/object/a%20b", "rest/v1/../x", "rest/v1/%2e%2e/x",
		"rest/v1/a%2Fb", `rest/v1/a\b`, "rest/v1/%252f", "//evil", "https://evil/x", "graphql/v1", "functions/v1/f?x=1", "rest/v1/a#b",
		"auth/v1/%", "storage/v1/%C0%AE%C0%AE/x", "rest/v1/\x00", "v1/../../x"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://abcdefghijklmnopqrst.supabase.co/base")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := parsePath(in)
		if err != nil {
			if c := bridge.ErrorCode(err); c != bridge.EINVALID && c != bridge.ENOTFOUND {
				t.Fatalf("parsePath(%q): code %s", in, c)
			}
			return
		}
		prefix := "v1/"
		for name, a := range prefixes {
			if a == r.api {
				prefix = name + "/v1"
			}
		}
		if !strings.HasPrefix(r.decoded, prefix) || !strings.HasPrefix(r.escaped, prefix) {
			t.Fatalf("parsePath(%q) left its prefix %s: %q", in, prefix, r.decoded)
		}
		for _, bad := range []string{`\`, "//", "\x00"} {
			if strings.Contains(r.decoded, bad) {
				t.Fatalf("parsePath(%q) kept %q", in, bad)
			}
		}
		if c := path.Clean("/" + r.decoded); c != "/"+strings.TrimSuffix(r.decoded, "/") {
			t.Fatalf("parsePath(%q) is not clean: %q", in, r.decoded)
		}
		twice, err := url.PathUnescape(r.decoded)
		if err == nil && path.Clean("/"+twice) != "/"+strings.TrimSuffix(twice, "/") && !strings.Contains(twice, "//") {
			t.Fatalf("parsePath(%q) decodes twice to an unclean path %q", in, twice)
		}
		u := join(base, r, "a=1")
		back, err := url.Parse(u.String())
		if err != nil || back.Host != base.Host || back.Scheme != base.Scheme || !strings.HasPrefix(back.Path, "/base/"+prefix) || back.RawQuery != "a=1" {
			t.Fatalf("parsePath(%q) → %s", in, u)
		}
	})
}
