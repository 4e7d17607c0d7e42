package realtime

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestFaults(t *testing.T) {
	e := newEnv(t)
	e.exec(`create table public.t (id int4 primary key)`)
	e.exec(`alter publication supabase_realtime add table public.t`)
	changes := []map[string]any{{"event": "INSERT", "schema": "public", "table": "t"}}
	f := e.srv.Faults()
	next := 0
	insert := func(n int) {
		for range n {
			next++
			e.exec(`insert into public.t values ($1)`, next)
		}
	}
	abnormal := func(t *testing.T, err error) {
		t.Helper()
		if websocket.CloseStatus(err) != -1 {
			t.Fatalf("socket closed with a close frame (%v), want a dropped connection", err)
		}
	}

	t.Run("drop every socket now", func(t *testing.T) {
		a := e.dial(t, vsn1, roleToken("service_role"))
		b := e.dial(t, vsn2, roleToken("service_role"))
		a.subscribe("realtime:t", changes, nil)
		b.subscribe("realtime:t", changes, nil)
		assertEqual(t, "dropped", f.DropAll(), 2)
		abnormal(t, a.closed(2*time.Second))
		abnormal(t, b.closed(2*time.Second))
		// New sockets work.
		c := e.dial(t, vsn1, roleToken("service_role"))
		c.subscribe("realtime:t", changes, nil)
		insert(1)
		c.nextChange()
	})

	t.Run("drop after N frames", func(t *testing.T) {
		defer f.Reset()
		c := e.dial(t, vsn2, roleToken("service_role"))
		c.subscribe("realtime:t", changes, nil)
		f.DropAfterFrames(3)
		insert(5)
		for range 3 {
			c.nextChange()
		}
		abnormal(t, c.closed(2*time.Second))
		// A socket opened later also counts from zero.
		d := e.dial(t, vsn2, roleToken("service_role"))
		d.push("", "phoenix", "heartbeat", map[string]any{})
		d.next()
		d.push("", "phoenix", "heartbeat", map[string]any{})
		d.next()
		d.push("", "phoenix", "heartbeat", map[string]any{})
		d.next()
		abnormal(t, d.closed(2*time.Second))
	})

	t.Run("stop answering heartbeats", func(t *testing.T) {
		defer f.Reset()
		c := e.dial(t, vsn1, roleToken("service_role"))
		c.subscribe("realtime:t", changes, nil)
		f.StopHeartbeats(true)
		c.push("", "phoenix", "heartbeat", map[string]any{})
		c.expectNone(300 * time.Millisecond)
		// Changes still flow.
		insert(1)
		c.nextChange()
		f.StopHeartbeats(false)
		c.push("", "phoenix", "heartbeat", map[string]any{})
		assertEqual(t, "answered again", c.next().Event, "phx_reply")
	})

	t.Run("delay frames", func(t *testing.T) {
		defer f.Reset()
		c := e.dial(t, vsn2, roleToken("service_role"))
		f.DelayFrames(400 * time.Millisecond)
		start := time.Now()
		r1 := c.push("", "phoenix", "heartbeat", map[string]any{})
		r2 := c.push("", "phoenix", "heartbeat", map[string]any{})
		c.expectNone(250 * time.Millisecond)
		assertEqual(t, "first ref", string(c.next().Ref), `"`+r1+`"`)
		assertEqual(t, "second ref", string(c.next().Ref), `"`+r2+`"`)
		if d := time.Since(start); d < 800*time.Millisecond {
			t.Fatalf("two delayed frames took %s, want ≥ 800ms", d)
		}
	})

	t.Run("refuse joins", func(t *testing.T) {
		defer f.Reset()
		c := e.dial(t, vsn1, roleToken("service_role"))
		f.RefuseJoins(true, "")
		c.join("realtime:t", changes, nil)
		assertJSON(t, c.next().Payload, `{"status":"error","response":{"reason":"RealtimeRestarting: Realtime is restarting, please standby"}}`)
		f.RefuseJoins(true, "ChannelRateLimitReached: Too many channels")
		c.join("realtime:t", changes, nil)
		assertJSON(t, c.next().Payload, `{"status":"error","response":{"reason":"ChannelRateLimitReached: Too many channels"}}`)
		f.RefuseJoins(false, "")
		c.subscribe("realtime:t", changes, nil)
	})

	t.Run("frames per subscription", func(t *testing.T) {
		f.ResetCounters()
		a := e.dial(t, vsn1, roleToken("service_role"))
		ids := a.subscribe("realtime:count", []map[string]any{
			{"event": "INSERT", "schema": "public", "table": "t"},
			{"event": "INSERT", "schema": "public", "table": "t", "filter": "id=gt.0"},
			{"event": "DELETE", "schema": "public", "table": "t"},
		}, nil)
		insert(4)
		for range 4 {
			a.nextChange()
		}
		assertEqual(t, "first binding", f.FramesSent("realtime:count", ids[0]), int64(4))
		assertEqual(t, "second binding", f.FramesSent("realtime:count", ids[1]), int64(4))
		assertEqual(t, "delete binding", f.FramesSent("realtime:count", ids[2]), int64(0))
		got := 0
		for _, sc := range f.Counters() {
			if sc.Topic == "realtime:count" {
				got++
			}
		}
		assertEqual(t, "counters listed", got, 2)
		f.ResetCounters()
		assertEqual(t, "after reset", f.FramesSent("realtime:count", ids[0]), int64(0))
	})
}

