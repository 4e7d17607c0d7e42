package realtime

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func TestFilters(t *testing.T) {
	e := newEnv(t)
	e.exec(`create table public.orders (id int8 primary key, status text, amount numeric, placed date)`)
	e.exec(`alter publication supabase_realtime add table public.orders`)
	e.exec(`alter table public.orders replica identity full`)
	tests := []struct {
		filter string
		want   []int // ids of the inserted rows that match
	}{
		{"", []int{1, 2, 3, 4}},
		{"status=eq.paid", []int{1, 3}},
		{"status=neq.paid", []int{2}}, // NULL status (row 4) matches nothing
		{"amount=lt.10", []int{1}},
		{"amount=lte.10", []int{1, 2}},
		{"amount=gt.10", []int{3}},
		{"amount=gte.10.0", []int{2, 3}},
		{"id=in.(1,3,4)", []int{1, 3, 4}},
		{"status=in.(open,paid)", []int{1, 2, 3}},
		{"placed=eq.2026-01-02", []int{2}},
	}
	c := e.dial(t, vsn2, roleToken("service_role"))
	var entries []map[string]any
	for _, tt := range tests {
		entry := map[string]any{"event": "INSERT", "schema": "public", "table": "orders"}
		if tt.filter != "" {
			entry["filter"] = tt.filter
		}
		entries = append(entries, entry)
	}
	ids := c.subscribe("realtime:orders", entries, nil)
	e.exec(`insert into public.orders values
		(1, 'paid', 5, '2026-01-01'), (2, 'open', 10, '2026-01-02'), (3, 'paid', 25.5, '2026-01-03'), (4, null, null, null)`)
	got := map[int][]int64{}
	for range 4 {
		ch := c.nextChange()
		got[int(ch.Data.Record["id"].(float64))] = ch.IDs
	}
	c.expectNone(300 * time.Millisecond)
	for i, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			var matched []int
			for row := 1; row <= 4; row++ {
				for _, id := range got[row] {
					if id == ids[i] {
						matched = append(matched, row)
					}
				}
			}
			assertEqual(t, "rows matched", fmt.Sprint(matched), fmt.Sprint(tt.want))
		})
	}

	t.Run("events", func(t *testing.T) {
		c := e.dial(t, vsn1, roleToken("service_role"))
		ids := c.subscribe("realtime:events", []map[string]any{
			{"event": "UPDATE", "schema": "public", "table": "orders"},
			{"event": "delete", "schema": "public", "table": "orders", "filter": "status=eq.open"},
			{"event": "bogus", "schema": "public"}, // unknown events mean "*"
		}, nil)
		e.exec(`insert into public.orders values (10, 'open', 1, null)`)
		assertChange(t, c.nextChange(), "INSERT", []int64{ids[2]})
		e.exec(`update public.orders set amount = 2 where id = 10`)
		assertChange(t, c.nextChange(), "UPDATE", []int64{ids[0], ids[2]})
		e.exec(`delete from public.orders where id = 10`)
		assertChange(t, c.nextChange(), "DELETE", []int64{ids[1], ids[2]})
	})
}

func assertChange(t *testing.T, ch changePayload, typ string, ids []int64) {
	t.Helper()
	assertEqual(t, "type", ch.Data.Type, typ)
	assertEqual(t, "ids", fmt.Sprint(ch.IDs), fmt.Sprint(ids))
}

