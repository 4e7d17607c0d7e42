package realtime_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/supabridge/supabridge/scripts/js/jstest"
	"github.com/supabridge/supabridge/shared/localsupabase"
	"github.com/supabridge/supabridge/shared/localsupabase/realtime"
)

// TestSupabaseJSConformance runs scripts/js/conformance/realtime*.mjs (the
// official supabase-js client with realtime-js's default protocol version)
// against a local Supabase stack's project URL, so the gateway's routing
// and key resolution are part of what is checked. A test-only SQL endpoint
// lets the scripts commit changes.
func TestSupabaseJSConformance(t *testing.T) {
	scripts := jstest.Scripts(t, "realtime*.mjs")
	jstest.Node(t)

	ctx := context.Background()
	dbURL, err := realtime.NewDatabaseForTest(ctx, "rt_stack")
	if err != nil {
		t.Fatal(err)
	}
	st, err := localsupabase.Start(ctx, localsupabase.Config{DBURL: dbURL})
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	defer st.Close()
	p := st.Project()
	db, err := pgxpool.New(ctx, p.DBURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		`create table public.js_rt (id int8 primary key, status text, amount numeric, tags text[], meta jsonb)`,
		`create table public.js_rt_hidden (id int8 primary key)`,
		`alter publication supabase_realtime add table public.js_rt`,
	} {
		if _, err := db.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	sqlSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No keep-alive: an idle pooled connection would hold node open.
		w.Header().Set("Connection", "close")
		stmt, _ := io.ReadAll(r.Body)
		if _, err := db.Exec(r.Context(), string(stmt)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sqlSrv.Close()

	for _, script := range scripts {
		t.Run(filepath.Base(script), func(t *testing.T) {
			n := jstest.Run(t, script, 0,
				"SUPABASE_URL="+p.APIURL,
				"ANON_KEY="+p.AnonKey,
				"SERVICE_ROLE_KEY="+p.ServiceRoleKey,
				"PUBLISHABLE_KEY="+p.PublishableKey,
				"SQL_URL="+sqlSrv.URL,
			)
			t.Logf("%s: %d tests passed", filepath.Base(script), n)
		})
	}

	// The stack serves this server's fault switches and counters on its
	// admin endpoint; the scripts' subscriptions were counted there.
	resp, err := http.Get(st.AdminURL() + "/realtime-" + p.Ref + "/counters")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var counters []realtime.SubscriptionFrames
	if err := json.NewDecoder(resp.Body).Decode(&counters); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("counters via the stack's admin endpoint: status %d, %v", resp.StatusCode, err)
	}
	total := int64(0)
	for _, c := range counters {
		if c.Topic == "realtime:rt-all" {
			total += c.Frames
		}
	}
	if total != 3 {
		t.Fatalf("frames counted for realtime:rt-all = %d, want 3 (%+v)", total, counters)
	}
}
