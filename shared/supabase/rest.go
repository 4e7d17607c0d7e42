package supabase

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Count asks PostgREST to count the whole result (Prefer: count=…); the
// total comes back in Content-Range and lands in Response.Total.
type Count string

// Counting methods.
const (
	CountExact     Count = "exact"
	CountPlanned   Count = "planned"   // the planner's estimate
	CountEstimated Count = "estimated" // exact below max-rows, planned above
)

// Return is what a write returns (Prefer: return=…).
type Return string

// What writes return.
const (
	ReturnMinimal        Return = "minimal" // nothing (the server's default)
	ReturnRepresentation Return = "representation"
	ReturnHeadersOnly    Return = "headers-only"
)

// Resolution is how an upsert resolves conflicts (Prefer: resolution=…).
type Resolution string

// Conflict resolutions.
const (
	MergeDuplicates  Resolution = "merge-duplicates"  // ON CONFLICT DO UPDATE
	IgnoreDuplicates Resolution = "ignore-duplicates" // ON CONFLICT DO NOTHING
)

// ErrNoFilters is returned by Update and Delete without filters, which
// would touch every row (Supabase refuses them too).
var ErrNoFilters = errors.New("supabase: update or delete without filters")

// Order is one ordering term.
type Order struct {
	Column     string
	Desc       bool
	NullsFirst bool
	NullsLast  bool
}

// String renders the term as PostgREST's order parameter spells it
// ("name.desc.nullslast").
func (o Order) String() string {
	s := identStrict(o.Column)
	if o.Desc {
		s += ".desc"
	}
	switch {
	case o.NullsFirst:
		s += ".nullsfirst"
	case o.NullsLast:
		s += ".nullslast"
	}
	return s
}

// SelectOptions describe a read. The zero value reads every column of the
// first page the server returns (at most its max-rows, 1000 on Supabase).
type SelectOptions struct {
	// Columns is the select list. Items are PostgREST select items used as
	// written (aliases, casts, JSON paths and embeds allowed), not quoted;
	// nil means "*".
	Columns []string
	Filters []Filter
	Order   []Order
	// Limit and Offset page the result (0: unset).
	Limit  int
	Offset int
	// UseRange sends the page as "Range: <offset>-<end>" (Range-Unit:
	// items) instead of limit and offset parameters.
	UseRange bool
	// Count asks for the total.
	Count Count
	// Schema selects a non-default exposed schema (Accept-Profile).
	Schema string
	// Params are extra query parameters added as is, for PostgREST syntax
	// this package does not model. They are the caller's responsibility.
	Params url.Values
}

// InsertOptions describe an insert or upsert.
type InsertOptions struct {
	// Columns restricts which keys are read from the body; nil with a
	// []map[string]any body means the union of its keys, so rows may omit
	// keys.
	Columns []string
	// OnConflict names the unique columns an upsert resolves on (default
	// the primary key).
	OnConflict []string
	// Resolution makes the insert an upsert.
	Resolution Resolution
	// MissingDefault fills absent columns with their defaults instead of
	// NULL.
	MissingDefault bool
	Return         Return
	// Select shapes a representation (nil: "*").
	Select []string
	Count  Count
	// Schema selects a non-default exposed schema (Content-Profile).
	Schema string
}

// UpdateOptions describe an update or delete. Filters are required.
type UpdateOptions struct {
	Filters []Filter
	Return  Return
	Select  []string
	Count   Count
	Schema  string
	Params  url.Values
}

// RPCOptions describe a function call. The embedded SelectOptions filter,
// order and page a set-returning function's result.
type RPCOptions struct {
	SelectOptions
	// Get calls the function with GET and args as query parameters, which
	// only STABLE and IMMUTABLE functions allow; args must then be a
	// map[string]any or url.Values.
	Get bool
}

