package projectdb_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/supabridge/supabridge/shared/localsupabase/pgcluster"
	"github.com/supabridge/supabridge/shared/localsupabase/projectdb"
)

var cluster *pgcluster.Cluster

func TestMain(m *testing.M) {
	c, err := pgcluster.Start(context.Background(), pgcluster.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgcluster:", err)
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	_ = c.Stop()
	os.Exit(code)
}

// newDB creates a fresh database, bootstraps it (twice, to prove
// idempotence) and returns a superuser connection to it.
func newDB(t *testing.T, name string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	if err := cluster.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := projectdb.Bootstrap(ctx, cluster.URL(name)); err != nil {
			t.Fatalf("Bootstrap #%d: %v", i+1, err)
		}
	}
	conn, err := pgx.Connect(ctx, cluster.URL(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryBool(t *testing.T, conn *pgx.Conn, sql string, args ...any) bool {
	t.Helper()
	var b bool
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&b); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return b
}

func TestRoles(t *testing.T) {
	conn := newDB(t, "roles")
	tests := []struct {
		name, check string
	}{
		{"anon", "SELECT NOT rolcanlogin AND rolinherit AND NOT rolbypassrls FROM pg_roles WHERE rolname = 'anon'"},
		{"authenticated", "SELECT NOT rolcanlogin AND rolinherit AND NOT rolbypassrls FROM pg_roles WHERE rolname = 'authenticated'"},
		{"service_role bypasses RLS", "SELECT NOT rolcanlogin AND rolbypassrls FROM pg_roles WHERE rolname = 'service_role'"},
		{"authenticator", "SELECT rolcanlogin AND NOT rolinherit AND NOT rolsuper FROM pg_roles WHERE rolname = 'authenticator'"},
		{"supabase_admin", "SELECT rolsuper FROM pg_roles WHERE rolname = 'supabase_admin'"},
		{"authenticator may become anon", "SELECT pg_has_role('authenticator', 'anon', 'MEMBER')"},
		{"authenticator may become authenticated", "SELECT pg_has_role('authenticator', 'authenticated', 'MEMBER')"},
		{"authenticator may become service_role", "SELECT pg_has_role('authenticator', 'service_role', 'MEMBER')"},
		{"authenticator does not inherit", "SELECT NOT pg_has_role('authenticator', 'service_role', 'USAGE')"},
		{"anon statement timeout", "SELECT EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = 'anon' AND 'statement_timeout=3s' = ANY (s.setconfig))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !queryBool(t, conn, tt.check) {
				t.Errorf("%s: false", tt.check)
			}
		})
	}
}

func TestAuthTableColumns(t *testing.T) {
	conn := newDB(t, "columns")
	tests := []struct {
		table string
		want  []string // name:type:nullable:generated
	}{
		{"users", []string{
			"instance_id:uuid:YES:NEVER", "id:uuid:NO:NEVER", "aud:character varying:YES:NEVER",
			"role:character varying:YES:NEVER", "email:character varying:YES:NEVER",
			"encrypted_password:character varying:YES:NEVER", "email_confirmed_at:timestamp with time zone:YES:NEVER",
			"invited_at:timestamp with time zone:YES:NEVER", "confirmation_token:character varying:YES:NEVER",
			"confirmation_sent_at:timestamp with time zone:YES:NEVER", "recovery_token:character varying:YES:NEVER",
			"recovery_sent_at:timestamp with time zone:YES:NEVER", "email_change_token_new:character varying:YES:NEVER",
			"email_change:character varying:YES:NEVER", "email_change_sent_at:timestamp with time zone:YES:NEVER",
			"last_sign_in_at:timestamp with time zone:YES:NEVER", "raw_app_meta_data:jsonb:YES:NEVER",
			"raw_user_meta_data:jsonb:YES:NEVER", "is_super_admin:boolean:YES:NEVER",
			"created_at:timestamp with time zone:YES:NEVER", "updated_at:timestamp with time zone:YES:NEVER",
			"phone:text:YES:NEVER", "phone_confirmed_at:timestamp with time zone:YES:NEVER",
			"phone_change:text:YES:NEVER", "phone_change_token:character varying:YES:NEVER",
			"phone_change_sent_at:timestamp with time zone:YES:NEVER", "confirmed_at:timestamp with time zone:YES:ALWAYS",
			"email_change_token_current:character varying:YES:NEVER", "email_change_confirm_status:smallint:YES:NEVER",
			"banned_until:timestamp with time zone:YES:NEVER", "reauthentication_token:character varying:YES:NEVER",
			"reauthentication_sent_at:timestamp with time zone:YES:NEVER", "is_sso_user:boolean:NO:NEVER",
			"deleted_at:timestamp with time zone:YES:NEVER", "is_anonymous:boolean:NO:NEVER",
		}},
		{"identities", []string{
			"provider_id:text:NO:NEVER", "user_id:uuid:NO:NEVER", "identity_data:jsonb:NO:NEVER",
			"provider:text:NO:NEVER", "last_sign_in_at:timestamp with time zone:YES:NEVER",
			"created_at:timestamp with time zone:YES:NEVER", "updated_at:timestamp with time zone:YES:NEVER",
			"email:text:YES:ALWAYS", "id:uuid:NO:NEVER",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			rows, err := conn.Query(context.Background(), `
				SELECT column_name || ':' || data_type || ':' || is_nullable || ':' || is_generated
				  FROM information_schema.columns
				 WHERE table_schema = 'auth' AND table_name = $1
				 ORDER BY ordinal_position`, tt.table)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("auth.%s columns:\n got %v\nwant %v", tt.table, got, tt.want)
			}
		})
	}
}

