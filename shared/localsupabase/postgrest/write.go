package postgrest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// maxBody bounds request bodies; PostgREST has no limit of its own, but a
// stand-in should not buffer without end.
const maxBody = 256 << 20

// payload is a parsed write body: a JSON array of objects, and the keys
// that define the written columns.
type payload struct {
	json []byte   // always a JSON array
	keys []string // from columns= or the objects' (matching) keys
	rows []map[string]json.RawMessage
}

func readPayload(req *request) (*payload, *apiError) {
	r := req.r
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, errInvalidBody("Empty or invalid json")
	}
	if len(data) > maxBody {
		return nil, &apiError{status: 413, code: "PGRST102", message: "Request body is too large"}
	}
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch {
	case ct == "" || mt == "application/json" || mt == "application/vnd.pgrst.object+json" || mt == "application/vnd.pgrst.array+json":
	case mt == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(data))
		if err != nil {
			return nil, errInvalidBody("Empty or invalid json")
		}
		obj := map[string]string{}
		for k, v := range vals {
			obj[k] = v[len(v)-1]
		}
		data, _ = json.Marshal(obj)
	case mt == "text/csv":
		if data, err = csvToJSON(data); err != nil {
			return nil, errInvalidBody("Empty or invalid csv")
		}
	default:
		return nil, errInvalidBody("Content-Type not acceptable: " + ct)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || !json.Valid(data) || (data[0] != '{' && data[0] != '[') {
		return nil, errInvalidBody("Empty or invalid json")
	}
	p := &payload{}
	if data[0] == '{' {
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return nil, errInvalidBody("Empty or invalid json")
		}
		p.rows = []map[string]json.RawMessage{obj}
		p.json = append(append([]byte{'['}, data...), ']')
	} else {
		if err := json.Unmarshal(data, &p.rows); err != nil {
			return nil, errInvalidBody("All object keys must match")
		}
		for _, row := range p.rows {
			if row == nil {
				return nil, errInvalidBody("All object keys must match")
			}
		}
		p.json = data
	}
	if req.qp.columns != nil {
		p.keys = req.qp.columns
		return p, nil
	}
	if len(p.rows) > 0 {
		for k := range p.rows[0] {
			p.keys = append(p.keys, k)
		}
		sort.Strings(p.keys)
		for _, row := range p.rows[1:] {
			if len(row) != len(p.keys) {
				return nil, errInvalidBody("All object keys must match")
			}
			for _, k := range p.keys {
				if _, ok := row[k]; !ok {
					return nil, errInvalidBody("All object keys must match")
				}
			}
		}
	}
	return p, nil
}

// csvToJSON turns a header row plus records into an array of objects of
// strings; the unquoted value NULL is null, as the server reads it.
func csvToJSON(data []byte) ([]byte, error) {
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, errors.New("bad csv")
	}
	out := make([]map[string]any, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		obj := map[string]any{}
		for i, h := range recs[0] {
			if i < len(rec) {
				if rec[i] == "NULL" {
					obj[h] = nil
				} else {
					obj[h] = rec[i]
				}
			}
		}
		out = append(out, obj)
	}
	return json.Marshal(out)
}

// mutation is a planned INSERT/UPDATE/DELETE with its representation.
type mutation struct {
	p         *planner
	sql       string // the data-modifying statement without RETURNING
	wholeRow  bool   // RETURNING the whole row (representation, location, singular)
	upsertIns bool   // track inserted rows (merge-duplicates)
	alias     string
	t         *table
	location  bool
}

type mutationResult struct {
	total      int64
	inserted   *int64
	body       []byte
	location   *string
	gucHeaders *string
	gucStatus  *string
}