// TestOldRecord covers the replica identity and RLS rules for old_record
// and the DELETE filter rule.
func TestOldRecord(t *testing.T) {
	e := newEnv(t)
	e.exec(`create table public.plain (id int4 primary key, name text, note text)`)
	e.exec(`create table public.full_ident (id int4 primary key, name text)`)
	e.exec(`alter table public.full_ident replica identity full`)
	e.exec(`create table public.full_rls (id int4 primary key, name text)`)
	e.exec(`alter table public.full_rls replica identity full`)
	e.exec(`alter table public.full_rls enable row level security`)
	e.exec(`create policy everything on public.full_rls for all using (true)`)
	e.exec(`create table public.composite (a int4, b text, v text, primary key (a, b))`)
	e.exec(`create table public.nopk (v text)`)
	e.exec(`alter table public.nopk replica identity full`)
	e.exec(`alter publication supabase_realtime add table public.plain, public.full_ident, public.full_rls, public.composite, public.nopk`)
	e.exec(`grant all on all tables in schema public to anon, authenticated, service_role`)

	c := e.dial(t, vsn1, roleToken("service_role"))
	c.subscribe("realtime:all", []map[string]any{{"event": "*", "schema": "public"}}, nil)
	c2 := e.dial(t, vsn1, roleToken("service_role"))
	c2.subscribe("realtime:filtered", []map[string]any{
		{"event": "DELETE", "schema": "public", "table": "plain", "filter": "name=eq.x"},
		{"event": "DELETE", "schema": "public", "table": "full_ident", "filter": "name=eq.x"},
	}, nil)

	steps := []struct {
		sql       string
		typ       string
		record    string
		oldRecord string
	}{
		{`insert into public.plain values (1, 'x', 'n')`, "INSERT", `{"id":1,"name":"x","note":"n"}`, ``},
		{`update public.plain set note = 'm' where id = 1`, "UPDATE", `{"id":1,"name":"x","note":"m"}`, `{"id":1}`},
		{`update public.plain set id = 2 where id = 1`, "UPDATE", `{"id":2,"name":"x","note":"m"}`, `{"id":1}`},
		{`delete from public.plain where id = 2`, "DELETE", ``, `{"id":2}`},
		{`insert into public.full_ident values (1, 'x')`, "INSERT", `{"id":1,"name":"x"}`, ``},
		{`update public.full_ident set name = 'y' where id = 1`, "UPDATE", `{"id":1,"name":"y"}`, `{"id":1,"name":"x"}`},
		{`update public.full_ident set name = 'x' where id = 1`, "UPDATE", `{"id":1,"name":"x"}`, `{"id":1,"name":"y"}`},
		{`delete from public.full_ident where id = 1`, "DELETE", ``, `{"id":1,"name":"x"}`},
		{`insert into public.full_rls values (1, 'x')`, "INSERT", `{"id":1,"name":"x"}`, ``},
		{`update public.full_rls set name = 'y' where id = 1`, "UPDATE", `{"id":1,"name":"y"}`, `{"id":1,"name":"x"}`},
		{`delete from public.full_rls where id = 1`, "DELETE", ``, `{"id":1}`},
		{`insert into public.composite values (1, 'k', 'v')`, "INSERT", `{"a":1,"b":"k","v":"v"}`, ``},
		{`update public.composite set v = 'w'`, "UPDATE", `{"a":1,"b":"k","v":"w"}`, `{"a":1,"b":"k"}`},
		{`delete from public.composite`, "DELETE", ``, `{"a":1,"b":"k"}`},
	}
	for _, st := range steps {
		e.exec(st.sql)
		ch := c.nextChange()
		t.Run(st.sql, func(t *testing.T) {
			assertEqual(t, "type", ch.Data.Type, st.typ)
			if st.record != "" {
				b, _ := json.Marshal(ch.Data.Record)
				assertJSON(t, b, st.record)
			} else if ch.Data.Record != nil {
				t.Fatalf("unexpected record %v", ch.Data.Record)
			}
			if st.oldRecord != "" {
				b, _ := json.Marshal(ch.Data.OldRecord)
				assertJSON(t, b, st.oldRecord)
			} else if ch.Data.OldRecord != nil {
				t.Fatalf("unexpected old_record %v", ch.Data.OldRecord)
			}
		})
	}
	// Only the FULL table's DELETE can match a non-key filter.
	del := c2.nextChange()
	assertEqual(t, "filtered delete table", del.Data.Table, "full_ident")
	c2.expectNone(300 * time.Millisecond)

	t.Run("no primary key", func(t *testing.T) {
		e.exec(`insert into public.nopk values ('a')`)
		f := c.next()
		assertFrame(t, f, fmt.Sprintf(`{"topic":"realtime:all","event":"postgres_changes","ref":null,"payload":{"data":{"columns":[],"commit_timestamp":null,"errors":["Error 400: Bad Request, no primary key"],"record":{},"schema":"public","table":"nopk","type":"INSERT"},"ids":%s}}`, idsJSON(f)))
		e.exec(`update public.nopk set v = 'b'`)
		f = c.next()
		assertFrame(t, f, fmt.Sprintf(`{"topic":"realtime:all","event":"postgres_changes","ref":null,"payload":{"data":{"columns":[],"commit_timestamp":null,"errors":["Error 400: Bad Request, no primary key"],"old_record":{},"record":{},"schema":"public","table":"nopk","type":"UPDATE"},"ids":%s}}`, idsJSON(f)))
		e.exec(`delete from public.nopk`)
		ch := c.nextChange()
		assertEqual(t, "delete errors", ch.Data.Errors, []string(nil))
		b, _ := json.Marshal(ch.Data.OldRecord)
		assertJSON(t, b, `{"v":"b"}`)
	})
}

