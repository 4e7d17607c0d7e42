package supabase

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

var restHeader = map[string]string{"apikey": testKey, "Authorization": "Bearer " + testKey}

type row struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func TestRESTService_RoundTrips(t *testing.T) {
	runRoundTrips(t, projectClient, []roundTrip{
		{
			name: "Select with filters, order, limit and count",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				var rows []row
				resp, err := c.REST.Select(ctx, "people", &SelectOptions{
					Columns: []string{"id", "name"},
					Filters: []Filter{Eq("org", "a,b"), In("status", "active", "in (vited)"), Or(Lt("age", 18), Gt("age", 65))},
					Order:   []Order{{Column: "name", Desc: true, NullsLast: true}, {Column: "id"}},
					Limit:   2, Offset: 4, Count: CountExact, Schema: "directory",
				}, &rows)
				return rows, resp, err
			},
			want: wantRequest{Method: "GET", Path: "rest/v1/people", Header: map[string]string{
				"apikey": testKey, "Authorization": "Bearer " + testKey, "Prefer": "count=exact", "Accept-Profile": "directory"},
				Query: url.Values{
					"select": {"id,name"}, "org": {"eq.a,b"}, "status": {`in.("active","in (vited)")`},
					"or": {`(age.lt."18",age.gt."65")`}, "order": {"name.desc.nullslast,id"},
					"limit": {"2"}, "offset": {"4"},
				}, Body: "-"},
			status: http.StatusPartialContent,
			header: map[string]string{"Content-Range": "4-5/10"},
			body:   `[{"id":5,"name":"e"},{"id":6,"name":"f"}]`,
			check: func(t *testing.T, got any, resp *Response) {
				assertEqual(t, "rows", got.([]row), []row{{5, "e"}, {6, "f"}})
				assertEqual(t, "total", resp.Total, int64(10))
				assertEqual(t, "next", resp.NextOffset, 6)
			},
		},
		{
			name: "Select with Range header",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				var rows []row
				resp, err := c.REST.Select(ctx, "people", &SelectOptions{Limit: 2, Offset: 2, UseRange: true}, &rows)
				return rows, resp, err
			},
			want: wantRequest{Method: "GET", Path: "rest/v1/people", Query: url.Values{"select": {"*"}},
				Header: map[string]string{"Range": "2-3", "Range-Unit": "items"}},
			header: map[string]string{"Content-Range": "2-3/*"},
			body:   `[{"id":3},{"id":4}]`,
			check: func(t *testing.T, _ any, resp *Response) {
				assertEqual(t, "total", resp.Total, int64(-1))
				assertEqual(t, "next (full page, no count)", resp.NextOffset, 4)
			},
		},
		{
			name: "Select last short page",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				var rows []row
				resp, err := c.REST.Select(ctx, "people", &SelectOptions{Limit: 5, Offset: 5}, &rows)
				return rows, resp, err
			},
			want:   wantRequest{Query: url.Values{"select": {"*"}, "limit": {"5"}, "offset": {"5"}}},
			header: map[string]string{"Content-Range": "5-6/*"},
			body:   `[{"id":6},{"id":7}]`,
			check: func(t *testing.T, _ any, resp *Response) {
				assertEqual(t, "next", resp.NextOffset, 0)
			},
		},
		{
			name: "Count",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.REST.Count(ctx, "people", &SelectOptions{Filters: []Filter{Is("deleted_at", IsNull)}})
			},
			want: wantRequest{Method: "HEAD", Path: "rest/v1/people", Header: map[string]string{"Prefer": "count=exact"},
				Query: url.Values{"select": {"*"}, "deleted_at": {"is.null"}}},
			header: map[string]string{"Content-Range": "0-24/3573458"},
			check: func(t *testing.T, got any, _ *Response) {
				assertEqual(t, "count", got.(int64), int64(3573458))
			},
		},
		{
			name: "Insert bulk with union columns",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				var rows []row
				resp, err := c.REST.Insert(ctx, "people", []map[string]any{{"id": 1, "name": "a"}, {"id": 2, "org": "x"}},
					&InsertOptions{Return: ReturnRepresentation, Select: []string{"id"}, MissingDefault: true}, &rows)
				return rows, resp, err
			},
			want: wantRequest{Method: "POST", Path: "rest/v1/people", Header: map[string]string{
				"apikey": testKey, "Prefer": "return=representation, missing=default", "Content-Type": "application/json"},
				Query: url.Values{"columns": {"id,name,org"}, "select": {"id"}},
				Body:  `[{"id":1,"name":"a"},{"id":2,"org":"x"}]`},
			status: http.StatusCreated,
			header: map[string]string{"Content-Range": "*/*"},
			body:   `[{"id":1},{"id":2}]`,
			check: func(t *testing.T, got any, _ *Response) {
				assertEqual(t, "rows", got.([]row), []row{{ID: 1}, {ID: 2}})
			},
		},
		{
			name: "Upsert on conflict",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				resp, err := c.REST.Upsert(ctx, "people", row{ID: 1, Name: "a"},
					&InsertOptions{OnConflict: []string{"id", "odd name"}, Return: ReturnMinimal, Schema: "directory"}, nil)
				return nil, resp, err
			},
			want: wantRequest{Method: "POST", Path: "rest/v1/people", Header: map[string]string{
				"Prefer": "return=minimal, resolution=merge-duplicates", "Content-Profile": "directory"},
				Query: url.Values{"on_conflict": {`id,"odd name"`}}, Body: `{"id":1,"name":"a"}`},
			status: http.StatusCreated,
		},
		{
			name: "Insert ignore duplicates from a reader",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				resp, err := c.REST.Insert(ctx, "people", strings.NewReader(`[{"id":1}]`), &InsertOptions{Resolution: IgnoreDuplicates}, nil)
				return nil, resp, err
			},
			want: wantRequest{Method: "POST", Path: "rest/v1/people", Header: map[string]string{"Prefer": "resolution=ignore-duplicates"},
				Query: url.Values{}, Body: `[{"id":1}]`},
			status: http.StatusCreated,
		},
		{
			name: "Update",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				var rows []row
				resp, err := c.REST.Update(ctx, "people", map[string]any{"name": "z"},
					&UpdateOptions{Filters: []Filter{Eq("id", 1)}, Return: ReturnRepresentation, Count: CountExact}, &rows)
				return rows, resp, err
			},
			want: wantRequest{Method: "PATCH", Path: "rest/v1/people", Header: map[string]string{"Prefer": "return=representation, count=exact"},
				Query: url.Values{"id": {"eq.1"}, "select": {"*"}}, Body: `{"name":"z"}`},
			header: map[string]string{"Content-Range": "0-0/1"},
			body:   `[{"id":1,"name":"z"}]`,
			check: func(t *testing.T, got any, resp *Response) {
				assertEqual(t, "rows", got.([]row), []row{{1, "z"}})
				assertEqual(t, "total", resp.Total, int64(1))
			},
		},
		{
			name: "Delete",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				resp, err := c.REST.Delete(ctx, "people", &UpdateOptions{Filters: []Filter{Not(In("id", 1, 2))}}, nil)
				return nil, resp, err
			},
			want:   wantRequest{Method: "DELETE", Path: "rest/v1/people", Query: url.Values{"id": {`not.in.("1","2")`}}, Body: "-"},
			status: http.StatusNoContent,
		},
		{
			name: "RPC POST",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				var n int
				resp, err := c.REST.RPC(ctx, "add", map[string]int{"a": 1, "b": 2}, nil, &n)
				return n, resp, err
			},
			want: wantRequest{Method: "POST", Path: "rest/v1/rpc/add", Query: url.Values{}, Body: `{"a":1,"b":2}`, Header: restHeader},
			body: `3`,
			check: func(t *testing.T, got any, _ *Response) {
				assertEqual(t, "result", got.(int), 3)
			},
		},
		{
			name: "RPC GET with filters and schema",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				var rows []row
				resp, err := c.REST.RPC(ctx, "since", map[string]any{"y": 1970},
					&RPCOptions{Get: true, SelectOptions: SelectOptions{Filters: []Filter{Gt("id", 2)}, Limit: 1, Schema: "api"}}, &rows)
				return rows, resp, err
			},
			want: wantRequest{Method: "GET", Path: "rest/v1/rpc/since", Header: map[string]string{"Accept-Profile": "api"},
				Query: url.Values{"y": {"1970"}, "id": {"gt.2"}, "limit": {"1"}}, Body: "-"},
			body: `[{"id":3}]`,
		},
		{
			name: "RPC void",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				resp, err := c.REST.RPC(ctx, "touch", nil, &RPCOptions{SelectOptions: SelectOptions{Schema: "api"}}, nil)
				return nil, resp, err
			},
			want:   wantRequest{Method: "POST", Path: "rest/v1/rpc/touch", Header: map[string]string{"Content-Profile": "api"}, Query: url.Values{}, Body: `{}`},
			status: http.StatusNoContent,
		},
	})
}