func (m *mutation) statement(req *request, res *mutationResult) (stmt, *apiError) {
	ret := "1 AS pgrst_one"
	if m.wholeRow {
		ret = ident(m.alias) + " AS pgrst_row"
	}
	if m.upsertIns {
		ret += ", " + ident(m.alias) + ".xmax = 0 AS pgrst_ins"
	}
	inserted := "NULL::bigint"
	if m.upsertIns {
		inserted = "(SELECT pg_catalog.count(*) FROM pgrst_source WHERE pgrst_ins)"
	}
	body := "''"
	if m.wholeRow && req.prefs.ret == "representation" && req.r.Method != http.MethodHead {
		ra := m.p.alias()
		selects, _, embeds, e := m.p.selectList(m.t, ra, req.qp.sel, level{}, 0)
		if e != nil {
			return stmt{}, e
		}
		order, e := m.p.orderAt(ra, level{}, m.t, embeds)
		if e != nil {
			return stmt{}, e
		}
		if e := m.p.unconsumed(); e != nil {
			return stmt{}, e
		}
		body = "(SELECT " + bodyExpr(req.accept, false, "") + " FROM (SELECT " + strings.Join(selects, ", ") +
			" FROM (SELECT (pgrst_row).* FROM pgrst_source) AS " + ident(ra) + order + ") _postgrest_t)"
	}
	location := "NULL::text"
	if m.location {
		parts := make([]string, len(m.t.pk))
		for i, c := range m.t.pk {
			parts[i] = "(pgrst_row)." + ident(c) + "::text"
		}
		location = "(SELECT json_build_array(" + strings.Join(parts, ", ") + ")::text FROM pgrst_source LIMIT 1)"
	}
	sql := "WITH pgrst_source AS (" + m.sql + " RETURNING " + ret + ") SELECT " +
		"(SELECT pg_catalog.count(*) FROM pgrst_source), " + inserted + ", " + body + ", " + location +
		", nullif(current_setting('response.headers', true), ''), nullif(current_setting('response.status', true), '')"
	return stmt{sql: sql, args: m.p.args, scan: func(r pgx.Row) error {
		return r.Scan(&res.total, &res.inserted, &res.body, &res.location, &res.gucHeaders, &res.gucStatus)
	}}, nil
}

// runMutation executes m and applies PostgREST's post-conditions: singular
// results and max-affected roll back.
func (h *Handler) runMutation(req *request, m *mutation) (*mutationResult, *apiError) {
	res := &mutationResult{}
	st, e := m.statement(req, res)
	if e != nil {
		return nil, e
	}
	e = h.run(req.r.Context(), req, txOpts{stmts: []stmt{st}, after: func() (bool, *apiError) {
		if req.accept.mt == mtObject && res.total != 1 {
			return false, errSingular(res.total)
		}
		if req.prefs.handling == "strict" && req.prefs.hasMaxAff && req.r.Method != http.MethodPost &&
			req.r.Method != http.MethodPut && res.total > req.prefs.maxAffected {
			return false, &apiError{status: 400, code: "PGRST124", message: "Query result exceeds max-affected preference constraint",
				details: "The query affects " + strconv.FormatInt(res.total, 10) + " rows"}
		}
		return true, nil
	}})
	if e != nil {
		return nil, e
	}
	return res, nil
}

func (req *request) applyCommonPrefs(mut bool) {
	if req.prefs.ret != "" {
		req.applied = append(req.applied, "return="+req.prefs.ret)
	}
	if req.prefs.count != "" {
		req.applied = append(req.applied, "count="+req.prefs.count)
	}
	if mut && req.prefs.handling == "strict" && req.prefs.hasMaxAff {
		req.applied = append(req.applied, "handling=strict", "max-affected="+strconv.FormatInt(req.prefs.maxAffected, 10))
	}
}

func (req *request) countTotal(n int64) *int64 {
	if req.prefs.count == "" {
		return nil
	}
	return &n
}

// hasRootFilter tells whether an UPDATE/DELETE would carry a WHERE clause.
func hasRootFilter(qp *queryParams) bool {
	for _, f := range qp.filters {
		if len(f.path) == 0 {
			return true
		}
	}
	for _, l := range qp.logic {
		if len(l.path) == 0 {
			return true
		}
	}
	return false
}

