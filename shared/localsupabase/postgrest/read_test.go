package postgrest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	cases := []struct {
		name   string
		call   call
		status int
		body   string
		hdr    map[string]string
	}{
		{"select columns", call{target: "/authors?select=id,name&order=id"}, 200,
			`[{"id":1,"name":"Ursula K. Le Guin"},{"id":2,"name":"Octavia E. Butler"},{"id":3,"name":"Nobody"}]`,
			map[string]string{"Content-Range": "0-2/*", "Content-Type": "application/json; charset=utf-8"}},
		{"alias and cast", call{target: "/books?select=t:title,year::text&id=eq.1"}, 200,
			`[{"t":"A Wizard of Earthsea","year":"1968"}]`, nil},
		{"json path", call{target: "/books?select=id,meta->>pages,series:meta->series->name&id=eq.1"}, 200,
			`[{"id":1,"pages":"183","series":"Earthsea"}]`, nil},
		{"json path filter", call{target: "/books?select=id&meta->series->>n=eq.1"}, 200, `[{"id":1}]`, nil},
		{"eq", call{target: "/books?select=id&year=eq.1969"}, 200, `[{"id":2}]`, nil},
		{"neq not null", call{target: "/books?select=id&author_id=neq.1&order=id"}, 200, `[{"id":4},{"id":5}]`, nil},
		{"gt lt", call{target: "/books?select=id&year=gt.1968&year=lt.1979&order=id"}, 200, `[{"id":2},{"id":3}]`, nil},
		{"gte lte", call{target: "/books?select=id&year=gte.1979&year=lte.1993&order=id"}, 200, `[{"id":4},{"id":5}]`, nil},
		{"like star", call{target: "/books?select=id&title=like.*Dark*"}, 200, `[{"id":2}]`, nil},
		{"ilike", call{target: "/books?select=id&title=ilike.the%20*&order=id"}, 200, `[{"id":2},{"id":3}]`, nil},
		{"in", call{target: "/books?select=id&id=in.(1,3,5)&order=id.desc"}, 200, `[{"id":5},{"id":3},{"id":1}]`, nil},
		{"in quoted", call{target: "/books?select=id&title=in.(" + enc(`"Orphan, with \"quotes\", commas","Kindred"`) + ")&order=id"}, 200,
			`[{"id":4},{"id":6}]`, nil},
		{"in empty", call{target: "/books?select=id&id=in.()"}, 200, `[]`, nil},
		{"is null", call{target: "/books?select=id&year=is.null"}, 200, `[{"id":6}]`, nil},
		{"not is null", call{target: "/books?select=id&meta=not.is.null&order=id"}, 200, `[{"id":1},{"id":2},{"id":4},{"id":5}]`, nil},
		{"is not_null", call{target: "/books?select=id&year=is.not_null&id=lt.3&order=id"}, 200, `[{"id":1},{"id":2}]`, nil},
		{"cs array", call{target: "/books?select=id&tags=cs.{classic,scifi}&order=id"}, 200, `[{"id":2},{"id":4}]`, nil},
		{"cd array", call{target: "/books?select=id&tags=cd.{scifi,fantasy}&tags=neq.{}&order=id"}, 200, `[{"id":3},{"id":5}]`, nil},
		{"cs jsonb", call{target: "/books?select=id&meta=cs." + enc(`{"pages":304}`)}, 200, `[{"id":2}]`, nil},
		{"not eq", call{target: "/books?select=id&id=not.eq.1&author_id=eq.1&order=id"}, 200, `[{"id":2},{"id":3}]`, nil},
		{"like any", call{target: "/books?select=id&title=like(any).{Kin*,*Sower}&order=id"}, 200, `[{"id":4},{"id":5}]`, nil},
		{"or", call{target: "/books?select=id&or=(year.lt.1969,year.gt.1990)&order=id"}, 200, `[{"id":1},{"id":5}]`, nil},
		{"nested and in or", call{target: "/books?select=id&or=(id.eq.6,and(author_id.eq.2,year.gt.1980))&order=id"}, 200,
			`[{"id":5},{"id":6}]`, nil},
		{"not.or", call{target: "/books?select=id&not.or=(author_id.eq.1,author_id.is.null)&order=id"}, 200, `[{"id":4},{"id":5}]`, nil},
		{"or with in and quoted", call{target: "/books?select=id&or=(id.in.(1,2)," + enc(`title.eq."Kindred"`) + ")&order=id"}, 200,
			`[{"id":1},{"id":2},{"id":4}]`, nil},
		{"order nulls", call{target: "/books?select=id&order=year.desc.nullsfirst&limit=2"}, 200, `[{"id":6},{"id":5}]`, nil},
		{"order nullslast", call{target: "/books?select=id&order=year.asc.nullslast&offset=4"}, 200, `[{"id":5},{"id":6}]`, nil},
		{"order multiple", call{target: "/books?select=id&order=author_id.desc.nullslast,year.desc&limit=3"}, 200,
			`[{"id":5},{"id":4},{"id":3}]`, nil},
		{"limit offset", call{target: "/books?select=id&order=id&limit=2&offset=1"}, 200, `[{"id":2},{"id":3}]`,
			map[string]string{"Content-Range": "1-2/*"}},
		{"limit zero", call{target: "/books?select=id&limit=0"}, 200, `[]`, map[string]string{"Content-Range": "*/*"}},
		{"range header", call{target: "/books?select=id&order=id", header: map[string]string{"Range": "2-3", "Range-Unit": "items"}}, 200,
			`[{"id":3},{"id":4}]`, map[string]string{"Content-Range": "2-3/*"}},
		{"range open", call{target: "/books?select=id&order=id", header: map[string]string{"Range": "4-"}}, 200,
			`[{"id":5},{"id":6}]`, map[string]string{"Content-Range": "4-5/*"}},
		{"count exact partial", call{target: "/books?select=id&order=id&limit=2", header: map[string]string{"Prefer": "count=exact"}}, 206,
			`[{"id":1},{"id":2}]`, map[string]string{"Content-Range": "0-1/6", "Preference-Applied": "count=exact"}},
		{"count exact whole", call{target: "/books?select=id&author_id=eq.2", header: map[string]string{"Prefer": "count=exact"}}, 200,
			`[{"id":4},{"id":5}]`, map[string]string{"Content-Range": "0-1/2"}},
		{"count zero rows", call{target: "/books?id=eq.99", header: map[string]string{"Prefer": "count=exact"}}, 200,
			`[]`, map[string]string{"Content-Range": "*/0"}},
		{"count offset at end", call{target: "/books?select=id&offset=6", header: map[string]string{"Prefer": "count=exact"}}, 206,
			`[]`, map[string]string{"Content-Range": "*/6"}},
		{"count planned", call{target: "/big?select=id&limit=1", header: map[string]string{"Prefer": "count=planned"}}, 206,
			`[{"id":1}]`, map[string]string{"Preference-Applied": "count=planned"}},
		{"max rows", call{target: "/big?select=id&id=gt.1498&limit=1&offset=1000", header: map[string]string{"Prefer": "count=exact"}}, 206,
			`[{"id":2499}]`, map[string]string{"Content-Range": "1000-1000/1002"}},
		{"singular", call{target: "/authors?id=eq.2", header: map[string]string{"Accept": "application/vnd.pgrst.object+json"}}, 200,
			`{"id":2,"name":"Octavia E. Butler"}`, map[string]string{"Content-Type": "application/vnd.pgrst.object+json; charset=utf-8"}},
		{"nulls stripped", call{target: "/books?select=id,year&id=eq.6", header: map[string]string{"Accept": "application/vnd.pgrst.array+json;nulls=stripped"}}, 200,
			`[{"id":6}]`, nil},
		{"accept profile", call{target: "/things", header: map[string]string{"Accept-Profile": "api2"}}, 200,
			`[{"id":1,"name":"thing one"}]`, map[string]string{"Content-Profile": "api2"}},
		{"default profile echoed", call{target: "/authors?select=id&id=eq.1", header: map[string]string{"Accept-Profile": "public"}}, 200,
			`[{"id":1}]`, map[string]string{"Content-Profile": "public"}},
		{"unknown param ignored", call{target: "/authors?select=id&id=eq.1&foo=bar&id=noop.1"}, 200, `[{"id":1}]`, nil},
		{"embed to-one", call{target: "/books?select=title,author:authors(name)&id=eq.4"}, 200,
			`[{"title":"Kindred","author":{"name":"Octavia E. Butler"}}]`, nil},
		{"embed to-one null", call{target: "/books?select=id,authors(id)&id=eq.6"}, 200, `[{"id":6,"authors":null}]`, nil},
		{"embed to-many filtered ordered", call{target: "/authors?select=name,books(id,year)&id=eq.1&books.year=gt.1968&books.order=id.desc"}, 200,
			`[{"name":"Ursula K. Le Guin","books":[{"id":3,"year":1974},{"id":2,"year":1969}]}]`, nil},
		{"embed limit", call{target: "/authors?select=id,books(id)&id=eq.1&books.order=id&books.limit=1"}, 200,
			`[{"id":1,"books":[{"id":1}]}]`, nil},
		{"embed nested", call{target: "/authors?select=id,books(id,reviews(stars))&id=eq.2&books.order=id"}, 200,
			`[{"id":2,"books":[{"id":4,"reviews":[{"stars":5}]},{"id":5,"reviews":[]}]}]`, nil},
		{"embed inner", call{target: "/authors?select=id,books!inner(id)&books.year=gt.1990"}, 200,
			`[{"id":2,"books":[{"id":5}]}]`, nil},
		{"embed is null", call{target: "/authors?select=id,books(id)&books=is.null"}, 200, `[{"id":3,"books":[]}]`, nil},
		{"embed fk hint", call{target: "/books?select=id,writer:authors!books_author_id_fkey(name)&id=eq.1"}, 200,
			`[{"id":1,"writer":{"name":"Ursula K. Le Guin"}}]`, nil},
		{"spread", call{target: "/books?select=title,...authors(author:name)&id=eq.5"}, 200,
			`[{"title":"Parable of the Sower","author":"Octavia E. Butler"}]`, nil},
		{"related order", call{target: "/books?select=id,authors(id)&order=authors(name).desc.nullslast,id&limit=2"}, 200, `[{"id":1,"authors":{"id":1}},{"id":2,"authors":{"id":1}}]`, nil},
		{"service role", call{target: "/secrets", header: map[string]string{"Authorization": "Bearer " + serviceToken}}, 200, `[]`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.call)
			assertStatus(t, r, tc.status)
			assertJSON(t, r, tc.body)
			for k, v := range tc.hdr {
				assertHeader(t, r, k, v)
			}
		})
	}
}