func TestFilterEncoding(t *testing.T) {
	day := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		filter Filter
		want   string
	}{
		{"eq keeps the value as is", Eq("name", `O'Brien, "Jr." (x)`), `name=eq.O'Brien, "Jr." (x)`},
		{"neq int", Neq("n", 3), "n=neq.3"},
		{"gte time", Gte("updated_at", day), "updated_at=gte.2026-01-02T03:04:05Z"},
		{"lte float", Lte("score", 1.5), "score=lte.1.5"},
		{"like", Like("email", "*@example.com"), "email=like.*@example.com"},
		{"ilike", ILike("name", "%ann%"), "name=ilike.%ann%"},
		{"is not null", Is("deleted_at", IsNotNull), "deleted_at=is.not_null"},
		{"in quotes every item", In("name", "a,b", `say "hi"`, `back\slash`, "(x)", ""), `name=in.("a,b","say \"hi\"","back\\slash","(x)","")`},
		{"in ints", In("id", 1, 2, 3), `id=in.("1","2","3")`},
		{"in empty", In[string]("id"), `id=in.()`},
		{"not in", Not(In("id", 7)), `id=not.in.("7")`},
		{"contains", Contains("tags", "a,b", "c"), `tags=cs.{"a,b","c"}`},
		{"contained by", ContainedBy("tags", "x"), `tags=cd.{"x"}`},
		{"or quotes values", Or(Eq("a", "x,y"), Eq("b", "p.q")), `or=(a.eq."x,y",b.eq."p.q")`},
		{"nested and/or with not", Not(Or(Is("a", IsNull), And(Gt("b", 1), Not(Lt("c", "("))))), `not.or=(a.is.null,and(b.gt."1",c.not.lt."("))`},
		{"or with in", Or(In("a", "x)", "y"), Eq("b", 1)), `or=(a.in.("x)","y"),b.eq."1")`},
		{"embedded resource column", Eq("films.year", 2000), "films.year=eq.2000"},
		{"json path column", Eq("data->>name", "x"), "data->>name=eq.x"},
		{"odd column quoted", Eq("my col,x", 1), `"my col,x"=eq.1`},
		{"op fts", Op("body", "fts(english)", "cat & dog"), "body=fts(english).cat & dog"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertEqual(t, "filter", tc.filter.String(), tc.want)
		})
	}
}

