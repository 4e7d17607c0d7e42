package realtime

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"
)

const (
	userA = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
	userB = "b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a22"
)

// TestRLS checks that each subscriber sees only the rows its role and
// claims can select, and only the columns it may read.
func TestRLS(t *testing.T) {
	e := newEnv(t)
	e.exec(`create table public.notes (id int8 primary key, owner uuid, body text, internal text)`)
	e.exec(`alter table public.notes enable row level security`)
	e.exec(`create policy own on public.notes for select to authenticated using (owner = auth.uid())`)
	e.exec(`create policy claims on public.notes for select to authenticated using ((auth.jwt() ->> 'team') = 'ops')`)
	e.exec(`revoke all on public.notes from authenticated`)
	e.exec(`grant select (id, owner, body) on public.notes to authenticated`)
	e.exec(`grant select on public.notes to service_role`)
	e.exec(`alter publication supabase_realtime add table public.notes`)
	changes := []map[string]any{{"event": "*", "schema": "public", "table": "notes"}}

	a := e.dial(t, vsn1, roleToken("anon"))
	a.subscribe("realtime:notes", changes, map[string]any{"access_token": roleToken("authenticated", "sub", userA)})
	b := e.dial(t, vsn1, roleToken("anon"))
	b.subscribe("realtime:notes", changes, map[string]any{"access_token": roleToken("authenticated", "sub", userB)})
	ops := e.dial(t, vsn1, roleToken("anon"))
	ops.subscribe("realtime:notes", changes, map[string]any{"access_token": roleToken("authenticated", "sub", userB, "team", "ops")})
	svc := e.dial(t, vsn2, roleToken("service_role"))
	svc.subscribe("realtime:notes", changes, nil)
	anon := e.dial(t, vsn2, roleToken("anon"))
	anon.join("realtime:notes", changes, nil)
	anon.next()
	anonSys := anon.next() // anon cannot read the table: it still subscribes, but never sees a row
	assertEqual(t, "anon system", anonSys.Event, "system")

	e.exec(`insert into public.notes values (1, $1, 'for a', 'x')`, userA)
	got := a.nextChange()
	b2, _ := json.Marshal(got.Data.Record)
	assertJSON(t, b2, `{"id":1,"owner":"`+userA+`","body":"for a"}`)
	cols, _ := json.Marshal(got.Data.Columns)
	assertJSON(t, cols, `[{"name":"id","type":"int8"},{"name":"owner","type":"uuid"},{"name":"body","type":"text"}]`)
	assertEqual(t, "ops sees it", ops.nextChange().Data.Record["body"], any("for a"))
	svcRec := svc.nextChange().Data.Record
	assertEqual(t, "service role sees every column", svcRec["internal"], any("x"))
	b.expectNone(300 * time.Millisecond)
	anon.expectNone(10 * time.Millisecond)

	e.exec(`update public.notes set owner = $1 where id = 1`, userB)
	assertEqual(t, "b sees the row now", b.nextChange().Data.Type, "UPDATE")
	assertEqual(t, "ops", ops.nextChange().Data.Type, "UPDATE")
	assertEqual(t, "svc", svc.nextChange().Data.Type, "UPDATE")
	a.expectNone(300 * time.Millisecond)

	// RLS is not applied to DELETE: everyone subscribed receives it, with
	// only the primary key.
	e.exec(`delete from public.notes where id = 1`)
	for _, c := range []*client{a, b, ops} {
		d := c.nextChange()
		assertEqual(t, "delete", d.Data.Type, "DELETE")
		o, _ := json.Marshal(d.Data.OldRecord)
		assertJSON(t, o, `{"id":1}`)
	}
	svc.nextChange()
}

