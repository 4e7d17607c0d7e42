package realtime

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestJoinErrors(t *testing.T) {
	e := newEnv(t)
	e.exec(`create table public.items (id int8 primary key, name text)`)
	e.exec(`alter publication supabase_realtime add table public.items`)
	changes := []map[string]any{{"event": "*", "schema": "public", "table": "items"}}
	tests := []struct {
		name   string
		topic  string
		extra  map[string]any
		reason string
	}{
		{"empty topic", "realtime:", nil, "TopicNameRequired: You must provide a topic name"},
		{"expired access token", "realtime:a", map[string]any{"access_token": mintJWT(map[string]any{"role": "authenticated", "exp": time.Now().Add(-100 * time.Second).Unix()})}, "InvalidJWTToken: Token has expired 100 seconds ago"},
		{"access token without role", "realtime:a", map[string]any{"access_token": mintJWT(map[string]any{"exp": time.Now().Add(time.Hour).Unix()})}, "InvalidJWTToken: Fields `role` and `exp` are required in JWT"},
		{"access token bad signature", "realtime:a", map[string]any{"access_token": mintJWTWith([]byte("nope"), map[string]any{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()})}, "JwtSignatureError: Failed to validate JWT signature"},
		{"malformed access token", "realtime:a", map[string]any{"access_token": "abc.def"}, "MalformedJWT: The token provided is not a valid JWT"},
		{"legacy user_token", "realtime:a", map[string]any{"user_token": "abc.def"}, "MalformedJWT: The token provided is not a valid JWT"},
		{"private channel", "realtime:secret", map[string]any{"config": map[string]any{"private": "TRUE", "postgres_changes": changes}}, "Unauthorized: You do not have permissions to read from this Channel topic: secret"},
	}
	for _, vsn := range []string{vsn1, vsn2} {
		for _, tt := range tests {
			t.Run(vsn+"/"+tt.name, func(t *testing.T) {
				c := e.dial(t, vsn, roleToken("anon"))
				c.join(tt.topic, changes, tt.extra)
				f := c.next()
				assertEqual(t, "event", f.Event, "phx_reply")
				assertJSON(t, f.Payload, `{"status":"error","response":{"reason":`+string(mustJSON(tt.reason))+`}}`)
				// The socket stays usable.
				c.push("", "phoenix", "heartbeat", map[string]any{})
				assertEqual(t, "event after error", c.next().Event, "phx_reply")
			})
		}
	}
	t.Run("opaque access token is ignored", func(t *testing.T) {
		c := e.dial(t, vsn2, roleToken("anon"))
		c.subscribe("realtime:a", changes, map[string]any{"access_token": "sb_publishable_whatever"})
	})
	t.Run("join error delay", func(t *testing.T) {
		e2 := newEnv(t, func(c *Config) { c.JoinErrorDelay = 300 * time.Millisecond })
		c := e2.dial(t, vsn1, roleToken("anon"))
		start := time.Now()
		c.join("realtime:", nil, nil)
		c.next()
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Fatalf("join error came after %s, want ≥ 300ms", d)
		}
	})
	t.Run("duplicate join closes the previous channel", func(t *testing.T) {
		c := e.dial(t, vsn2, roleToken("service_role"))
		first := c.join("realtime:dup", nil, nil)
		c.next()
		second := c.join("realtime:dup", nil, nil)
		assertFrame(t, c.next(), `["`+first+`","`+first+`","realtime:dup","phx_close",{}]`)
		assertFrame(t, c.next(), `["`+second+`","`+second+`","realtime:dup","phx_reply",{"status":"ok","response":{"postgres_changes":[]}}]`)
	})
	t.Run("ids are stable and entries echoed as sent", func(t *testing.T) {
		entries := []map[string]any{
			{"event": "INSERT", "schema": "public", "table": "items", "filter": "id=eq.1"},
			{"event": "delete", "table": "items", "extra": "kept"},
		}
		var first []int64
		for range 2 {
			c := e.dial(t, vsn1, roleToken("service_role"))
			c.join("realtime:ids", entries, nil)
			f := c.next()
			var rep struct {
				Response struct {
					PostgresChanges []map[string]any `json:"postgres_changes"`
				} `json:"response"`
			}
			if err := json.Unmarshal(f.Payload, &rep); err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for i, pc := range rep.Response.PostgresChanges {
				id := int64(pc["id"].(float64))
				if id < 0 || id >= 1<<27 {
					t.Fatalf("id %d outside phash2's range", id)
				}
				delete(pc, "id")
				b, _ := json.Marshal(pc)
				want, _ := json.Marshal(entries[i])
				assertJSON(t, b, string(want))
				ids = append(ids, id)
			}
			if ids[0] == ids[1] {
				t.Fatalf("different entries got the same id %d", ids[0])
			}
			if first == nil {
				first = ids
			} else {
				assertEqual(t, "ids on rejoin", ids, first)
			}
			assertEqual(t, "system", c.next().Event, "system")
		}
	})
}