func TestFilterInvalid(t *testing.T) {
	for _, f := range []Filter{{}, Eq("", 1), Or(), Op("a", "eq;drop", 1), Or(Eq("a", 1), Filter{})} {
		q := url.Values{}
		if err := f.addTo(q); err == nil {
			t.Errorf("filter %#v was accepted as %v", f, q)
		}
	}
	fs := newFakeServer(t, func(w http.ResponseWriter, _ *recorded) { reply(w, 200, nil, `[]`) })
	c := projectClient(t, fs)
	if _, err := c.REST.Select(context.Background(), "t", &SelectOptions{Filters: []Filter{{}}}, nil); err == nil {
		t.Error("Select with an invalid filter succeeded")
	}
	assertEqual(t, "requests", len(fs.requests()), 0)
}

func TestRESTService_WritesNeedFilters(t *testing.T) {
	fs := newFakeServer(t, func(w http.ResponseWriter, _ *recorded) { reply(w, 204, nil, "") })
	c := projectClient(t, fs)
	ctx := context.Background()
	if _, err := c.REST.Update(ctx, "t", map[string]any{"a": 1}, nil, nil); !errors.Is(err, ErrNoFilters) {
		t.Errorf("Update without filters: %v", err)
	}
	if _, err := c.REST.Delete(ctx, "t", &UpdateOptions{}, nil); !errors.Is(err, ErrNoFilters) {
		t.Errorf("Delete without filters: %v", err)
	}
	assertEqual(t, "requests", len(fs.requests()), 0)
}

// TestSelectIter walks 2,345 rows in pages of 100, with and without a
// count, and checks the options are left alone.
func TestSelectIter(t *testing.T) {
	const total = 2345
	for _, count := range []Count{"", CountExact} {
		t.Run("count="+string(count), func(t *testing.T) {
			fs := newFakeServer(t, func(w http.ResponseWriter, r *recorded) {
				offset, limit := atoi(r.Query.Get("offset")), atoi(r.Query.Get("limit"))
				var rows []row
				for i := offset; i < total && i < offset+limit; i++ {
					rows = append(rows, row{ID: i})
				}
				tot := "*"
				if r.Header.Get("Prefer") == "count=exact" {
					tot = strconv.Itoa(total)
				}
				cr := "*/" + tot
				if len(rows) > 0 {
					cr = strconv.Itoa(offset) + "-" + strconv.Itoa(offset+len(rows)-1) + "/" + tot
				}
				reply(w, 200, map[string]string{"Content-Range": cr}, mustJSON(t, rows))
			})
			c := projectClient(t, fs)
			opts := &SelectOptions{Limit: 100, Order: []Order{{Column: "id"}}, Count: count, Filters: []Filter{Gt("id", -1)}}
			n := 0
			for r, err := range SelectIter[row](context.Background(), c.REST, "t", opts) {
				assertNoError(t, err)
				if r.ID != n {
					t.Fatalf("row %d has id %d", n, r.ID)
				}
				n++
			}
			assertEqual(t, "rows", n, total)
			assertEqual(t, "requests", len(fs.requests()), 24)
			assertEqual(t, "opts offset after", opts.Offset, 0)
			assertEqual(t, "opts filters after", len(opts.Filters), 1)
		})
	}
}

func TestRESTService_SelectStream(t *testing.T) {
	body := `[{"id":1},{"id":2}]`
	fs := newFakeServer(t, func(w http.ResponseWriter, _ *recorded) {
		reply(w, 200, map[string]string{"Content-Range": "0-1/2"}, body)
	})
	c := projectClient(t, fs)
	resp, err := c.REST.SelectStream(context.Background(), "t", &SelectOptions{Count: CountExact})
	assertNoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	assertNoError(t, err)
	assertEqual(t, "raw body", string(got), body)
	assertEqual(t, "total", resp.Total, int64(2))
}
