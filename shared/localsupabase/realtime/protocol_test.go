package realtime

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestUpgradeRefusals(t *testing.T) {
	e := newEnv(t)
	valid := roleToken("anon")
	tests := []struct {
		name   string
		path   string
		query  string
		header http.Header
		status int
		body   string
	}{
		{"missing key", PublicPath, "vsn=1.0.0", nil, 401, `{"error":"API key is missing"}`},
		{"malformed token", PublicPath, "apikey=not-a-jwt", nil, 401, `{"error":"The token provided is not a valid JWT"}`},
		{"bad signature", PublicPath, "apikey=" + mintJWTWith([]byte("other-secret"), map[string]any{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()}), nil, 401, `{"error":"Failed to validate JWT signature"}`},
		{"expired", PublicPath, "apikey=" + mintJWT(map[string]any{"role": "anon", "exp": time.Now().Add(-time.Minute).Unix()}), nil, 401, `{"error":"Token has expired"}`},
		{"no role", PublicPath, "apikey=" + mintJWT(map[string]any{"exp": time.Now().Add(time.Hour).Unix()}), nil, 401, "{\"error\":\"Fields `role` and `exp` are required in JWT\"}"},
		{"no exp", PublicPath, "apikey=" + mintJWT(map[string]any{"role": "anon"}), nil, 401, "{\"error\":\"Fields `role` and `exp` are required in JWT\"}"},
		{"unresolvable opaque key", PublicPath, "apikey=sb_publishable_nope", nil, 401, `{"error":"The token provided is not a valid JWT"}`},
		{"header wins over query", DirectPath, "apikey=" + valid, http.Header{"X-Api-Key": {"garbage"}}, 401, `{"error":"The token provided is not a valid JWT"}`},
		{"unknown serializer", PublicPath, "apikey=" + valid + "&vsn=3.0.0", nil, 403, ``},
		{"valid key", PublicPath, "apikey=" + valid, nil, 101, ``},
		{"valid header key", DirectPath, "apikey=garbage", http.Header{"X-Api-Key": {valid}}, 101, ``},
		{"opaque key resolved", PublicPath, "apikey=sb_publishable_test&vsn=2.0.0", nil, 101, ``},
		{"other path", "/socket/longpoll", "apikey=" + valid, nil, 404, "404 page not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, hdr := e.upgrade(t, tt.path, tt.query, tt.header)
			assertEqual(t, "status", status, tt.status)
			if strings.HasPrefix(tt.body, "{") {
				assertJSON(t, []byte(body), tt.body)
				assertEqual(t, "content type", hdr.Get("Content-Type"), "application/json")
			} else {
				assertEqual(t, "body", body, tt.body)
			}
		})
	}
	t.Run("not an upgrade", func(t *testing.T) {
		resp, err := http.Get(e.ts.URL + PublicPath + "?apikey=" + valid)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		assertEqual(t, "status", resp.StatusCode, 400)
	})
}