func (h *Handler) serveInsert(w http.ResponseWriter, req *request, name string, put bool) *apiError {
	ctx := req.r.Context()
	sc, t, e := h.lookupTable(ctx, req.schema, name)
	if e != nil {
		return e
	}
	if put {
		if e := checkPut(req, t); e != nil {
			return e
		}
	}
	pl, e := readPayload(req)
	if e != nil {
		return e
	}
	if t, e = h.ensureColumns(ctx, t, pl.keys); e != nil {
		return e
	}
	if put {
		if e := checkPutPayload(req, t, pl); e != nil {
			return e
		}
	}
	p := newPlanner(sc, req.schema, req.qp, h.cfg.MaxRows)
	alias := p.alias()
	m := &mutation{p: p, alias: alias, t: t}
	resolution := req.prefs.resolution
	if put {
		resolution = "merge-duplicates"
	}
	conflict := req.qp.onConflict
	if conflict == nil {
		conflict = t.pk
	}
	if len(conflict) == 0 {
		resolution = ""
	}

	var cols []string
	for _, k := range pl.keys {
		cols = append(cols, ident(k))
	}
	var sb strings.Builder
	sb.WriteString("INSERT INTO " + qualified(t.schema, t.name) + " AS " + ident(alias))
	if len(cols) > 0 {
		sb.WriteString(" (" + strings.Join(cols, ", ") + ")")
	}
	src := qualified(t.schema, t.name)
	if req.prefs.missing == "default" {
		req.applied = append(req.applied, "missing=default")
		vals := make([]string, len(pl.keys))
		for i, k := range pl.keys {
			def := "NULL"
			if c := t.colByName[k]; c != nil && c.def != "" {
				def = c.def
			}
			vals[i] = "CASE WHEN pgrst_e.value ? " + literal(k) + " THEN pgrst_r." + ident(k) + " ELSE " + def + " END"
		}
		sb.WriteString(" SELECT " + strings.Join(vals, ", ") + " FROM jsonb_array_elements(" + p.bind(string(pl.json)) +
			"::jsonb) pgrst_e, LATERAL jsonb_populate_record(NULL::" + src + ", pgrst_e.value) pgrst_r")
	} else {
		sel := make([]string, len(pl.keys))
		for i, k := range pl.keys {
			sel[i] = "pgrst_r." + ident(k)
		}
		sb.WriteString(" SELECT " + strings.Join(sel, ", ") + " FROM json_populate_recordset(NULL::" + src + ", " +
			p.bind(string(pl.json)) + "::json) pgrst_r")
	}
	if resolution != "" {
		if !put {
			req.applied = append(req.applied, "resolution="+resolution)
		}
		target := make([]string, len(conflict))
		for i, c := range conflict {
			target[i] = ident(c)
		}
		sb.WriteString(" ON CONFLICT (" + strings.Join(target, ", ") + ")")
		if resolution == "ignore-duplicates" || len(cols) == 0 {
			sb.WriteString(" DO NOTHING")
		} else {
			sets := make([]string, len(cols))
			for i, c := range cols {
				sets[i] = c + " = EXCLUDED." + c
			}
			sb.WriteString(" DO UPDATE SET " + strings.Join(sets, ", "))
			m.upsertIns = t.kind == 'r' || t.kind == 'p'
		}
	}
	m.sql = sb.String()
	m.location = req.prefs.ret == "headers-only" && len(t.pk) > 0 && !put
	m.wholeRow = req.prefs.ret == "representation" || m.location
	req.applyCommonPrefs(false)
	res, e := h.runMutation(req, m)
	if e != nil {
		return e
	}
	out := response{headers: map[string]string{}}
	if put {
		out.status = http.StatusNoContent
		if req.prefs.ret == "representation" {
			out.status = http.StatusOK
			if res.inserted != nil && *res.inserted > 0 {
				out.status = http.StatusCreated
			}
		}
	} else {
		out.headers["Content-Range"] = contentRange(1, 0, req.countTotal(res.total))
		out.status = http.StatusCreated
		if resolution == "merge-duplicates" && res.inserted != nil && *res.inserted <= 0 {
			out.status = http.StatusOK
		}
	}
	if res.location != nil {
		var vals []*string
		if json.Unmarshal([]byte(*res.location), &vals) == nil {
			q := make([]string, len(t.pk))
			for i, c := range t.pk {
				v := "null"
				if i < len(vals) && vals[i] != nil {
					v = *vals[i]
				}
				q[i] = url.QueryEscape(c) + "=" + url.QueryEscape("eq."+v)
			}
			out.headers["Location"] = "/" + t.name + "?" + strings.Join(q, "&")
		}
	}
	if req.prefs.ret == "representation" {
		out.body, out.ctype = res.body, req.accept.contentType
	}
	return h.write(w, req, out, res.gucHeaders, res.gucStatus)
}

// checkPut enforces PUT's rules: filters are exactly eq on every PK column,
// and no limit/offset.
func checkPut(req *request, t *table) *apiError {
	if _, ok := req.qp.limits[""]; ok {
		return &apiError{status: 400, code: "PGRST114", message: "limit/offset querystring parameters are not allowed for PUT"}
	}
	if _, ok := req.qp.offsets[""]; ok {
		return &apiError{status: 400, code: "PGRST114", message: "limit/offset querystring parameters are not allowed for PUT"}
	}
	bad := &apiError{status: 405, code: "PGRST105", message: "Filters must include all and only primary key columns with 'eq' operators"}
	if len(t.pk) == 0 || len(req.qp.logic) > 0 {
		return bad
	}
	seen := map[string]bool{}
	for _, f := range req.qp.filters {
		if len(f.path) > 0 {
			continue
		}
		if f.f.op != "eq" || f.f.negate || f.f.quant != "" || len(f.f.fld.path) > 0 {
			return bad
		}
		seen[f.f.fld.name] = true
	}
	if !sameSet(mapKeys(seen), t.pk) {
		return bad
	}
	return nil
}

