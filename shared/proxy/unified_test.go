package proxy_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
)

type unifiedPage struct {
	Result      []struct{ ID int } `json:"result"`
	NextCursor  *string            `json:"next_cursor"`
	ResultCount int                `json:"result_count"`
}

// TestUnified: ?response_format=unified turns Data API reads into
// Supabridge's list envelope, and next_cursor walks every page with the
// same filters.
func TestUnified(t *testing.T) {
	w := newWorld(t)
	a := w.keyAccount(stack.Project(), stack.Project().SecretKey)
	walk := func(t *testing.T, query string, header http.Header) (ids []int, pages []int) {
		t.Helper()
		next := ""
		for range 10 {
			q := query
			if next != "" {
				q += "&next_cursor=" + url.QueryEscape(next)
			}
			r := w.call(request{path: "rest/v1/px_rows?" + q, account: a.ID, header: header})
			wantRemote(t, r, http.StatusOK)
			var p unifiedPage
			if err := json.Unmarshal(r.body, &p); err != nil || p.Result == nil || p.ResultCount != len(p.Result) {
				t.Fatalf("page %s (%v)", r.body, err)
			}
			for _, row := range p.Result {
				ids = append(ids, row.ID)
			}
			pages = append(pages, len(p.Result))
			if p.NextCursor == nil {
				return ids, pages
			}
			next = *p.NextCursor
		}
		t.Fatal("no last page after 10 pages")
		return nil, nil
	}
	seq := func(from, to int) []int {
		var s []int
		for i := from; i <= to; i++ {
			s = append(s, i)
		}
		return s
	}
	for _, tt := range []struct {
		name   string
		query  string
		header http.Header
		ids    []int
		pages  []int
	}{
		{"full pages say there may be more", "select=id&order=id&limit=10&response_format=unified", nil, seq(1, 23), []int{10, 10, 3}},
		{"a count says where the end is", "select=id&order=id&limit=20&response_format=unified", http.Header{"Prefer": {"count=exact"}}, seq(1, 23), []int{20, 3}},
		{"a page that ends exactly at the end", "select=id&order=id&limit=23&response_format=unified", http.Header{"Prefer": {"count=exact"}}, seq(1, 23), []int{23}},
		{"filters carry over", "select=id&id=gt.15&order=id&limit=5&response_format=unified", nil, seq(16, 23), []int{5, 3}},
		{"an offset is where it starts", "select=id&order=id&limit=10&offset=20&response_format=unified", nil, seq(21, 23), []int{3}},
		{"no rows", "select=id&id=gt.100&response_format=unified", nil, nil, []int{0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ids, pages := walk(t, tt.query, tt.header)
			if !slices.Equal(ids, tt.ids) || !slices.Equal(pages, tt.pages) {
				t.Errorf("ids %v in pages %v; want %v in %v", ids, pages, tt.ids, tt.pages)
			}
		})
	}
	t.Run("errors pass through", func(t *testing.T) {
		r := w.call(request{path: "rest/v1/px_nothing?response_format=unified", account: a.ID})
		wantRemote(t, r, http.StatusNotFound)
		var e struct{ Code string }
		if json.Unmarshal(r.body, &e) != nil || e.Code != "PGRST205" {
			t.Errorf("body %s", r.body)
		}
	})
	t.Run("a cursor is bound to its path", func(t *testing.T) {
		r := w.call(request{path: "rest/v1/px_rows?select=id&order=id&limit=2&response_format=unified", account: a.ID})
		var p unifiedPage
		if err := json.Unmarshal(r.body, &p); err != nil || p.NextCursor == nil {
			t.Fatalf("page %s", r.body)
		}
		r = w.call(request{path: "rest/v1/px_books?select=id&response_format=unified&next_cursor=" + url.QueryEscape(*p.NextCursor), account: a.ID})
		wantStatus(t, r, http.StatusBadRequest)
	})
}