// TestFrames drives both serializers frame by frame against the frames the
// reference notes give for the real server.
func TestFrames(t *testing.T) {
	e := newEnv(t)
	e.exec(`create table public.test (id int4 primary key, details text, binary_data bytea)`)
	e.exec(`alter publication supabase_realtime add table public.test`)
	e.exec(`grant all on public.test to anon, authenticated, service_role`)
	entry := `{"event":"*","schema":"public","table":"test"}`
	for i, vsn := range []string{vsn1, vsn2} {
		t.Run(vsn, func(t *testing.T) {
			c := e.dial(t, vsn, roleToken("service_role"))
			// frameFor renders an expected frame in this serializer.
			frameFor := func(joinRef, ref, topic, event, payload string) string {
				if vsn == vsn2 {
					return fmt.Sprintf(`[%s,%s,%q,%q,%s]`, joinRef, ref, topic, event, payload)
				}
				return fmt.Sprintf(`{"topic":%q,"event":%q,"payload":%s,"ref":%s}`, topic, event, payload, ref)
			}

			ref := c.push("", "phoenix", "heartbeat", map[string]any{})
			assertFrame(t, c.next(), frameFor(`null`, `"`+ref+`"`, "phoenix", "phx_reply", `{"status":"ok","response":{}}`))

			// Malformed frames are dropped and the socket stays up.
			c.sendRaw(`{"topic":"phoenix","event":"heartbeat"}`)
			c.sendRaw(`not json`)
			c.sendRaw(`["only","three","items"]`)
			ref = c.push("", "phoenix", "heartbeat", map[string]any{})
			assertFrame(t, c.next(), frameFor(`null`, `"`+ref+`"`, "phoenix", "phx_reply", `{"status":"ok","response":{}}`))

			topic := "realtime:any"
			joinRef := c.join(topic, []map[string]any{{"event": "*", "schema": "public", "table": "test"}}, nil)
			id := entryIDOf(t, entry)
			reply := c.next()
			assertFrame(t, reply, frameFor(`"`+joinRef+`"`, `"`+joinRef+`"`, topic, "phx_reply",
				fmt.Sprintf(`{"status":"ok","response":{"postgres_changes":[{"event":"*","schema":"public","table":"test","id":%d}]}}`, id)))
			assertFrame(t, c.next(), frameFor(`"`+joinRef+`"`, `null`, topic, "system",
				`{"channel":"any","extension":"postgres_changes","message":"Subscribed to PostgreSQL","status":"ok"}`))

			n := i + 1
			cols := `[{"name":"id","type":"int4"},{"name":"details","type":"text"},{"name":"binary_data","type":"bytea"}]`
			e.exec(`insert into public.test values ($1, 'test', '\x0102030405')`, n)
			assertFrame(t, c.next(), frameFor(`null`, `null`, topic, "postgres_changes", fmt.Sprintf(
				`{"data":{"columns":%s,"commit_timestamp":"<ts>","errors":null,"record":{"binary_data":"0102030405","details":"test","id":%d},"schema":"public","table":"test","type":"INSERT"},"ids":[%d]}`, cols, n, id)))
			e.exec(`update public.test set details = 'changed', binary_data = null where id = $1`, n)
			assertFrame(t, c.next(), frameFor(`null`, `null`, topic, "postgres_changes", fmt.Sprintf(
				`{"data":{"columns":%s,"commit_timestamp":"<ts>","errors":null,"old_record":{"id":%d},"record":{"binary_data":null,"details":"changed","id":%d},"schema":"public","table":"test","type":"UPDATE"},"ids":[%d]}`, cols, n, n, id)))
			e.exec(`delete from public.test where id = $1`, n)
			assertFrame(t, c.next(), frameFor(`null`, `null`, topic, "postgres_changes", fmt.Sprintf(
				`{"data":{"columns":%s,"commit_timestamp":"<ts>","errors":null,"old_record":{"id":%d},"schema":"public","table":"test","type":"DELETE"},"ids":[%d]}`, cols, n, id)))

			// Events on a topic never joined.
			ref = c.push("", "realtime:other", "access_token", map[string]any{"access_token": "x"})
			assertFrame(t, c.next(), frameFor(`null`, `"`+ref+`"`, "realtime:other", "phx_reply", `{"status":"error","response":{"reason":"unmatched topic"}}`))
			ref = c.push("", "realtime:other", "phx_leave", map[string]any{})
			assertFrame(t, c.next(), frameFor(`null`, `"`+ref+`"`, "realtime:other", "phx_reply", `{"status":"ok","response":{}}`))
			ref = c.push("", "elsewhere", "phx_join", map[string]any{})
			assertFrame(t, c.next(), frameFor(`null`, `"`+ref+`"`, "elsewhere", "phx_reply", `{"status":"error","response":{"reason":"unmatched topic"}}`))

			// Unknown events on a joined channel get no reply.
			c.push(joinRef, topic, "some_event", map[string]any{})

			// Leave: ok reply, then phx_close with the join ref.
			ref = c.push(joinRef, topic, "phx_leave", map[string]any{})
			assertFrame(t, c.next(), frameFor(`"`+joinRef+`"`, `"`+ref+`"`, topic, "phx_reply", `{"status":"ok","response":{}}`))
			assertFrame(t, c.next(), frameFor(`"`+joinRef+`"`, `"`+joinRef+`"`, topic, "phx_close", `{}`))
			e.exec(`insert into public.test values ($1, 'after leave', null)`, n+10)
			c.expectNone(500 * time.Millisecond)

			// A join without postgres_changes: reply with an empty list and
			// no system message.
			jr := c.join("realtime:room", nil, nil)
			assertFrame(t, c.next(), frameFor(`"`+jr+`"`, `"`+jr+`"`, "realtime:room", "phx_reply", `{"status":"ok","response":{"postgres_changes":[]}}`))
			c.expectNone(300 * time.Millisecond)
		})
	}
}

func entryIDOf(t *testing.T, entry string) int64 {
	t.Helper()
	var m map[string]jsonRaw
	if err := jsonUnmarshal([]byte(entry), &m); err != nil {
		t.Fatal(err)
	}
	return entryID(m)
}