func idsJSON(f frame) string {
	var p struct {
		IDs json.RawMessage `json:"ids"`
	}
	_ = json.Unmarshal(f.Payload, &p)
	return string(p.IDs)
}

// TestValues checks the JSON form of column values and the columns list.
func TestValues(t *testing.T) {
	e := newEnv(t)
	e.exec(`create type public.mood as enum ('happy', 'sad')`)
	e.exec(`create table public.vals (
		id int8 primary key, small int2, flag bool, price numeric(10,2), ratio float8, tags text[], nums int4[],
		doc jsonb, raw json, uid uuid, at timestamptz, day date, clock time, plain timestamp, m public.mood,
		big text, name varchar(20), ch char(3), nan numeric)`)
	e.exec(`alter table public.vals alter column big set storage external`)
	e.exec(`alter publication supabase_realtime add table public.vals`)
	c := e.dial(t, vsn2, roleToken("service_role"))
	c.subscribe("realtime:vals", []map[string]any{{"event": "*", "schema": "public", "table": "vals"}}, nil)
	e.exec(`insert into public.vals values (1, -3, true, 12.50, 0.25, '{a,"b c"}', '{1,2}',
		'{"k": [1, {"x": null}]}', '{"j":1}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2025-11-03 09:32:55.5+02', '2026-01-02',
		'10:11:12', '2026-01-02 03:04:05', 'happy', repeat('z', 10000), 'vc', 'ab', 'NaN')`)
	f := c.next()
	var p struct {
		Data struct {
			Columns json.RawMessage `json:"columns"`
			Record  json.RawMessage `json:"record"`
		} `json:"data"`
	}
	if err := json.Unmarshal(f.Payload, &p); err != nil {
		t.Fatal(err)
	}
	assertJSON(t, p.Data.Columns, `[{"name":"id","type":"int8"},{"name":"small","type":"int2"},{"name":"flag","type":"bool"},
		{"name":"price","type":"numeric"},{"name":"ratio","type":"float8"},{"name":"tags","type":"_text"},{"name":"nums","type":"_int4"},
		{"name":"doc","type":"jsonb"},{"name":"raw","type":"json"},{"name":"uid","type":"uuid"},{"name":"at","type":"timestamptz"},
		{"name":"day","type":"date"},{"name":"clock","type":"time"},{"name":"plain","type":"timestamp"},{"name":"m","type":"mood"},
		{"name":"big","type":"text"},{"name":"name","type":"varchar"},{"name":"ch","type":"bpchar"},{"name":"nan","type":"numeric"}]`)
	var rec map[string]json.RawMessage
	_ = json.Unmarshal(p.Data.Record, &rec)
	want := map[string]string{
		"id": `1`, "small": `-3`, "flag": `true`, "price": `12.50`, "ratio": `0.25`, "tags": `["a","b c"]`, "nums": `[1,2]`,
		"doc": `{"k":[1,{"x":null}]}`, "raw": `{"j":1}`, "uid": `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`,
		"at": `"2025-11-03T07:32:55.5+00:00"`, "day": `"2026-01-02"`, "clock": `"10:11:12"`, "plain": `"2026-01-02T03:04:05"`,
		"m": `"happy"`, "name": `"vc"`, "ch": `"ab "`, "nan": `"NaN"`,
	}
	for k, v := range want {
		t.Run(k, func(t *testing.T) { assertJSON(t, rec[k], v) })
	}
	var big string
	_ = json.Unmarshal(rec["big"], &big)
	assertEqual(t, "big length", len(big), 10000)
	// An UPDATE that leaves the TOASTed column alone: pgoutput omits it,
	// so the record does too (the table is not REPLICA IDENTITY FULL).
	e.exec(`update public.vals set small = 4 where id = 1`)
	ch := c.nextChange()
	if _, ok := ch.Data.Record["big"]; ok {
		t.Fatalf("unchanged TOAST value present without REPLICA IDENTITY FULL")
	}
	assertEqual(t, "small", ch.Data.Record["small"], any(float64(4)))
}