func prefer(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" && !strings.HasSuffix(p, "=") {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}

func tablePath(table string) (string, error) {
	seg, err := segment("table", table)
	if err != nil {
		return "", err
	}
	return "rest/v1/" + seg, nil
}

func addFilters(q url.Values, fs []Filter) error {
	for _, f := range fs {
		if err := f.addTo(q); err != nil {
			return err
		}
	}
	return nil
}

func selectList(cols []string) string {
	if len(cols) == 0 {
		return "*"
	}
	return strings.Join(cols, ",")
}

// readQuery encodes a read's query parameters and headers.
func (o *SelectOptions) apply(q url.Values, h http.Header, write bool) error {
	q.Set("select", selectList(o.Columns))
	if err := addFilters(q, o.Filters); err != nil {
		return err
	}
	if len(o.Order) > 0 {
		terms := make([]string, len(o.Order))
		for i, t := range o.Order {
			if t.Column == "" {
				return errors.New("supabase: order term without a column")
			}
			terms[i] = t.String()
		}
		q.Set("order", strings.Join(terms, ","))
	}
	if o.Limit < 0 || o.Offset < 0 {
		return errors.New("supabase: negative limit or offset")
	}
	if o.UseRange && !write {
		h.Set("Range-Unit", "items")
		if o.Limit > 0 {
			h.Set("Range", fmt.Sprintf("%d-%d", o.Offset, o.Offset+o.Limit-1))
		} else {
			h.Set("Range", fmt.Sprintf("%d-", o.Offset))
		}
	} else {
		if o.Limit > 0 {
			q.Set("limit", strconv.Itoa(o.Limit))
		}
		if o.Offset > 0 {
			q.Set("offset", strconv.Itoa(o.Offset))
		}
	}
	for k, vs := range o.Params {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	if o.Count != "" {
		h.Set("Prefer", "count="+string(o.Count))
	}
	if o.Schema != "" {
		if write {
			h.Set("Content-Profile", o.Schema)
		} else {
			h.Set("Accept-Profile", o.Schema)
		}
	}
	return nil
}

func (s *RESTService) newRequest(ctx context.Context, method, path string, q url.Values, h http.Header, body any) (*http.Request, error) {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	req, err := s.client.NewRequest(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	return req, nil
}

// readRequest builds GET/HEAD table reads.
func (s *RESTService) readRequest(ctx context.Context, method, table string, opts *SelectOptions) (*http.Request, error) {
	path, err := tablePath(table)
	if err != nil {
		return nil, err
	}
	var o SelectOptions
	if opts != nil {
		o = *opts
	}
	q, h := url.Values{}, http.Header{}
	if err := o.apply(q, h, false); err != nil {
		return nil, err
	}
	return s.newRequest(ctx, method, path, q, h, nil)
}

// fillRange sets Total and NextOffset from Content-Range. limit is the page
// size asked for (0: none): without a total, a full page means there may be
// more.
func fillRange(resp *Response, limit int) {
	cr, ok := ParseContentRange(resp.Header.Get("Content-Range"))
	if !ok {
		return
	}
	resp.Total = cr.Total
	if !cr.HasRange {
		return
	}
	next := cr.End + 1
	switch {
	case cr.Total >= 0 && next < cr.Total:
		resp.NextOffset = int(next)
	case cr.Total < 0 && limit > 0 && cr.Len() >= int64(limit):
		resp.NextOffset = int(next)
	}
}

// Select reads rows of table into v (a pointer to a slice, or an
// io.Writer for the raw JSON). resp.Total is the count when opts.Count
// asked for one, and resp.NextOffset the offset of the next page (0 when
// this was the last, as far as the response shows: without a count, a page
// shorter than opts.Limit is the last).
func (s *RESTService) Select(ctx context.Context, table string, opts *SelectOptions, v any) (*Response, error) {
	req, err := s.readRequest(ctx, http.MethodGet, table, opts)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req, v)
	if err != nil {
		return resp, err
	}
	fillRange(resp, limitOf(opts))
	return resp, nil
}

func limitOf(opts *SelectOptions) int {
	if opts == nil {
		return 0
	}
	return opts.Limit
}

// SelectStream is Select that leaves the JSON body unread, for callers that
// pass rows through without decoding: the caller must close resp.Body.
// Paging fields are filled in from the headers.
func (s *RESTService) SelectStream(ctx context.Context, table string, opts *SelectOptions) (*Response, error) {
	req, err := s.readRequest(ctx, http.MethodGet, table, opts)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.BareDo(req)
	if err != nil {
		return resp, err
	}
	fillRange(resp, limitOf(opts))
	return resp, nil
}

// Count returns how many rows opts's filters match (a HEAD request; opts's
// Count method, exact by default).
func (s *RESTService) Count(ctx context.Context, table string, opts *SelectOptions) (int64, *Response, error) {
	var o SelectOptions
	if opts != nil {
		o = *opts
	}
	if o.Count == "" {
		o.Count = CountExact
	}
	req, err := s.readRequest(ctx, http.MethodHead, table, &o)
	if err != nil {
		return 0, nil, err
	}
	resp, err := s.client.Do(req, nil)
	if err != nil {
		return 0, resp, err
	}
	fillRange(resp, o.Limit)
	if resp.Total < 0 {
		return 0, resp, errors.New("supabase: server returned no count")
	}
	return resp.Total, resp, nil
}

// SelectIter yields every row opts selects, decoded as T, page after page
// of opts.Limit rows (0: 1000, Supabase's max-rows; a larger limit than the
// server's max-rows ends the walk after the first short page) from
// opts.Offset. opts is not modified. Give it an Order on a unique key, or
// pages may overlap. Iteration stops at the first error, which is yielded.
func SelectIter[T any](ctx context.Context, s *RESTService, table string, opts *SelectOptions) iter.Seq2[T, error] {
	var o SelectOptions
	if opts != nil {
		o = *opts
		o.Columns = slices.Clone(opts.Columns)
		o.Filters = slices.Clone(opts.Filters)
		o.Order = slices.Clone(opts.Order)
		o.Params = cloneValues(opts.Params)
	}
	if o.Limit == 0 {
		o.Limit = 1000
	}
	return func(yield func(T, error) bool) {
		page := o
		for {
			var rows []T
			resp, err := s.Select(ctx, table, &page, &rows)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, r := range rows {
				if !yield(r, nil) {
					return
				}
			}
			if len(rows) == 0 || resp.NextOffset <= page.Offset {
				return
			}
			page.Offset = resp.NextOffset
		}
	}
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// unionColumns is the sorted union of the keys of a []map[string]any
// body, so rows with different keys insert together.
func unionColumns(rows any) []string {
	ms, ok := rows.([]map[string]any)
	if !ok || len(ms) < 2 {
		return nil
	}
	seen := map[string]bool{}
	var cols []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				cols = append(cols, k)
			}
		}
	}
	slices.Sort(cols)
	return cols
}