func checkPutPayload(req *request, t *table, pl *payload) *apiError {
	mismatch := &apiError{status: 400, code: "PGRST115", message: "Payload values do not match URL in primary key column(s)"}
	if len(pl.rows) != 1 {
		return mismatch
	}
	for _, f := range req.qp.filters {
		if len(f.path) > 0 {
			continue
		}
		raw, ok := pl.rows[0][f.f.fld.name]
		if !ok {
			return mismatch
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw)
		}
		if s != f.f.val {
			return mismatch
		}
	}
	return nil
}

func mapKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (h *Handler) serveUpdate(w http.ResponseWriter, req *request, name string) *apiError {
	ctx := req.r.Context()
	sc, t, e := h.lookupTable(ctx, req.schema, name)
	if e != nil {
		return e
	}
	pl, e := readPayload(req)
	if e != nil {
		return e
	}
	if t, e = h.ensureColumns(ctx, t, pl.keys); e != nil {
		return e
	}
	if !hasRootFilter(req.qp) {
		return &apiError{status: 400, code: "21000", message: "UPDATE requires a WHERE clause"}
	}
	p := newPlanner(sc, req.schema, req.qp, h.cfg.MaxRows)
	alias := p.alias()
	req.applyCommonPrefs(true)
	if len(pl.keys) == 0 {
		// Nothing to set: PostgREST answers as for zero affected rows.
		out := response{status: http.StatusNoContent, headers: map[string]string{"Content-Range": contentRange(0, -1, req.countTotal(0))}}
		if req.prefs.ret == "representation" {
			out.status, out.body, out.ctype = http.StatusOK, []byte("[]"), req.accept.contentType
		}
		return h.write(w, req, out, nil, nil)
	}
	sets := make([]string, len(pl.keys))
	for i, k := range pl.keys {
		sets[i] = ident(k) + " = pgrst_body." + ident(k)
	}
	body := p.bind(string(pl.json))
	where := p.whereAt(alias, level{}, nil)
	m := &mutation{p: p, alias: alias, t: t, wholeRow: req.prefs.ret == "representation" || req.accept.mt == mtObject}
	m.sql = "UPDATE " + qualified(t.schema, t.name) + " AS " + ident(alias) + " SET " + strings.Join(sets, ", ") +
		" FROM (SELECT * FROM json_populate_recordset(NULL::" + qualified(t.schema, t.name) + ", " + body + "::json) LIMIT 1) pgrst_body" +
		" WHERE " + strings.Join(where, " AND ")
	res, e := h.runMutation(req, m)
	if e != nil {
		return e
	}
	out := response{status: http.StatusNoContent, headers: map[string]string{
		"Content-Range": contentRange(0, res.total-1, req.countTotal(res.total))}}
	if req.prefs.ret == "representation" {
		out.status, out.body, out.ctype = http.StatusOK, res.body, req.accept.contentType
	}
	return h.write(w, req, out, res.gucHeaders, res.gucStatus)
}

func (h *Handler) serveDelete(w http.ResponseWriter, req *request, name string) *apiError {
	ctx := req.r.Context()
	sc, t, e := h.lookupTable(ctx, req.schema, name)
	if e != nil {
		return e
	}
	if !hasRootFilter(req.qp) {
		return &apiError{status: 400, code: "21000", message: "DELETE requires a WHERE clause"}
	}
	p := newPlanner(sc, req.schema, req.qp, h.cfg.MaxRows)
	alias := p.alias()
	req.applyCommonPrefs(true)
	where := p.whereAt(alias, level{}, nil)
	m := &mutation{p: p, alias: alias, t: t, wholeRow: req.prefs.ret == "representation" || req.accept.mt == mtObject}
	m.sql = "DELETE FROM " + qualified(t.schema, t.name) + " AS " + ident(alias) + " WHERE " + strings.Join(where, " AND ")
	res, e := h.runMutation(req, m)
	if e != nil {
		return e
	}
	out := response{status: http.StatusNoContent, headers: map[string]string{
		"Content-Range": contentRange(1, 0, req.countTotal(res.total))}}
	if req.prefs.ret == "representation" {
		out.status, out.body, out.ctype = http.StatusOK, res.body, req.accept.contentType
	}
	return h.write(w, req, out, res.gucHeaders, res.gucStatus)
}
