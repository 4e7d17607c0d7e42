package postgrest_test

import (
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestJWTErrors(t *testing.T) {
	now := time.Now().Unix()
	valid := sign(map[string]any{"role": "authenticated", "sub": alice})
	parts := strings.Split(valid, ".")
	cases := []struct {
		name   string
		auth   string
		status int
		code   string
		msg    string
	}{
		{"empty bearer", "Bearer ", 401, "PGRST301", "Empty JWT is sent in Authorization header"},
		{"two parts", "Bearer a.b", 401, "PGRST301", "Expected 3 parts in JWT; got 2"},
		{"bad signature", "Bearer " + signWith("another-secret-that-is-at-least-32-chars", map[string]any{"role": "anon"}), 401, "PGRST301",
			"JWT cryptographic operation failed"},
		{"tampered payload", "Bearer " + parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2], 401, "PGRST301",
			"JWT cryptographic operation failed"},
		{"expired", "Bearer " + sign(map[string]any{"role": "authenticated", "exp": now - 60}), 401, "PGRST303", "JWT expired"},
		{"not yet valid", "Bearer " + sign(map[string]any{"role": "authenticated", "nbf": now + 120}), 401, "PGRST303", "JWT not yet valid"},
		{"issued in future", "Bearer " + sign(map[string]any{"role": "authenticated", "iat": now + 120}), 401, "PGRST303", "JWT issued at future"},
		{"exp not number", "Bearer " + sign(map[string]any{"role": "authenticated", "exp": "soon"}), 401, "PGRST303",
			"The JWT 'exp' claim must be a number"},
		{"unknown role", "Bearer " + sign(map[string]any{"role": "nobody_here"}), 401, "22023", `role "nobody_here" does not exist`},
		{"role not granted", "Bearer " + sign(map[string]any{"role": "postgres"}), 403, "42501", `permission denied to set role "postgres"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, call{target: "/authors?select=id", header: map[string]string{"Authorization": tc.auth}})
			e := assertError(t, r, tc.status, tc.code)
			if e["message"] != tc.msg {
				t.Fatalf("message = %q, want %q", e["message"], tc.msg)
			}
			if strings.HasPrefix(tc.code, "PGRST3") && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	// Within the 30 s skew an expired token still works, and a non-bearer
	// Authorization means anonymous.
	for _, h := range []string{"Bearer " + sign(map[string]any{"role": "anon", "exp": now - 10}), "Basic dXNlcjpwYXNz"} {
		assertStatus(t, do(t, call{target: "/authors?select=id&id=eq.1", header: map[string]string{"Authorization": h}}), 200)
	}
}

func TestRLS(t *testing.T) {
	newTable(t, "notes2", `CREATE TABLE notes2 (id int PRIMARY KEY, owner uuid NOT NULL DEFAULT auth.uid(), body text NOT NULL);
		ALTER TABLE notes2 ENABLE ROW LEVEL SECURITY;
		CREATE POLICY own ON notes2 FOR ALL TO authenticated USING (owner = auth.uid()) WITH CHECK (owner = auth.uid())`)
	aliceH := map[string]string{"Authorization": "Bearer " + userToken(alice)}
	bobH := map[string]string{"Authorization": "Bearer " + userToken(bob)}

	// anon: no policy admits it, so reads are empty and writes are refused.
	r := do(t, call{target: "/notes?select=body"})
	assertJSON(t, r, `[]`)
	assertError(t, do(t, call{method: "POST", target: "/notes2", body: `{"id":1,"body":"x"}`}), 401, "42501")

	// An authenticated user sees only their rows.
	r = do(t, call{target: "/notes?select=body&order=id", header: aliceH})
	assertJSON(t, r, `[{"body":"alice 1"},{"body":"alice 2"}]`)
	r = do(t, call{target: "/notes?select=body", header: bobH})
	assertJSON(t, r, `[{"body":"bob 1"}]`)

	// Inserts take the owner from auth.uid(); a row for someone else fails WITH CHECK.
	r = do(t, call{method: "POST", target: "/notes2?select=id,owner", header: map[string]string{"Authorization": aliceH["Authorization"],
		"Prefer": "return=representation"}, body: `{"id":1,"body":"mine"}`})
	assertStatus(t, r, 201)
	assertJSON(t, r, `[{"id":1,"owner":"`+alice+`"}]`)
	e := assertError(t, do(t, call{method: "POST", target: "/notes2", header: aliceH, body: `{"id":2,"body":"x","owner":"` + bob + `"}`}), 403, "42501")
	if e["message"] != `new row violates row-level security policy for table "notes2"` {
		t.Fatalf("message = %v", e["message"])
	}
	// Bob cannot touch Alice's row: it is silently out of reach.
	r = do(t, call{method: "PATCH", target: "/notes2?id=eq.1", header: map[string]string{"Authorization": bobH["Authorization"],
		"Prefer": "count=exact"}, body: `{"body":"stolen"}`})
	assertStatus(t, r, 204)
	assertHeader(t, r, "Content-Range", "*/0")
	r = do(t, call{method: "DELETE", target: "/notes2?id=eq.1", header: map[string]string{"Authorization": bobH["Authorization"],
		"Prefer": "return=representation"}})
	assertJSON(t, r, `[]`)
	// The service role bypasses RLS.
	r = do(t, call{target: "/notes2?select=body", header: map[string]string{"Authorization": "Bearer " + serviceToken}})
	assertJSON(t, r, `[{"body":"mine"}]`)
}

// TestConcurrentRoles interleaves users on the pooled connections: role and
// claims are transaction-local, so no request sees another's rows.
func TestConcurrentRoles(t *testing.T) {
	users := map[string]string{alice: `[{"body":"alice 1"},{"body":"alice 2"}]`, bob: `[{"body":"bob 1"}]`, "": `[]`}
	errs := make(chan string, 64)
	var wg sync.WaitGroup
	for i := 0; i < 48; i++ {
		for uid, want := range users {
			wg.Add(1)
			go func(uid, want string) {
				defer wg.Done()
				hdr := map[string]string{}
				if uid != "" {
					hdr["Authorization"] = "Bearer " + userToken(uid)
				}
				r := httptest.NewRequest("GET", "/notes?select=body&order=id", nil)
				for k, v := range hdr {
					r.Header.Set(k, v)
				}
				w := httptest.NewRecorder()
				api.ServeHTTP(w, r)
				if w.Code != 200 || w.Body.String() != strings.ReplaceAll(want, "},{", "}, \n {") {
					select {
					case errs <- uid + ": " + w.Body.String():
					default:
					}
				}
			}(uid, want)
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