func quoteList(cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = identStrict(c)
	}
	return strings.Join(out, ",")
}

// Insert inserts rows (a struct, a map, a slice of either, or an io.Reader
// of JSON) into table; with opts.Resolution it is an upsert. With
// ReturnRepresentation the inserted rows are decoded into v.
func (s *RESTService) Insert(ctx context.Context, table string, rows any, opts *InsertOptions, v any) (*Response, error) {
	path, err := tablePath(table)
	if err != nil {
		return nil, err
	}
	if rows == nil {
		return nil, errors.New("supabase: nothing to insert")
	}
	var o InsertOptions
	if opts != nil {
		o = *opts
	}
	q, h := url.Values{}, http.Header{}
	cols := o.Columns
	if cols == nil {
		cols = unionColumns(rows)
	}
	if len(cols) > 0 {
		q.Set("columns", quoteList(cols))
	}
	if len(o.OnConflict) > 0 {
		q.Set("on_conflict", quoteList(o.OnConflict))
	}
	if o.Return == ReturnRepresentation {
		q.Set("select", selectList(o.Select))
	}
	missing := ""
	if o.MissingDefault {
		missing = "missing=default"
	}
	if p := prefer("return="+string(o.Return), "resolution="+string(o.Resolution), "count="+string(o.Count), missing); p != "" {
		h.Set("Prefer", p)
	}
	if o.Schema != "" {
		h.Set("Content-Profile", o.Schema)
	}
	req, err := s.newRequest(ctx, http.MethodPost, path, q, h, rows)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req, v)
	if err != nil {
		return resp, err
	}
	fillRange(resp, 0)
	return resp, nil
}