// TestUnchangedToastWithFullIdentity checks that an UPDATE leaving a
// TOASTed value alone still carries it when the old row has it.
func TestUnchangedToastWithFullIdentity(t *testing.T) {
	e := newEnv(t)
	e.exec(`create table public.docs (id int4 primary key, body text, n int4)`)
	e.exec(`alter table public.docs alter column body set storage external`)
	e.exec(`alter table public.docs replica identity full`)
	e.exec(`alter publication supabase_realtime add table public.docs`)
	c := e.dial(t, vsn1, roleToken("service_role"))
	c.subscribe("realtime:docs", []map[string]any{{"event": "UPDATE", "schema": "public", "table": "docs"}}, nil)
	e.exec(`insert into public.docs values (1, repeat('x', 5000), 1)`)
	e.exec(`update public.docs set n = 2`)
	ch := c.nextChange()
	body, _ := ch.Data.Record["body"].(string)
	assertEqual(t, "record body length", len(body), 5000)
	old, _ := ch.Data.OldRecord["body"].(string)
	assertEqual(t, "old body length", len(old), 5000)
	assertEqual(t, "n", ch.Data.Record["n"], any(float64(2)))
}

// TestStreamRestart kills the replication connection: the server starts a
// new slot, subscriptions keep working, and what was committed in between
// is lost, as with the real service.
func TestStreamRestart(t *testing.T) {
	e := newEnv(t)
	e.exec(`create table public.t (id int4 primary key)`)
	e.exec(`alter publication supabase_realtime add table public.t`)
	c := e.dial(t, vsn2, roleToken("service_role"))
	c.subscribe("realtime:t", []map[string]any{{"event": "INSERT", "schema": "public", "table": "t"}}, nil)
	e.exec(`insert into public.t values (1)`)
	assertEqual(t, "before", c.nextChange().Data.Record["id"], any(float64(1)))
	// The slot in use before the kill: the restarted stream makes a new one.
	var oldSlot string
	if err := e.db.QueryRow(t.Context(), `select slot_name from pg_replication_slots
		where database = current_database() and active and temporary`).Scan(&oldSlot); err != nil {
		t.Fatal(err)
	}
	var killed int
	if err := e.db.QueryRow(t.Context(), `select count(pg_terminate_backend(pid)) from pg_stat_activity
		where backend_type = 'walsender' and datname = current_database()`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("no walsender to terminate")
	}
	// Wait for a new slot of this database to be active: the old one can
	// still show as active while its walsender exits.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var active bool
		err := e.db.QueryRow(t.Context(), `select exists(select 1 from pg_replication_slots
			where database = current_database() and active and temporary and slot_name <> $1)`, oldSlot).Scan(&active)
		if err != nil {
			t.Fatal(err)
		}
		if active {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no new replication slot")
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.exec(`insert into public.t values (2)`)
	assertEqual(t, "after restart", c.nextChange().Data.Record["id"], any(float64(2)))
}