func TestHead(t *testing.T) {
	r := do(t, call{method: http.MethodHead, target: "/books?author_id=eq.1", header: map[string]string{"Prefer": "count=exact"}})
	assertStatus(t, r, 200)
	assertHeader(t, r, "Content-Range", "0-2/3")
	if len(r.body) != 0 {
		t.Fatalf("HEAD body = %q, want none", r.body)
	}
}

func TestReadErrors(t *testing.T) {
	cases := []struct {
		name   string
		call   call
		status int
		code   string
		msg    string
	}{
		{"unknown table", call{target: "/bookz"}, 404, "PGRST205", "Could not find the table 'public.bookz' in the schema cache"},
		{"unknown column", call{target: "/books?select=nope"}, 400, "42703", "column pgrst_1.nope does not exist"},
		{"bad operator", call{target: "/books?id=noop.1&x.y=noop.1"}, 400, "PGRST100", ""},
		{"bad logic", call{target: "/books?or=(id.eq.1"}, 400, "PGRST100", ""},
		{"bad order", call{target: "/books?order=id.ac"}, 400, "PGRST100", ""},
		{"bad select", call{target: "/books?select=id,("}, 400, "PGRST100", ""},
		{"invalid int", call{target: "/books?id=eq.abc"}, 400, "22P02", `invalid input syntax for type integer: "abc"`},
		{"negative limit", call{target: "/books?limit=-1"}, 416, "PGRST103", "Requested range not satisfiable"},
		{"range beyond", call{target: "/books?offset=10", header: map[string]string{"Prefer": "count=exact"}}, 416, "PGRST103", "Requested range not satisfiable"},
		{"range inverted", call{target: "/books", header: map[string]string{"Range": "5-2"}}, 416, "PGRST103", ""},
		{"singular many", call{target: "/books", header: map[string]string{"Accept": "application/vnd.pgrst.object+json"}}, 406, "PGRST116",
			"Cannot coerce the result to a single JSON object"},
		{"singular none", call{target: "/books?id=eq.99", header: map[string]string{"Accept": "application/vnd.pgrst.object+json"}}, 406, "PGRST116", ""},
		{"unknown accept", call{target: "/books", header: map[string]string{"Accept": "text/html"}}, 406, "PGRST107",
			"None of these media types are available: text/html"},
		{"schema not exposed", call{target: "/hidden", header: map[string]string{"Accept-Profile": "private"}}, 406, "PGRST106", "Invalid schema: private"},
		{"content profile not exposed", call{method: "POST", target: "/hidden", body: "{}", header: map[string]string{"Content-Profile": "private"}}, 406, "PGRST106", ""},
		{"no privilege anon", call{target: "/secrets"}, 401, "42501", "permission denied for table secrets"},
		{"no privilege user", call{target: "/secrets", header: map[string]string{"Authorization": "Bearer " + userToken(alice)}}, 403, "42501", ""},
		{"no relationship", call{target: "/authors?select=*,reviews(*)"}, 400, "PGRST200", ""},
		{"filter on missing embed", call{target: "/authors?select=id&books.id=eq.1"}, 400, "PGRST108", ""},
		{"bad embed operator", call{target: "/authors?select=id,books(id)&books=eq.1"}, 400, "PGRST120", ""},
		{"aggregates disabled", call{target: "/books?select=year.sum()"}, 400, "PGRST123", ""},
		{"deep path", call{target: "/a/b"}, 404, "PGRST125", "Invalid path specified in request URL"},
		{"unsupported method", call{method: "TRACE", target: "/books"}, 405, "PGRST117", "Unsupported HTTP method: TRACE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := assertError(t, do(t, tc.call), tc.status, tc.code)
			if tc.msg != "" && e["message"] != tc.msg {
				t.Fatalf("message = %q, want %q", e["message"], tc.msg)
			}
		})
	}
}