func TestAccessTokenRefresh(t *testing.T) {
	e := newEnv(t)
	e.exec(`create table public.notes (id int8 primary key, owner uuid)`)
	e.exec(`alter table public.notes enable row level security`)
	e.exec(`create policy own on public.notes for select to authenticated using (owner = auth.uid())`)
	e.exec(`grant select on public.notes to authenticated`)
	e.exec(`alter publication supabase_realtime add table public.notes`)
	changes := []map[string]any{{"event": "INSERT", "schema": "public", "table": "notes"}}
	for n, vsn := range []string{vsn1, vsn2} {
		base := n * 100
		t.Run(vsn, func(t *testing.T) {
			c := e.dial(t, vsn, roleToken("anon"))
			tokA := roleToken("authenticated", "sub", userA)
			joinRef := c.join("realtime:n", changes, map[string]any{"access_token": tokA})
			c.next()
			c.next()
			// Ignored: the same token, an opaque key, null.
			c.push(joinRef, "realtime:n", "access_token", map[string]any{"access_token": tokA})
			c.push(joinRef, "realtime:n", "access_token", map[string]any{"access_token": "sb_publishable_x"})
			c.push(joinRef, "realtime:n", "access_token", map[string]any{"access_token": nil})
			c.expectNone(300 * time.Millisecond)
			// Switch identity: no reply, then a fresh "Subscribed".
			c.push(joinRef, "realtime:n", "access_token", map[string]any{"access_token": roleToken("authenticated", "sub", userB)})
			sys := c.next()
			assertEqual(t, "event", sys.Event, "system")
			assertJSON(t, sys.Payload, `{"channel":"n","extension":"postgres_changes","message":"Subscribed to PostgreSQL","status":"ok"}`)
			e.exec(`insert into public.notes values ($1, $2), ($3, $4)`, base+1, userA, base+2, userB)
			got := c.nextChange()
			assertEqual(t, "row of the new identity", got.Data.Record["id"], any(float64(base+2)))
			c.expectNone(200 * time.Millisecond)

			// A bad token ends the channel: system error, then phx_close.
			c.push(joinRef, "realtime:n", "access_token", map[string]any{"access_token": "not.a.jwt"})
			f := c.next()
			assertEqual(t, "event", f.Event, "system")
			assertJSON(t, f.Payload, `{"channel":"n","extension":"system","message":"The token provided is not a valid JWT","status":"error"}`)
			cl := c.next()
			assertEqual(t, "close", cl.Event, "phx_close")
			assertEqual(t, "close ref", string(cl.Ref), `"`+joinRef+`"`)
			e.exec(`insert into public.notes values ($1, $2)`, base+3, userB)
			c.expectNone(300 * time.Millisecond)

			joinRef = c.join("realtime:n", changes, map[string]any{"access_token": tokA})
			c.next()
			c.next()
			minted := time.Now()
			c.push(joinRef, "realtime:n", "access_token", map[string]any{"access_token": mintJWT(map[string]any{"role": "authenticated", "exp": minted.Add(-42 * time.Second).Unix()})})
			// The server counts whole seconds, so each second boundary
			// passed between minting and now may add one to the 42.
			reply := c.next().Payload
			matched := false
			for ago := int64(42); ago <= 42+time.Now().Unix()-minted.Unix() && !matched; ago++ {
				matched = jsonEqual(t, reply, fmt.Sprintf(`{"channel":"n","extension":"system","message":"Token has expired %d seconds ago","status":"error"}`, ago))
			}
			if !matched {
				t.Fatalf("expiry error = %s, want \"Token has expired 42 seconds ago\" (or one more per second passed)", reply)
			}
			assertEqual(t, "close", c.next().Event, "phx_close")
		})
	}
	t.Run("token expires while joined", func(t *testing.T) {
		c := e.dial(t, vsn2, roleToken("anon"))
		exp := time.Now().Add(1500*time.Millisecond).Unix() + 1
		joinRef := c.join("realtime:short", changes, map[string]any{"access_token": mintJWT(map[string]any{"role": "authenticated", "exp": exp})})
		c.next()
		c.next()
		f := c.next()
		assertFrame(t, f, `["`+joinRef+`",null,"realtime:short","system",{"channel":"short","extension":"system","message":"Token has expired 0 seconds ago","status":"error"}]`)
		assertFrame(t, c.next(), `["`+joinRef+`","`+joinRef+`","realtime:short","phx_close",{}]`)
	})
}

func TestIdleTimeout(t *testing.T) {
	// The busy socket speaks every 200 ms, well inside the 1 s limit even on
	// a loaded machine; the quiet one says nothing and is closed.
	e := newEnv(t, func(c *Config) { c.IdleTimeout = time.Second })
	quiet := e.dial(t, vsn1, roleToken("anon"))
	busy := e.dial(t, vsn2, roleToken("anon"))
	for range 8 {
		busy.push("", "phoenix", "heartbeat", map[string]any{})
		busy.next()
		time.Sleep(200 * time.Millisecond)
	}
	err := quiet.closed(2 * time.Second)
	if status := websocket.CloseStatus(err); status != websocket.StatusNormalClosure {
		t.Fatalf("idle socket ended with %v, want a normal close", err)
	}
	busy.push("", "phoenix", "heartbeat", map[string]any{})
	assertEqual(t, "busy socket still answers", busy.next().Event, "phx_reply")
}

// TestNoReplay checks that changes committed while a client is away never
// reach it, and that a rejoin delivers what follows.
func TestNoReplay(t *testing.T) {
	e := newEnv(t)
	e.exec(`create table public.t (id int4 primary key)`)
	e.exec(`alter publication supabase_realtime add table public.t`)
	changes := []map[string]any{{"event": "*", "schema": "public", "table": "t"}}
	c := e.dial(t, vsn2, roleToken("service_role"))
	c.subscribe("realtime:t", changes, nil)
	// A witness stays connected: once it has seen rows 2 and 3, the stream
	// has decoded them, so a rejoin after that must not receive them.
	witness := e.dial(t, vsn2, roleToken("service_role"))
	witness.subscribe("realtime:t", changes, nil)
	e.exec(`insert into public.t values (1)`)
	assertEqual(t, "first", c.nextChange().Data.Record["id"], any(float64(1)))
	assertEqual(t, "witness first", witness.nextChange().Data.Record["id"], any(float64(1)))
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	e.exec(`insert into public.t values (2)`)
	e.exec(`insert into public.t values (3)`)
	assertEqual(t, "witness second", witness.nextChange().Data.Record["id"], any(float64(2)))
	assertEqual(t, "witness third", witness.nextChange().Data.Record["id"], any(float64(3)))
	c = e.dial(t, vsn2, roleToken("service_role"))
	c.subscribe("realtime:t", changes, nil)
	c.expectNone(300 * time.Millisecond)
	e.exec(`insert into public.t values (4)`)
	assertEqual(t, "after rejoin", c.nextChange().Data.Record["id"], any(float64(4)))
	c.expectNone(200 * time.Millisecond)
}
