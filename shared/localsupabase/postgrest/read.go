package postgrest

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// window is the root row range of a read: offset and an optional limit.
type window struct {
	offset int64
	limit  int64 // -1: none
}

var rangeHeader = regexp.MustCompile(`^(\d+)-(\d*)$`)

// rootWindow intersects limit/offset with the Range header (honoured on GET
// and HEAD only), then caps by max rows.
func rootWindow(req *request, maxRows int) (window, *apiError) {
	lo := int64(0)
	var hi *int64 // nil: unbounded
	if off, ok := req.qp.offsets[""]; ok && off > 0 {
		lo = off
	}
	if lim, ok := req.qp.limits[""]; ok {
		if lim < 0 {
			return window{}, errRange("Limit should be greater than or equal to zero.")
		}
		v := lo + lim - 1
		hi = &v
	}
	if rh := strings.TrimSpace(req.r.Header.Get("Range")); rh != "" &&
		(req.r.Method == http.MethodGet || req.r.Method == http.MethodHead) {
		if m := rangeHeader.FindStringSubmatch(rh); m != nil {
			a, err1 := strconv.ParseInt(m[1], 10, 64)
			var b int64
			var err2 error
			if m[2] != "" {
				b, err2 = strconv.ParseInt(m[2], 10, 64)
			}
			if err1 == nil && err2 == nil {
				if m[2] != "" && b < a {
					return window{}, errRange("The lower boundary must be lower than or equal to the upper boundary in the Range header.")
				}
				lo = max(lo, a)
				if m[2] != "" && (hi == nil || b < *hi) {
					hi = &b
				}
			}
		}
	}
	w := window{offset: lo, limit: -1}
	if hi != nil {
		w.limit = max(*hi-lo+1, 0)
	}
	if w.limit < 0 || w.limit > int64(maxRows) {
		w.limit = int64(maxRows)
	}
	return w, nil
}

func (w window) sql() string {
	s := " LIMIT " + strconv.FormatInt(w.limit, 10)
	if w.offset > 0 {
		s += " OFFSET " + strconv.FormatInt(w.offset, 10)
	}
	return s
}

// readQuery is a planned read over some FROM clause.
type readQuery struct {
	p       *planner
	from    string // FROM ... (without WHERE)
	selects []string
	where   []string
	order   string
	win     window
}

func (q *readQuery) whereSQL() string {
	if len(q.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.where, " AND ")
}

// bodyExpr aggregates the rows of _postgrest_t into the response body.
func bodyExpr(acc accepted, head bool, scalarCol string) string {
	row := "_postgrest_t"
	if scalarCol != "" {
		row = "_postgrest_t." + ident(scalarCol)
	} else if acc.stripNulls {
		row = "json_strip_nulls(row_to_json(_postgrest_t))"
	}
	switch {
	case head:
		return "''"
	case acc.mt == mtObject:
		return "coalesce((json_agg(" + row + ")->0)::text, '')"
	default:
		return "coalesce(json_agg(" + row + "), '[]')::text"
	}
}

// readResult is what the main read statement returns.
type readResult struct {
	total      *int64
	pageTotal  int64
	body       []byte
	gucHeaders *string
	gucStatus  *string
	planned    *int64
}

