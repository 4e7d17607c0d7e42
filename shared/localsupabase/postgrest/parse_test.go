package postgrest

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeSchema is a small schema cache for planning without a database.
func fakeSchema() *schemaCache {
	mk := func(name string, pk []string, cols ...string) *table {
		t := &table{schema: "public", name: name, kind: 'r', colByName: map[string]*column{}, pk: pk}
		for _, c := range cols {
			col := &column{name: c, typ: "text"}
			t.cols = append(t.cols, col)
			t.colByName[c] = col
		}
		return t
	}
	sc := &schemaCache{tables: map[string]*table{}, funcs: map[string][]*function{}, roles: map[string]*roleInfo{},
		names: map[string][]string{}, fnames: map[string][]string{}}
	for _, t := range []*table{mk("authors", []string{"id"}, "id", "name"), mk("books", []string{"id"}, "id", "title", "author_id")} {
		sc.tables[qkey(t.schema, t.name)] = t
	}
	sc.fks = []*foreignKey{{name: "books_author_id_fkey", from: qkey("public", "books"), fromCols: []string{"author_id"},
		to: qkey("public", "authors"), toCols: []string{"id"}}}
	return sc
}

var parseSeeds = []string{
	"select=id,name&order=id.desc.nullslast&limit=10&offset=5",
	"select=t:title,year::text,meta->a->>b,meta->0,data->-1&id=eq.1",
	"select=*,author:authors!books_author_id_fkey!inner(name,...x(y))&authors.name=like.*a*",
	"or=(a.eq.1,and(b.gt.2,not.or(c.is.null,d.in.(1,\"2,3\"))))&not.and=(x.eq.1,y.cs.{a,b})",
	"tags=cs.{a,b}&title=fts(english).cat&x=plfts.a%20b&y=wfts.q&z=phfts.q",
	"title=like(any).{a*,b*}&id=not.in.(1,2,3)&x=is.not_null&y=isdistinct.1",
	"columns=\"a\",b&on_conflict=id",
	"id=noop.1&a.b=noop.0",
	"select=id,(",
	"order=authors(name).desc,id.asc.nullsfirst",
	"select=a->>'x'&id=eq.');DROP TABLE books;--",
	"select=\"weird\"\"col\"&\"x\"\"y\"=eq.1",
	"limit=-1&offset=abc",
	"or=()",
	"select=count()&year.sum()",
	"%zz=1",
	"select=id::int4 or true",
	"books.limit=1&books.offset=2&books.order=id&select=id,books(id)",
}

// FuzzParseQuery checks that no query string panics the parser or planner
// and that every rejection is a client error with a PGRST1xx-style body.
func FuzzParseQuery(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s)
	}
	sc := fakeSchema()
	f.Fuzz(func(t *testing.T, raw string) {
		qp, e := parseQuery(raw)
		if e != nil {
			if e.status < 400 || e.status >= 500 || !strings.HasPrefix(e.code, "PGRST1") {
				t.Fatalf("parse error %d %s for %q", e.status, e.code, raw)
			}
			return
		}
		for _, table := range []string{"books", "authors"} {
			r := httptest.NewRequest("GET", "/"+table, nil)
			req := &request{r: r, qp: qp, schema: "public"}
			h := &Handler{cfg: Config{MaxRows: 1000}}
			q, e := h.planRead(req, sc, sc.tables[qkey("public", table)], qualified("public", table))
			if e != nil {
				if e.status < 300 || e.status >= 500 {
					t.Fatalf("plan error %d %s for %q", e.status, e.code, raw)
				}
				continue
			}
			res := &readResult{}
			for _, st := range q.statements(req, res, bodyExpr(accepted{}, false, "")) {
				if strings.Count(st.sql, "$") < len(st.args) {
					t.Fatalf("statement binds %d args but references fewer: %s", len(st.args), st.sql)
				}
			}
		}
	})
}

func TestParseSelect(t *testing.T) {
	items, e := parseSelect("a:b->c->>d::text,rel!hint!inner(x,y(z)),*,...s(q)")
	if e != nil {
		t.Fatal(e)
	}
	if len(items) != 4 || items[0].alias != "a" || items[0].cast != "text" || len(items[0].fld.path) != 2 ||
		items[1].embed == nil || items[1].embed.hint != "hint" || !items[1].embed.inner || len(items[1].embed.items) != 2 ||
		!items[2].star || items[3].embed == nil || !items[3].embed.spread {
		t.Fatalf("parsed %+v", items)
	}
	for _, bad := range []string{"", "a,", "a::", "a::int or true", "x(", "a!b", "a->"} {
		if _, e := parseSelect(bad); e == nil {
			t.Errorf("parseSelect(%q) accepted", bad)
		}
	}
}

func TestLiteralAndIdent(t *testing.T) {
	cases := []struct{ in, ident, lit string }{
		{`plain`, `"plain"`, `E'plain'`},
		{`a"b`, `"a""b"`, `E'a"b'`},
		{`it's \x`, `"it's \x"`, `E'it''s \\x'`},
		{"nul\x00byte", `"nulbyte"`, `E'nulbyte'`},
	}
	for _, c := range cases {
		if got := ident(c.in); got != c.ident {
			t.Errorf("ident(%q) = %s, want %s", c.in, got, c.ident)
		}
		if got := literal(c.in); got != c.lit {
			t.Errorf("literal(%q) = %s, want %s", c.in, got, c.lit)
		}
	}
	if got := pgArray([]string{`a,b`, `c"d`, `e\f`}); got != `{"a,b","c\"d","e\\f"}` {
		t.Errorf("pgArray = %s", got)
	}
}

func TestPrefer(t *testing.T) {
	p := parsePrefer([]string{"return=representation, count=exact", "resolution=merge-duplicates", "missing=default,bogus"})
	if p.ret != "representation" || p.count != "exact" || p.resolution != "merge-duplicates" || p.missing != "default" ||
		len(p.invalid) != 1 || p.invalid[0] != "bogus" {
		t.Fatalf("prefs = %+v", p)
	}
}

func TestNegotiate(t *testing.T) {
	cases := []struct {
		accept string
		mt     mediaType
		err    bool
	}{
		{"", mtJSON, false},
		{"*/*", mtJSON, false},
		{"application/vnd.pgrst.object+json", mtObject, false},
		{"text/html;q=0.9, application/vnd.pgrst.object+json;q=0.5", mtObject, false},
		{"application/json;q=0.1, application/vnd.pgrst.object+json", mtObject, false},
		{"text/html", 0, true},
	}
	for _, c := range cases {
		a, e := negotiate(c.accept, false)
		if (e != nil) != c.err || (e == nil && a.mt != c.mt) {
			t.Errorf("negotiate(%q) = %v, %v", c.accept, a.mt, e)
		}
	}
}