func TestFaultsHTTP(t *testing.T) {
	e := newEnv(t)
	admin := httptest.NewServer(http.StripPrefix("/admin/realtime", e.srv.Faults()))
	defer admin.Close()
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, admin.URL+"/admin/realtime"+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := do("PATCH", "/", `{"stop_heartbeats":true,"frame_delay_ms":250,"drop_after_frames":7,"refuse_joins":true}`)
	assertEqual(t, "patch status", status, 200)
	assertJSON(t, []byte(body), `{"stop_heartbeats":true,"frame_delay_ms":250,"drop_after_frames":7,"refuse_joins":true,"join_refusal":"`+DefaultJoinRefusal+`","counters":[]}`)
	status, body = do("PATCH", "/", `{"join_refusal":"TenantNotFound: Tenant not found"}`)
	assertEqual(t, "patch status", status, 200)
	var st map[string]any
	_ = json.Unmarshal([]byte(body), &st)
	assertEqual(t, "refusal", st["join_refusal"], any("TenantNotFound: Tenant not found"))
	assertEqual(t, "delay kept", st["frame_delay_ms"], any(float64(250)))

	c := e.dial(t, vsn1, roleToken("anon"))
	c.join("realtime:x", nil, nil)
	assertEqual(t, "joined", c.next().Event, "phx_reply")
	status, body = do("POST", "/drop", ``)
	assertEqual(t, "drop status", status, 200)
	assertJSON(t, []byte(body), `{"dropped":1}`)
	c.closed(2 * time.Second)

	status, body = do("DELETE", "/", ``)
	assertEqual(t, "reset status", status, 200)
	assertJSON(t, []byte(body), `{"stop_heartbeats":false,"frame_delay_ms":0,"drop_after_frames":0,"refuse_joins":false,"join_refusal":"","counters":[]}`)
	for _, tt := range []struct {
		method, path, body string
		status             int
	}{
		{"PATCH", "/", `{"nope":1}`, 400},
		{"PATCH", "/", `not json`, 400},
		{"PUT", "/", ``, 405},
		{"GET", "/drop", ``, 405},
		{"GET", "/elsewhere", ``, 404},
		{"GET", "/counters", ``, 200},
		{"DELETE", "/counters", ``, 200},
	} {
		status, _ := do(tt.method, tt.path, tt.body)
		assertEqual(t, tt.method+" "+tt.path, status, tt.status)
	}
}

// TestBurst commits 1,000 changes as fast as possible and checks that all
// of them arrive, in commit order, on a socket that stays up.
func TestBurst(t *testing.T) {
	e := newEnv(t)
	e.exec(`create table public.burst (id int4 primary key, payload text)`)
	e.exec(`alter publication supabase_realtime add table public.burst`)
	c := e.dial(t, vsn2, roleToken("service_role"))
	c.subscribe("realtime:burst", []map[string]any{{"event": "*", "schema": "public", "table": "burst"}}, nil)
	const n = 1000
	start := time.Now()
	conn, err := e.db.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for i := 1; i <= n; i++ {
		// One transaction per change: commit order is the order of i.
		if _, err := conn.Exec(t.Context(), `insert into public.burst values ($1::int4, md5($1::int4::text))`, i); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= n; i++ {
		ch := c.nextChange()
		if got := int(ch.Data.Record["id"].(float64)); got != i {
			t.Fatalf("change %d carried id %d: out of order or missing", i, got)
		}
	}
	t.Logf("%d changes delivered in %s", n, time.Since(start))
	c.push("", "phoenix", "heartbeat", map[string]any{})
	assertEqual(t, "socket still up", c.next().Event, "phx_reply")
}