// statements renders the main statement (and the EXPLAIN for planned or
// estimated counts) of a read.
func (q *readQuery) statements(req *request, res *readResult, body string) []stmt {
	var stmts []stmt
	countSQL := "NULL::bigint"
	switch req.prefs.count {
	case "exact":
		countSQL = "(SELECT pg_catalog.count(*) FROM " + q.from + q.whereSQL() + ")"
	case "estimated":
		// Exact up to max rows; the planner's estimate beyond.
		countSQL = "(SELECT pg_catalog.count(*) FROM (SELECT 1 FROM " + q.from + q.whereSQL() +
			" LIMIT " + strconv.Itoa(q.p.maxRows+1) + ") pgrst_c)"
	}
	if req.prefs.count == "planned" || req.prefs.count == "estimated" {
		stmts = append(stmts, stmt{
			sql:  "EXPLAIN (FORMAT JSON) SELECT 1 FROM " + q.from + q.whereSQL(),
			args: q.p.args,
			scan: func(r pgx.Row) error {
				var plan []byte
				if err := r.Scan(&plan); err != nil {
					return err
				}
				var parsed []struct {
					Plan struct {
						Rows float64 `json:"Plan Rows"`
					} `json:"Plan"`
				}
				if json.Unmarshal(plan, &parsed) == nil && len(parsed) > 0 {
					n := int64(parsed[0].Plan.Rows)
					res.planned = &n
				}
				return nil
			},
		})
	}
	sel := strings.Join(q.selects, ", ")
	main := "WITH pgrst_source AS (SELECT " + sel + " FROM " + q.from + q.whereSQL() + q.order + q.win.sql() + ") " +
		"SELECT " + countSQL + ", pg_catalog.count(_postgrest_t), " + body +
		", nullif(current_setting('response.headers', true), ''), nullif(current_setting('response.status', true), '')" +
		" FROM (SELECT * FROM pgrst_source) _postgrest_t"
	stmts = append(stmts, stmt{sql: main, args: q.p.args, scan: func(r pgx.Row) error {
		return r.Scan(&res.total, &res.pageTotal, &res.body, &res.gucHeaders, &res.gucStatus)
	}})
	return stmts
}

// finish turns a read result into the response: Content-Range, 200/206/416,
// singular checks.
func (h *Handler) finishRead(w http.ResponseWriter, req *request, q *readQuery, res *readResult) *apiError {
	total := res.total
	switch req.prefs.count {
	case "planned":
		total = res.planned
	case "estimated":
		if total != nil && *total > int64(h.cfg.MaxRows) && res.planned != nil {
			total = res.planned
			if *total < int64(h.cfg.MaxRows) {
				n := int64(h.cfg.MaxRows)
				total = &n
			}
		}
	}
	if req.prefs.count != "" {
		req.applied = append(req.applied, "count="+req.prefs.count)
	}
	lower := q.win.offset
	upper := lower + res.pageTotal - 1
	status := http.StatusOK
	if total != nil {
		switch {
		case lower > *total:
			return errRange("An offset of " + strconv.FormatInt(lower, 10) + " was requested, but there are only " +
				strconv.FormatInt(*total, 10) + " rows.")
		case 1+upper-lower < *total:
			status = http.StatusPartialContent
		}
	}
	if req.accept.mt == mtObject && res.pageTotal != 1 {
		return errSingular(res.pageTotal)
	}
	return h.write(w, req, response{status: status, body: res.body, ctype: req.accept.contentType,
		headers: map[string]string{"Content-Range": contentRange(lower, upper, total)}}, res.gucHeaders, res.gucStatus)
}

func (h *Handler) serveRead(w http.ResponseWriter, req *request, name string) *apiError {
	ctx := req.r.Context()
	sc, t, e := h.lookupTable(ctx, req.schema, name)
	if e != nil {
		return e
	}
	q, e := h.planRead(req, sc, t, qualified(t.schema, t.name))
	if e != nil {
		return e
	}
	res := &readResult{}
	body := bodyExpr(req.accept, req.r.Method == http.MethodHead, "")
	if e := h.run(ctx, req, txOpts{readOnly: true, stmts: q.statements(req, res, body)}); e != nil {
		return e
	}
	return h.finishRead(w, req, q, res)
}

// planRead plans a read of relation t (nil for results without a known row
// type) reachable as fromRel.
func (h *Handler) planRead(req *request, sc *schemaCache, t *table, fromRel string) (*readQuery, *apiError) {
	if e := checkEmbedFilters(req.qp, req.qp.sel); e != nil {
		return nil, e
	}
	p := newPlanner(sc, req.schema, req.qp, h.cfg.MaxRows)
	alias := p.alias()
	selects, inner, embeds, e := p.selectList(t, alias, req.qp.sel, level{}, 0)
	if e != nil {
		return nil, e
	}
	where := append(p.whereAt(alias, level{}, embeds), inner...)
	order, e := p.orderAt(alias, level{}, t, embeds)
	if e != nil {
		return nil, e
	}
	if e := p.unconsumed(); e != nil {
		return nil, e
	}
	win, e := rootWindow(req, h.cfg.MaxRows)
	if e != nil {
		return nil, e
	}
	return &readQuery{p: p, from: fromRel + " AS " + ident(alias), selects: selects, where: where, order: order, win: win}, nil
}
