package userdir_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/supabridge/supabridge/shared/access"
	"github.com/supabridge/supabridge/shared/directory"
	"github.com/supabridge/supabridge/shared/localsupabase"
)

// seedUsers inserts n confirmed Auth users straight into the database
// (the Auth API would take minutes), created one millisecond apart in the
// past, so that users created later sort after all of them. Every tenth
// gets a role in an organization. It returns their ids in creation order.
func seedUsers(t testing.TB, p *localsupabase.Project, n int) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.DBURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `
		insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data,
		                        email_confirmed_at, created_at, updated_at)
		select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
		       'seed' || i || '@example.com', '{"provider":"email","providers":["email"]}',
		       jsonb_build_object('full_name', 'Seed User ' || i),
		       now(), now() - interval '1 day' + i * interval '1 millisecond', now()
		from generate_series(1, $1::int) i`, n)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `
		with o as (insert into public.organizations (name) values ('Seed Org') returning id),
		     r as (insert into public.roles (name) values ('seed-member') on conflict (name) do update set name = excluded.name returning id)
		insert into public.user_roles (user_id, role_id, organization_id)
		select u.id, r.id, o.id
		from (select id, row_number() over (order by created_at) n from auth.users) u, o, r
		where u.n % 10 = 0`)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `select id::text from auth.users order by created_at, id`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// authPaging records the per_page of every Auth admin list call.
type authPaging struct {
	base http.RoundTripper
	mu   sync.Mutex
	per  []int
}

func (a *authPaging) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/auth/v1/admin/users" {
		n, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		a.mu.Lock()
		a.per = append(a.per, n)
		a.mu.Unlock()
	}
	return a.base.RoundTrip(r)
}

// TestTenThousandUsersPageByPage lists 10,000 users page by page while
// users are created and deleted between pages (a few at a time, and now
// and then hundreds before the reading position), with each paging
// strategy: keyset (the schema's function) and anchored windows over Auth's
// admin list. Every user that exists throughout is returned exactly once,
// every user created meanwhile at most once (with windows, exactly once:
// they sort last), and no Auth read asks for more than about twice a page.
func TestTenThousandUsersPageByPage(t *testing.T) {
	for _, tt := range []struct{ name, settings string }{{"keyset", ""}, {"windows", windowsSettings}} {
		t.Run(tt.name, func(t *testing.T) { pageUnderChanges(t, tt.settings, tt.name == "windows") })
	}
}

func pageUnderChanges(t *testing.T, settings string, windows bool) {
	p := newProject(t, "ten-thousand")
	ids := seedUsers(t, p, 10_000)
	f := newFixture(t)
	res := f.h.Access.(*access.Resolver)
	rec := &authPaging{base: res.HTTP.Transport}
	res.HTTP.Transport = rec
	acct := f.projectAccountWith(t, p, settings)

	rng := rand.New(rand.NewPCG(5, 10))
	deleted := map[string]bool{}
	created := map[string]bool{}
	seen := map[string]int{}
	var order []string // ids in the order returned
	pending := append([]string(nil), ids...)
	cursor := ""
	pages, maxLimit := 0, 0
	for {
		limit := 100
		if pages%3 == 1 {
			limit = 1 + rng.IntN(250)
		}
		maxLimit = max(maxLimit, limit)
		qv := q(acct, "limit", strconv.Itoa(limit), "ignore_remote_data", "true")
		if cursor != "" {
			qv.Set("next_cursor", cursor)
		}
		var page list[directory.User]
		ok(t, f.do(t, req{method: "GET", path: base + "/users", query: qv}), 200, &page)
		pages++
		if page.ResultCount > limit {
			t.Fatalf("page of %d for limit %d", page.ResultCount, limit)
		}
		for _, u := range page.Result {
			seen[u.ID]++
			order = append(order, u.ID)
			if seen[u.ID] > 1 {
				t.Fatalf("user %s returned twice (page %d)", u.ID, pages)
			}
			if deleted[u.ID] {
				t.Fatalf("user %s returned after it was deleted", u.ID)
			}
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
		if pages > 400 {
			t.Fatal("the listing does not end")
		}

		// Change the data before the next page.
		var gone []string
		pick := func(from []string) {
			if len(from) == 0 {
				return
			}
			id := from[rng.IntN(len(from))]
			if !deleted[id] {
				gone = append(gone, id)
				deleted[id] = true
			}
		}
		for range 2 {
			pick(order) // already returned: positions before the anchor shift
		}
		pick(pending[len(order)%len(pending):]) // not yet returned
		if pages%10 == 0 {
			// Hundreds just before the reading position: the next window
			// starts after the anchor's new place.
			end := len(order)
			for _, id := range order[max(0, end-300):end] {
				if !deleted[id] {
					gone = append(gone, id)
					deleted[id] = true
				}
			}
		}
		sql(t, p, `delete from auth.users where id = any($1::uuid[])`, gone)
		for range 2 {
			var id string
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, p.DBURL)
			if err != nil {
				t.Fatal(err)
			}
			err = conn.QueryRow(ctx, `insert into auth.users (instance_id, id, aud, role, email, email_confirmed_at, created_at, updated_at)
				values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
				        'new-' || gen_random_uuid() || '@example.com', now(), now(), now()) returning id::text`).Scan(&id)
			conn.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
			created[id] = true
		}
	}

	missing := 0
	for _, id := range ids {
		if !deleted[id] && seen[id] != 1 {
			missing++
		}
	}
	createdSeen := 0
	for id := range created {
		createdSeen += seen[id]
		if windows && !deleted[id] && seen[id] != 1 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d users that existed throughout were not returned exactly once", missing)
	}
	if len(deleted) < 1000 {
		t.Errorf("only %d deletions happened; the test should delete more", len(deleted))
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if (len(rec.per) > 0) != windows {
		t.Errorf("%d reads of Auth's admin list, with windows=%v", len(rec.per), windows)
	}
	for _, per := range rec.per {
		if per > 2*maxLimit+1 {
			t.Errorf("an Auth read asked for %d users (page limits up to %d)", per, maxLimit)
		}
	}
	t.Logf("%d pages, %d users returned, %d deleted, %d created (%d of them returned), %d Auth reads", pages, len(order), len(deleted), len(created), createdSeen, len(rec.per))
}