// Upsert is Insert with opts.Resolution defaulting to MergeDuplicates.
func (s *RESTService) Upsert(ctx context.Context, table string, rows any, opts *InsertOptions, v any) (*Response, error) {
	var o InsertOptions
	if opts != nil {
		o = *opts
	}
	if o.Resolution == "" {
		o.Resolution = MergeDuplicates
	}
	return s.Insert(ctx, table, rows, &o, v)
}

func (s *RESTService) write(ctx context.Context, method, table string, body any, opts *UpdateOptions, v any) (*Response, error) {
	path, err := tablePath(table)
	if err != nil {
		return nil, err
	}
	if opts == nil || len(opts.Filters) == 0 {
		return nil, ErrNoFilters
	}
	q, h := url.Values{}, http.Header{}
	if err := addFilters(q, opts.Filters); err != nil {
		return nil, err
	}
	if opts.Return == ReturnRepresentation {
		q.Set("select", selectList(opts.Select))
	}
	for k, vs := range opts.Params {
		for _, x := range vs {
			q.Add(k, x)
		}
	}
	if p := prefer("return="+string(opts.Return), "count="+string(opts.Count)); p != "" {
		h.Set("Prefer", p)
	}
	if opts.Schema != "" {
		h.Set("Content-Profile", opts.Schema)
	}
	req, err := s.newRequest(ctx, method, path, q, h, body)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req, v)
	if err != nil {
		return resp, err
	}
	fillRange(resp, 0)
	return resp, nil
}

// Update sets the fields of patch (a struct or map) on the rows opts's
// filters match; it refuses to run without filters (ErrNoFilters). With
// ReturnRepresentation the updated rows are decoded into v.
func (s *RESTService) Update(ctx context.Context, table string, patch any, opts *UpdateOptions, v any) (*Response, error) {
	if patch == nil {
		return nil, errors.New("supabase: nothing to update")
	}
	return s.write(ctx, http.MethodPatch, table, patch, opts, v)
}

// Delete deletes the rows opts's filters match; it refuses to run without
// filters (ErrNoFilters). With ReturnRepresentation the deleted rows are
// decoded into v.
func (s *RESTService) Delete(ctx context.Context, table string, opts *UpdateOptions, v any) (*Response, error) {
	return s.write(ctx, http.MethodDelete, table, nil, opts, v)
}

// RPC calls the database function fn with args (a struct or map of named
// arguments; nil: none) and decodes its result into v (a void function
// returns nothing). opts may filter, order and page a set-returning
// function's rows.
func (s *RESTService) RPC(ctx context.Context, fn string, args any, opts *RPCOptions, v any) (*Response, error) {
	seg, err := segment("function", fn)
	if err != nil {
		return nil, err
	}
	path := "rest/v1/rpc/" + seg
	var o RPCOptions
	if opts != nil {
		o = *opts
	}
	q, h := url.Values{}, http.Header{}
	if o.Columns != nil || len(o.Filters) > 0 || len(o.Order) > 0 || o.Limit > 0 || o.Offset > 0 || o.Count != "" || o.Schema != "" || o.UseRange || o.Params != nil {
		if err := o.SelectOptions.apply(q, h, !o.Get); err != nil {
			return nil, err
		}
		if o.Columns == nil {
			q.Del("select")
		}
	}
	method := http.MethodPost
	var body any = args
	if o.Get {
		method = http.MethodGet
		body = nil
		switch a := args.(type) {
		case nil:
		case url.Values:
			for k, vs := range a {
				for _, x := range vs {
					q.Add(k, x)
				}
			}
		case map[string]any:
			for k, x := range a {
				q.Add(k, formatValue(x))
			}
		default:
			return nil, fmt.Errorf("supabase: RPC with Get needs map[string]any or url.Values args, not %T", args)
		}
	} else if body == nil {
		body = map[string]any{}
	}
	req, err := s.newRequest(ctx, method, path, q, h, body)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req, v)
	if err != nil {
		return resp, err
	}
	fillRange(resp, o.Limit)
	return resp, nil
}
