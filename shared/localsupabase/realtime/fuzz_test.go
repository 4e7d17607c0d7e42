package realtime

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}`,
		`{"topic":"realtime:a","event":"phx_join","payload":{"config":{}},"ref":null,"join_ref":"1"}`,
		`[null,"26","phoenix","heartbeat",{}]`,
		`["3","5","realtime:chat-room","phx_join",{"config":{"postgres_changes":[]}},"extra"]`,
		`[1,2,3,4]`, `{"topic":1}`, `null`, ``, `[`,
	} {
		f.Add(vsn1, []byte(s))
		f.Add(vsn2, []byte(s))
	}
	f.Fuzz(func(t *testing.T, vsn string, data []byte) {
		m, err := decodeMessage(vsn, data)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode as valid JSON in both forms.
		for _, v := range []string{vsn1, vsn2} {
			out := encodeMessage(v, reply(m, "ok", struct{}{}))
			if !json.Valid(out) {
				t.Fatalf("invalid frame %q from %q", out, data)
			}
		}
	})
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"id=eq.1", "status=in.(a,b)", "wrong", "a=foo.b", "x=in.1,2", "", " ", "a=eq.", "=eq.1", "a=in.()"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl, msg := parseFilter(s)
		if msg != "" && fl != nil {
			t.Fatalf("both a filter and an error for %q", s)
		}
		if msg != "" && !strings.HasPrefix(msg, "Error parsing `filter` params: ") {
			t.Fatalf("unexpected message %q", msg)
		}
		if fl != nil && filterOps[fl.op] == "" {
			t.Fatalf("unknown operator %q accepted", fl.op)
		}
		b := &binding{action: "*", schema: "public", table: "t", filter: fl}
		_ = b.paramsText()
	})
}

var knownTokenMessage = regexp.MustCompile("^(The token provided is not a valid JWT|Failed to validate JWT signature|" +
	"Failed to generate JWT signer, check your JWT secret or JWKS configuration|Fields `role` and `exp` are required in JWT|" +
	"Token has expired -?[0-9]+ seconds ago)$")

func FuzzVerifyJWT(f *testing.F) {
	now := time.Now()
	f.Add(mintJWT(map[string]any{"role": "anon", "exp": now.Add(time.Hour).Unix()}))
	f.Add(mintJWT(map[string]any{"role": 1, "exp": "soon"}))
	f.Add(mintJWT(map[string]any{}))
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := verifyJWT(token, testSecret, now)
		if (c == nil) == (err == nil) {
			t.Fatalf("verifyJWT(%q) = %v, %v", token, c, err)
		}
		// Messages are fixed texts, so no part of a token can leak into one.
		if err != nil && !knownTokenMessage.MatchString(err.Error()) {
			t.Fatalf("unexpected message %q", err.Error())
		}
		if c != nil && (c.role == "" || !c.exp.After(now)) {
			t.Fatalf("accepted claims without role or with past exp: %+v", c)
		}
	})
}

func FuzzParseBinding(f *testing.F) {
	for _, s := range []string{
		`{"event":"*","schema":"public","table":"t"}`, `{"event":"insert","table":"t","filter":"id=eq.1"}`,
		`{"schema":"s"}`, `{}`, `{"event":5,"schema":["x"]}`, `{"table":"t","filter":"bad"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var entry map[string]json.RawMessage
		if json.Unmarshal([]byte(s), &entry) != nil || entry == nil {
			return
		}
		b, msg := parseBinding(entry)
		if (b == nil) == (msg == "") {
			t.Fatalf("parseBinding(%s) = %v, %q", s, b, msg)
		}
		if b != nil {
			if b.id < 0 || b.id >= 1<<27 {
				t.Fatalf("id %d out of range", b.id)
			}
			switch b.action {
			case "*", "INSERT", "UPDATE", "DELETE":
			default:
				t.Fatalf("action %q", b.action)
			}
		}
	})
}