func TestParseErrorBody(t *testing.T) {
	r := do(t, call{target: "/books?x.id=noop.0"})
	e := assertError(t, r, 400, "PGRST100")
	if e["message"] != `"failed to parse filter (noop.0)" (line 1, column 6)` || e["details"] != "unknown single value operator noop" {
		t.Fatalf("parse error = %s", r.body)
	}
	if e["hint"] != nil {
		t.Fatalf("hint = %v, want null", e["hint"])
	}
}

func TestTableHint(t *testing.T) {
	e := assertError(t, do(t, call{target: "/author"}), 404, "PGRST205")
	if e["hint"] != "Perhaps you meant the table 'public.authors'" {
		t.Fatalf("hint = %v", e["hint"])
	}
}

func TestMaxRowsListing(t *testing.T) {
	r := do(t, call{target: "/big?select=id", header: map[string]string{"Prefer": "count=exact"}})
	assertStatus(t, r, 206)
	assertHeader(t, r, "Content-Range", "0-999/2500")
}

func TestCountEstimated(t *testing.T) {
	execSQL(t, "ANALYZE big")
	cases := []struct {
		target string
		status int
		prefix string
	}{
		// Few rows: the exact count.
		{"/books?select=id&limit=1", 206, "0-0/6"},
		// Past max rows: the planner's estimate.
		{"/big?select=id&limit=1", 206, "0-0/2500"},
	}
	for _, c := range cases {
		r := do(t, call{target: c.target, header: map[string]string{"Prefer": "count=estimated"}})
		assertStatus(t, r, c.status)
		assertHeader(t, r, "Content-Range", c.prefix)
		assertHeader(t, r, "Preference-Applied", "count=estimated")
	}
}