func TestAuthConstraints(t *testing.T) {
	conn := newDB(t, "constraints")
	ctx := context.Background()
	exec := func(sql string, args ...any) error {
		_, err := conn.Exec(ctx, sql, args...)
		return err
	}
	id := "6f1c3b57-8a2e-4d1b-9c3e-2a4b5c6d7e8f"
	if err := exec(`INSERT INTO auth.users (id, email, email_confirmed_at, phone_confirmed_at) VALUES ($1, 'a@example.com', '2026-01-02Z', '2026-01-01Z')`, id); err != nil {
		t.Fatal(err)
	}
	if err := exec(`INSERT INTO auth.identities (provider_id, user_id, identity_data, provider) VALUES ($1::text, $1::uuid, '{"email":"A@Example.com"}', 'email')`, id); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, sql string
		want      bool
	}{
		{"confirmed_at is the earlier confirmation", "SELECT confirmed_at = '2026-01-01Z' FROM auth.users", true},
		{"identity email is generated lower-case", "SELECT email = 'a@example.com' FROM auth.identities", true},
		{"identity id defaults to a uuid", "SELECT id IS NOT NULL FROM auth.identities", true},
		{"RLS enabled on users", "SELECT relrowsecurity FROM pg_class WHERE oid = 'auth.users'::regclass", true},
		{"RLS enabled on identities", "SELECT relrowsecurity FROM pg_class WHERE oid = 'auth.identities'::regclass", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := queryBool(t, conn, tt.sql); got != tt.want {
				t.Errorf("%s = %v, want %v", tt.sql, got, tt.want)
			}
		})
	}
	failing := []struct{ name, sql string }{
		{"duplicate email", `INSERT INTO auth.users (id, email) VALUES (gen_random_uuid(), 'a@example.com')`},
		{"duplicate identity", `INSERT INTO auth.identities (provider_id, user_id, identity_data, provider) VALUES ('` + id + `', '` + id + `', '{}', 'email')`},
		{"identity without user", `INSERT INTO auth.identities (provider_id, user_id, identity_data, provider) VALUES ('x', gen_random_uuid(), '{}', 'email')`},
	}
	for _, tt := range failing {
		t.Run(tt.name, func(t *testing.T) {
			if err := exec(tt.sql); err == nil {
				t.Errorf("%s succeeded, want a constraint error", tt.sql)
			}
		})
	}
	t.Run("user delete cascades to identities", func(t *testing.T) {
		if err := exec(`DELETE FROM auth.users WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		if queryBool(t, conn, "SELECT EXISTS (SELECT 1 FROM auth.identities)") {
			t.Error("identity survived its user")
		}
	})
}

func TestClaimFunctions(t *testing.T) {
	conn := newDB(t, "claims")
	sub := "0b7c1f0e-5d7a-4c39-8d0e-6f5b8e9a1c2d"
	claims := `{"sub":"` + sub + `","role":"authenticated","email":"u@example.com","aal":"aal1"}`
	tests := []struct {
		name     string
		settings map[string]string
		expr     string
		want     string
	}{
		{"uid from claims", map[string]string{"request.jwt.claims": claims}, "auth.uid()::text", sub},
		{"role from claims", map[string]string{"request.jwt.claims": claims}, "auth.role()", "authenticated"},
		{"email from claims", map[string]string{"request.jwt.claims": claims}, "auth.email()", "u@example.com"},
		{"jwt from claims", map[string]string{"request.jwt.claims": claims}, "auth.jwt() ->> 'aal'", "aal1"},
		{"legacy per-claim setting wins", map[string]string{"request.jwt.claims": claims, "request.jwt.claim.sub": "11111111-1111-1111-1111-111111111111"}, "auth.uid()::text", "11111111-1111-1111-1111-111111111111"},
		{"legacy claim setting for jwt", map[string]string{"request.jwt.claim": `{"role":"anon"}`}, "auth.jwt() ->> 'role'", "anon"},
		{"no claims", nil, "coalesce(auth.uid()::text, 'null')", "null"},
		{"empty claims", map[string]string{"request.jwt.claims": ""}, "coalesce(auth.jwt()::text, 'null')", "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			for k, v := range tt.settings {
				if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", k, v); err != nil {
					t.Fatal(err)
				}
			}
			var got string
			if err := tx.QueryRow(ctx, "SELECT "+tt.expr).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("%s = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

// TestPublicGrantsAndRLS checks that a table created after bootstrap is
// reachable by the API roles and that RLS written with auth.uid() filters an
// impersonated authenticated user, as it does behind PostgREST.
func TestPublicGrantsAndRLS(t *testing.T) {
	conn := newDB(t, "grants")
	ctx := context.Background()
	_, err := conn.Exec(ctx, `
		CREATE TABLE public.notes (id serial PRIMARY KEY, owner uuid NOT NULL, body text);
		ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
		CREATE POLICY own ON public.notes USING (owner = auth.uid()) WITH CHECK (owner = auth.uid());
		INSERT INTO public.notes (owner, body) VALUES
		  ('0b7c1f0e-5d7a-4c39-8d0e-6f5b8e9a1c2d', 'mine'),
		  ('22222222-2222-2222-2222-222222222222', 'theirs');
		CREATE FUNCTION public.answer() RETURNS int LANGUAGE sql AS 'SELECT 42';`)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"anon", "authenticated", "service_role"} {
		for _, check := range []string{
			"has_table_privilege('%s', 'public.notes', 'SELECT,INSERT,UPDATE,DELETE')",
			"has_sequence_privilege('%s', 'public.notes_id_seq', 'USAGE')",
			"has_function_privilege('%s', 'public.answer()', 'EXECUTE')",
			"has_schema_privilege('%s', 'extensions', 'USAGE')",
			"has_schema_privilege('%s', 'graphql_public', 'USAGE')",
			"has_function_privilege('%s', 'auth.uid()', 'EXECUTE')",
		} {
			sql := "SELECT " + fmt.Sprintf(check, role)
			if !queryBool(t, conn, sql) {
				t.Errorf("%s: false", sql)
			}
		}
	}
	tests := []struct {
		role, claims string
		want         []string
	}{
		{"authenticated", `{"sub":"0b7c1f0e-5d7a-4c39-8d0e-6f5b8e9a1c2d","role":"authenticated"}`, []string{"mine"}},
		{"anon", `{"role":"anon"}`, nil},
		{"service_role", `{"role":"service_role"}`, []string{"mine", "theirs"}},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)", tt.role, tt.claims); err != nil {
				t.Fatal(err)
			}
			rows, err := tx.Query(ctx, "SELECT body FROM public.notes")
			if err != nil {
				t.Fatal(err)
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("as %s: rows %v, want %v", tt.role, got, tt.want)
			}
		})
	}
}

func TestPublicationAndReloadTrigger(t *testing.T) {
	conn := newDB(t, "publication")
	ctx := context.Background()
	if !queryBool(t, conn, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime' AND NOT puballtables)") {
		t.Fatal("supabase_realtime publication missing or FOR ALL TABLES")
	}
	if queryBool(t, conn, "SELECT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = 'supabase_realtime')") {
		t.Error("a new project's publication must be empty")
	}

	listener, err := pgx.Connect(ctx, cluster.URL("publication"))
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(ctx)
	if _, err := listener.Exec(ctx, "LISTEN pgrst"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, ddl  string
		wantNotify bool
	}{
		{"create table in public", "CREATE TABLE public.t1 (id int)", true},
		{"drop table in public", "DROP TABLE public.t1", true},
		{"auth schema is ignored", "CREATE TABLE auth.private_t (id int)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := conn.Exec(ctx, tt.ddl); err != nil {
				t.Fatal(err)
			}
			// A sentinel notification bounds the wait: everything sent
			// before it has arrived once it does.
			if _, err := conn.Exec(ctx, "NOTIFY pgrst, 'sentinel'"); err != nil {
				t.Fatal(err)
			}
			got := false
			for {
				n, err := listener.WaitForNotification(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if n.Payload == "sentinel" {
					break
				}
				got = got || n.Payload == "reload schema"
			}
			if got != tt.wantNotify {
				t.Errorf("reload notification = %v, want %v", got, tt.wantNotify)
			}
		})
	}
}

// TestConcurrentBootstrap bootstraps several databases of a cluster whose
// roles do not exist yet at once, as parallel test packages do.
func TestConcurrentBootstrap(t *testing.T) {
	ctx := context.Background()
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	names := []string{"p1", "p2", "p3", "p4"}
	for _, n := range names {
		if err := c.CreateDatabase(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = projectdb.Bootstrap(ctx, c.URL(n))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Bootstrap(%s): %v", names[i], err)
		}
	}
}

func TestBootstrapBadURL(t *testing.T) {
	err := projectdb.Bootstrap(context.Background(), "postgresql://postgres:hunter2secret@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("Bootstrap against a closed port succeeded")
	}
	if strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("error leaks the password: %v", err)
	}
}