// TestSubscriptionErrors checks the postgres_changes system error messages
// that follow a successful join reply.
func TestSubscriptionErrors(t *testing.T) {
	e := newEnv(t)
	e.exec(`create table public.test (id int4 primary key, details text, secret text)`)
	e.exec(`create table public.unpublished (id int4 primary key)`)
	e.exec(`alter publication supabase_realtime add table public.test`)
	e.exec(`revoke select on public.test from anon`)
	e.exec(`grant select (id, details) on public.test to anon`)
	pref := "Unable to subscribe to changes with given parameters. "
	tests := []struct {
		name  string
		entry map[string]any
		msg   string
	}{
		{"filter without operator", map[string]any{"schema": "public", "table": "test", "filter": "wrong"}, "Error parsing `filter` params: [\"wrong\"]"},
		{"unknown operator", map[string]any{"schema": "public", "table": "test", "filter": "details=foo.hey"}, "Error parsing `filter` params: [\"foo\", \"hey\"]"},
		{"like is not supported", map[string]any{"schema": "public", "table": "test", "filter": "details=like.hey"}, "Error parsing `filter` params: [\"like\", \"hey\"]"},
		{"in without parentheses", map[string]any{"schema": "public", "table": "test", "filter": "id=in.1,2"}, "Error parsing `filter` params: `in` filter value must be wrapped by parentheses"},
		{"no schema or table", map[string]any{"event": "*"}, "No subscription params provided. Please provide at least a `schema` or `table` to subscribe to: %{\"event\" => \"*\"}"},
		{"table not published", map[string]any{"event": "*", "schema": "public", "table": "unpublished"}, pref + "Please check Realtime is enabled for the given connect parameters: [event: *, schema: public, table: unpublished, filters: [], select: nil]"},
		{"missing table", map[string]any{"event": "INSERT", "table": "doesnotexist"}, pref + "Please check Realtime is enabled for the given connect parameters: [event: INSERT, schema: public, table: doesnotexist, filters: [], select: nil]"},
		{"empty schema", map[string]any{"schema": "nothing_here"}, pref + "Please check Realtime is enabled for the given connect parameters: [event: *, schema: nothing_here, table: *, filters: [], select: nil]"},
		{"unknown filter column", map[string]any{"schema": "public", "table": "test", "filter": "notacolumn=eq.123"}, pref + "An exception happened so please check your connect parameters: [event: *, schema: public, table: test, filters: [{\"notacolumn\", \"eq\", \"123\", false}], select: nil]. Exception: ERROR P0001 (raise_exception) invalid column for filter notacolumn"},
		{"filter column the role cannot read", map[string]any{"schema": "public", "table": "test", "filter": "secret=eq.x"}, pref + "An exception happened so please check your connect parameters: [event: *, schema: public, table: test, filters: [{\"secret\", \"eq\", \"x\", false}], select: nil]. Exception: ERROR P0001 (raise_exception) invalid column for filter secret"},
		{"value does not cast", map[string]any{"schema": "public", "table": "test", "filter": "id=eq.abc"}, pref + "An exception happened so please check your connect parameters: [event: *, schema: public, table: test, filters: [{\"id\", \"eq\", \"abc\", false}], select: nil]. Exception: ERROR 22P02 (invalid_text_representation) invalid input syntax for type integer: \"abc\""},
		{"too many in values", map[string]any{"schema": "public", "table": "test", "filter": "id=in.(" + strings.Repeat("1,", 100) + "1)"}, pref + "An exception happened so please check your connect parameters: [event: *, schema: public, table: test, filters: [{\"id\", \"in\", \"{" + strings.Repeat("1,", 100) + "1}\", false}], select: nil]. Exception: ERROR P0001 (raise_exception) too many values for `in` filter. Maximum 100"},
	}
	for _, vsn := range []string{vsn1, vsn2} {
		for _, tt := range tests {
			t.Run(vsn+"/"+tt.name, func(t *testing.T) {
				c := e.dial(t, vsn, roleToken("anon"))
				joinRef := c.join("realtime:chan", []map[string]any{tt.entry}, nil)
				reply := c.next()
				assertEqual(t, "reply event", reply.Event, "phx_reply")
				f := c.next()
				assertEqual(t, "event", f.Event, "system")
				if vsn == vsn2 {
					assertEqual(t, "join_ref", string(f.JoinRef), `"`+joinRef+`"`)
					assertEqual(t, "ref", string(f.Ref), "null")
				}
				assertJSON(t, f.Payload, `{"channel":"chan","extension":"postgres_changes","status":"error","message":`+string(mustJSON(tt.msg))+`}`)
				// The channel stays joined: leaving it is answered and closed.
				c.push(joinRef, "realtime:chan", "phx_leave", map[string]any{})
				assertEqual(t, "leave reply", c.next().Event, "phx_reply")
				assertEqual(t, "close", c.next().Event, "phx_close")
			})
		}
	}
	t.Run("unknown role", func(t *testing.T) {
		c := e.dial(t, vsn1, roleToken("nobody_here"))
		c.join("realtime:chan", []map[string]any{{"schema": "public", "table": "test"}}, nil)
		c.next()
		f := c.next()
		assertJSON(t, f.Payload, `{"channel":"chan","extension":"postgres_changes","status":"error","message":`+string(mustJSON(pref+"An exception happened so please check your connect parameters: [event: *, schema: public, table: test, filters: [], select: nil]. Exception: ERROR 42704 (undefined_object) role \"nobody_here\" does not exist"))+`}`)
	})
}