func TestOpenAPIRoot(t *testing.T) {
	r := do(t, call{target: "/"})
	assertStatus(t, r, 200)
	assertHeader(t, r, "Content-Type", "application/openapi+json; charset=utf-8")
	var doc struct {
		Info  struct{ Version string }   `json:"info"`
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.Version != "14.12" || doc.Paths["/books"] == nil || doc.Paths["/rpc/add"] == nil {
		t.Fatalf("openapi = %s", r.body)
	}
}

func TestNewTableVisibleAtOnce(t *testing.T) {
	newTable(t, "fresh", "CREATE TABLE fresh (id int PRIMARY KEY); INSERT INTO fresh VALUES (7)")
	r := do(t, call{target: "/fresh"})
	assertStatus(t, r, 200)
	assertJSON(t, r, `[{"id":7}]`)
}

// FuzzHandlerQuery sends arbitrary query strings and bodies through the
// handler to the real database: nothing a caller sends may cause a 5xx, and
// no payload may reach SQL as code (the canary table survives).
func FuzzHandlerQuery(f *testing.F) {
	seeds := []struct{ query, body string }{
		{"select=id,title&title=eq.'; DROP TABLE authors; --", ""},
		{"select=id&title=like.%'%20OR%201=1--", ""},
		{`select=id&"id"" = 1 OR ""id"=eq.1`, ""},
		{"select=title->>'x' FROM authors; --&id=eq.1", ""},
		{"select=id::int4);DROP TABLE authors;--", ""},
		{"select=a:id,b:title->0->>x&order=title->>x.desc&meta->>k=in.(a,\"b)\",c)", ""},
		{"or=(id.eq.1,title.eq.\\\"x)&and=(id.gt.0)", ""},
		{"id=in.(1,2)&select=*,authors!inner(*)&authors.or=(name.ilike.*a*,id.eq.1)", ""},
		{"columns=id,\"x\"\"); DROP TABLE authors;--\"", `[{"id":1}]`},
		{"select=id", `{"id":1,"title":"t","x\"); DROP TABLE authors;--":1}`},
		{"select=id&limit=99999999999999999999&offset=-5", ""},
		{"select=id&tags=cs.{\"a\\\"}\"}&meta=cs.{\"k\":[1]}", ""},
		{"select=id&title=fts(english').x&x.y=eq.1", ""},
		{"select=id&year=gt.99999999999999999999", ""},
		{"select=id&title=eq.\x00nul", ""},
	}
	for _, s := range seeds {
		f.Add(s.query, s.body)
	}
	f.Fuzz(func(t *testing.T, query, body string) {
		for _, method := range []string{"GET", "POST", "PATCH"} {
			if method != "GET" && body == "" {
				continue
			}
			// Writes go to a table no other test reads, or match no row.
			target := "/books"
			if method == "POST" {
				target = "/fuzzsink"
			}
			r := httptest.NewRequest(method, target, strings.NewReader(body))
			r.URL.RawQuery = query
			if method == "PATCH" {
				r.URL.RawQuery += "&id=eq.-1"
			}
			r.Header.Set("Accept", "application/json")
			w := httptest.NewRecorder()
			api.ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("%s ?%s %q: status %d: %s", method, query, body, w.Code, w.Body.Bytes())
			}
		}
		if n := queryInt(t, "SELECT count(*) FROM authors"); n != 3 {
			t.Fatalf("authors has %d rows after ?%s", n, query)
		}
	})
}
