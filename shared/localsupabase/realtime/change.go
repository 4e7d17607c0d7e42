package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// relation is what the stream knows of a published table: the columns
// pgoutput announced and, loaded on first use, the catalog facts the
// payload rules need. pgoutput announces a relation again after any change
// to it (grants, RLS, replica identity), which replaces this value and so
// drops the cached facts.
type relation struct {
	id            uint32
	schema, table string
	columns       []relColumn
	identityFull  bool

	loaded bool
	rls    bool
	pk     []int             // indexes into columns, in key order
	privs  map[string][]bool // role → SELECT privilege per column
}

type relColumn struct {
	name     string
	typeOID  uint32
	identity bool // part of the replica identity
}

func newRelation(m *pglogrepl.RelationMessage) *relation {
	r := &relation{id: m.RelationID, schema: m.Namespace, table: m.RelationName, identityFull: m.ReplicaIdentity == 'f', privs: map[string][]bool{}}
	for _, c := range m.Columns {
		r.columns = append(r.columns, relColumn{name: c.Name, typeOID: c.DataType, identity: c.Flags&1 != 0})
	}
	return r
}

func (r *relation) load(ctx context.Context, pool *pgxpool.Pool) error {
	if r.loaded {
		return nil
	}
	var pkNames []string
	err := pool.QueryRow(ctx, `select c.relrowsecurity,
		coalesce((select array_agg(a.attname::text order by array_position(i.indkey::int2[], a.attnum))
			from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
			where i.indrelid = c.oid and i.indisprimary), '{}')
		from pg_class c where c.oid = $1`, r.id).Scan(&r.rls, &pkNames)
	if err != nil {
		return fmt.Errorf("load relation %s.%s: %w", r.schema, r.table, err)
	}
	r.pk = nil
	for _, n := range pkNames {
		for i, c := range r.columns {
			if c.name == n {
				r.pk = append(r.pk, i)
			}
		}
	}
	r.loaded = true
	return nil
}

func (r *relation) privileges(ctx context.Context, pool *pgxpool.Pool, role string) ([]bool, error) {
	if p, ok := r.privs[role]; ok {
		return p, nil
	}
	names := make([]string, len(r.columns))
	for i, c := range r.columns {
		names[i] = c.name
	}
	var p []bool
	err := pool.QueryRow(ctx, `select coalesce(array_agg(has_column_privilege($1::text, $2::oid, n, 'SELECT') order by i), '{}')
		from unnest($3::text[]) with ordinality as t(n, i)`, role, r.id, names).Scan(&p)
	if err != nil {
		return nil, err
	}
	r.privs[role] = p
	return p, nil
}

// typeInfo names a column type: typname for payloads, the SQL spelling for
// casts.
type typeInfo struct {
	name, sql string
}

type typeCache struct {
	pool *pgxpool.Pool
	mu   sync.Mutex
	m    map[uint32]typeInfo
}

func (tc *typeCache) get(ctx context.Context, oid uint32) (typeInfo, error) {
	tc.mu.Lock()
	t, ok := tc.m[oid]
	tc.mu.Unlock()
	if ok {
		return t, nil
	}
	err := tc.pool.QueryRow(ctx, `select typname::text, format_type(oid, null) from pg_type where oid = $1`, oid).Scan(&t.name, &t.sql)
	if err != nil {
		return t, fmt.Errorf("look up type %d: %w", oid, err)
	}
	tc.mu.Lock()
	tc.m[oid] = t
	tc.mu.Unlock()
	return t, nil
}

// change is one decoded row change.
type change struct {
	action     string
	rel        *relation
	commitTime time.Time
	newT, oldT *pglogrepl.TupleData
	oldKind    uint8 // 'K', 'O' or 0
}

// row is a tuple as JSON: text holds the server's text form (for filters
// and RLS lookups), json the payload value; present is false for a column
// pgoutput left out (an unchanged TOAST value) or that the tuple lacks.
type row struct {
	present []bool
	null    []bool
	text    []string
	json    []json.RawMessage
}

func (st *stream) decodeRow(ctx context.Context, rel *relation, t *pglogrepl.TupleData, fill *row, onlyIdentity bool) (*row, error) {
	n := len(rel.columns)
	r := &row{present: make([]bool, n), null: make([]bool, n), text: make([]string, n), json: make([]json.RawMessage, n)}
	if t == nil {
		return r, nil
	}
	var slow []int
	for i, col := range t.Columns {
		if i >= n {
			break
		}
		if onlyIdentity && !rel.columns[i].identity {
			continue
		}
		switch col.DataType {
		case pglogrepl.TupleDataTypeNull:
			r.present[i], r.null[i], r.json[i] = true, true, json.RawMessage("null")
		case pglogrepl.TupleDataTypeText:
			r.present[i], r.text[i] = true, string(col.Data)
			if v, ok := fastJSON(rel.columns[i].typeOID, col.Data); ok {
				r.json[i] = v
			} else {
				slow = append(slow, i)
			}
		case pglogrepl.TupleDataTypeToast:
			if fill != nil && fill.present[i] {
				r.present[i], r.null[i], r.text[i], r.json[i] = true, fill.null[i], fill.text[i], fill.json[i]
			}
		}
	}
	if len(slow) == 0 {
		return r, nil
	}
	// Everything else goes through to_jsonb(value::type), exactly what
	// the real server's cast does, in one round trip per row.
	var sql strings.Builder
	sql.WriteString("select jsonb_build_array(")
	args := make([]any, len(slow))
	for k, i := range slow {
		ti, err := st.typeCache.get(ctx, rel.columns[i].typeOID)
		if err != nil {
			return nil, err
		}
		if k > 0 {
			sql.WriteString(", ")
		}
		fmt.Fprintf(&sql, "to_jsonb($%d::text::%s)", k+1, ti.sql)
		args[k] = r.text[i]
	}
	sql.WriteString(")::text")
	var out string
	if err := st.s.pool.QueryRow(ctx, sql.String(), args...).Scan(&out); err != nil {
		return nil, fmt.Errorf("cast values: %w", err)
	}
	var vals []json.RawMessage
	if err := json.Unmarshal([]byte(out), &vals); err != nil || len(vals) != len(slow) {
		return nil, fmt.Errorf("cast values: unexpected result")
	}
	for k, i := range slow {
		r.json[i] = vals[k]
	}
	return r, nil
}

var plainNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// fastJSON converts the common types without a database round trip, with
// the result to_jsonb gives; ok=false sends the value to SQL.
func fastJSON(typeOID uint32, text []byte) (json.RawMessage, bool) {
	switch typeOID {
	case 16: // bool
		switch string(text) {
		case "t":
			return json.RawMessage("true"), true
		case "f":
			return json.RawMessage("false"), true
		}
	case 20, 21, 23, 26, 1700: // int8, int2, int4, oid, numeric
		if plainNumber.Match(text) {
			return json.RawMessage(text), true
		}
	case 25, 1043, 1042, 19, 2950, 18: // text, varchar, bpchar, name, uuid, char
		return mustJSON(string(text)), true
	case 114, 3802: // json, jsonb
		var buf bytes.Buffer
		if json.Compact(&buf, text) == nil {
			return buf.Bytes(), true
		}
	case 17: // bytea: the hex digits without \x, as the real server sends
		return mustJSON(strings.TrimPrefix(string(text), `\x`)), true
	}
	return nil, false
}

// payload field shapes.
type columnInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type changeData struct {
	Columns         []columnInfo    `json:"columns"`
	CommitTimestamp *string         `json:"commit_timestamp"`
	Errors          []string        `json:"errors"`
	OldRecord       json.RawMessage `json:"old_record,omitempty"`
	Record          json.RawMessage `json:"record,omitempty"`
	Schema          string          `json:"schema"`
	Table           string          `json:"table"`
	Type            string          `json:"type"`
}

const (
	maxRecordBytes = 1_048_576
	maxFieldBytes  = 64
)

// deliver evaluates one change for every candidate subscription (filters,
// column privileges, RLS) and queues the frames, before the stream moves
// on, which keeps commit order per socket.
func (st *stream) deliver(ctx context.Context, c *change, cands []candidate) error {
	rel := c.rel
	if err := rel.load(ctx, st.s.pool); err != nil {
		return err
	}
	var oldRow, newRow *row
	var err error
	if c.oldT != nil {
		if oldRow, err = st.decodeRow(ctx, rel, c.oldT, nil, c.oldKind == 'K'); err != nil {
			return err
		}
	} else {
		oldRow, _ = st.decodeRow(ctx, rel, nil, nil, false)
	}
	if c.newT != nil {
		if newRow, err = st.decodeRow(ctx, rel, c.newT, oldRow, false); err != nil {
			return err
		}
	}
	// Identity columns of the old row: all of the old tuple with FULL, the
	// key otherwise (taken from the new tuple when the key did not change).
	identity := make([]bool, len(rel.columns))
	oldSrc := oldRow
	for i, col := range rel.columns {
		switch {
		case c.oldKind == 'O':
			identity[i] = oldRow.present[i]
		case c.oldKind == 'K':
			identity[i] = col.identity && oldRow.present[i]
		case c.action == "UPDATE":
			identity[i] = col.identity && newRow.present[i]
		}
	}
	if c.oldKind == 0 && c.action == "UPDATE" {
		oldSrc = newRow
	}
	filterRow := newRow
	if c.action == "DELETE" {
		filterRow = &row{present: identity, null: oldSrc.null, text: oldSrc.text, json: oldSrc.json}
	}

	noPK := len(rel.pk) == 0 && c.action != "DELETE"
	var visible []candidate
	if noPK {
		visible = cands
	} else if visible, err = st.applyFilters(ctx, rel, filterRow, cands); err != nil {
		return err
	}
	ts := c.commitTime.UTC().Format("2006-01-02T15:04:05.000Z")
	byClaims := map[string][]candidate{}
	var order []string
	for _, cd := range visible {
		k := string(cd.reg.claims.raw)
		if _, ok := byClaims[k]; !ok {
			order = append(order, k)
		}
		byClaims[k] = append(byClaims[k], cd)
	}
	for _, k := range order {
		group := byClaims[k]
		cl := group[0].reg.claims
		data := changeData{Schema: rel.schema, Table: rel.table, Type: c.action, Columns: []columnInfo{}}
		if noPK {
			data.Errors = []string{"Error 400: Bad Request, no primary key"}
			data.Record = json.RawMessage("{}")
			if c.action == "UPDATE" {
				data.OldRecord = json.RawMessage("{}")
			}
		} else {
			privs, err := rel.privileges(ctx, st.s.pool, cl.role)
			if err != nil {
				st.s.log.Warn("realtime: column privileges", "role", cl.role, "err", err)
				continue
			}
			pkReadable := true
			for _, i := range rel.pk {
				pkReadable = pkReadable && privs[i]
			}
			if !pkReadable && c.action != "DELETE" {
				data.Errors = []string{"Error 401: Unauthorized"}
				data.Record = json.RawMessage("{}")
				if c.action == "UPDATE" {
					data.OldRecord = json.RawMessage("{}")
				}
			} else {
				if rel.rls && c.action != "DELETE" {
					ok, err := st.rowVisible(ctx, rel, newRow, cl)
					if err != nil {
						st.s.log.Warn("realtime: RLS check", "role", cl.role, "err", err)
						continue
					}
					if !ok {
						continue
					}
				}
				data.CommitTimestamp = &ts
				for i, col := range rel.columns {
					if privs[i] {
						ti, err := st.typeCache.get(ctx, col.typeOID)
						if err != nil {
							return err
						}
						data.Columns = append(data.Columns, columnInfo{Name: col.name, Type: ti.name})
					}
				}
				var recTooBig bool
				if c.action != "DELETE" {
					data.Record, recTooBig = object(rel, newRow, func(i int) bool { return privs[i] && newRow.present[i] })
				}
				if c.action != "INSERT" {
					isPK := make([]bool, len(rel.columns))
					for _, i := range rel.pk {
						isPK[i] = true
					}
					var big bool
					data.OldRecord, big = object(rel, oldSrc, func(i int) bool {
						return privs[i] && identity[i] && (c.action != "DELETE" || !rel.rls || isPK[i])
					})
					recTooBig = recTooBig || big
				}
				if recTooBig {
					data.Errors = []string{"Error 413: Payload Too Large"}
				}
			}
		}
		dataJSON := mustJSON(data)
		for _, cd := range group {
			ids := make([]int64, 0, len(cd.bindings))
			seen := map[int64]bool{}
			for _, b := range cd.bindings {
				if !seen[b.id] {
					seen[b.id] = true
					ids = append(ids, b.id)
				}
			}
			payload := mustJSON(struct {
				Data json.RawMessage `json:"data"`
				IDs  []int64         `json:"ids"`
			}{dataJSON, ids})
			cd.reg.ch.pushChange(payload, ids)
		}
	}
	return nil
}

// object renders the selected columns of r as a JSON object in column
// order. Past maxRecordBytes it keeps only values of at most maxFieldBytes,
// as the real server does, and reports that it did.
func object(rel *relation, r *row, keep func(int) bool) (json.RawMessage, bool) {
	build := func(limit int) []byte {
		var b bytes.Buffer
		b.WriteByte('{')
		first := true
		for i := range rel.columns {
			if !keep(i) || !r.present[i] {
				continue
			}
			if limit > 0 && len(r.json[i]) > limit {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.Write(mustJSON(rel.columns[i].name))
			b.WriteByte(':')
			b.Write(r.json[i])
		}
		b.WriteByte('}')
		return b.Bytes()
	}
	out := build(0)
	if len(out) > maxRecordBytes {
		return build(maxFieldBytes), true
	}
	return out, false
}

// applyFilters keeps, per candidate, the bindings whose filter the row
// passes, evaluating every filter of this change in one query with the
// column's own type, as the real server's check does. A filter on a column
// the row lacks (or holds NULL) does not pass.
func (st *stream) applyFilters(ctx context.Context, rel *relation, r *row, cands []candidate) ([]candidate, error) {
	type check struct {
		cand, bind int
	}
	var checks []check
	var sql strings.Builder
	var args []any
	pass := make([][]bool, len(cands))
	for ci, cd := range cands {
		pass[ci] = make([]bool, len(cd.bindings))
		for bi, b := range cd.bindings {
			if b.filter == nil {
				pass[ci][bi] = true
				continue
			}
			col := -1
			for i, c := range rel.columns {
				if c.name == b.filter.column {
					col = i
				}
			}
			if col < 0 || !r.present[col] || r.null[col] {
				continue
			}
			ti, err := st.typeCache.get(ctx, rel.columns[col].typeOID)
			if err != nil {
				return nil, err
			}
			rhs := ti.sql
			if b.filter.op == "in" {
				rhs += "[]"
			}
			if len(checks) > 0 {
				sql.WriteString(", ")
			}
			args = append(args, r.text[col], b.filter.value)
			op := filterOps[b.filter.op]
			if b.filter.op == "in" {
				fmt.Fprintf(&sql, "coalesce($%d::text::%s = any($%d::text::%s), false)", len(args)-1, ti.sql, len(args), rhs)
			} else {
				fmt.Fprintf(&sql, "coalesce($%d::text::%s %s $%d::text::%s, false)", len(args)-1, ti.sql, op, len(args), rhs)
			}
			checks = append(checks, check{ci, bi})
		}
	}
	if len(checks) > 0 {
		var res []bool
		err := st.s.pool.QueryRow(ctx, "select array["+sql.String()+"]", args...).Scan(&res)
		if err != nil {
			return nil, fmt.Errorf("evaluate filters: %w", err)
		}
		for k, ch := range checks {
			pass[ch.cand][ch.bind] = res[k]
		}
	}
	var out []candidate
	for ci, cd := range cands {
		var keep []*binding
		for bi, b := range cd.bindings {
			if pass[ci][bi] {
				keep = append(keep, b)
			}
		}
		if len(keep) > 0 {
			out = append(out, candidate{reg: cd.reg, bindings: keep})
		}
	}
	return out, nil
}

// rowVisible asks the database whether the subscriber, as its role and
// with its claims, can see the changed row now, by primary key, the way
// the real server's RLS check does.
func (st *stream) rowVisible(ctx context.Context, rel *relation, r *row, cl *claims) (bool, error) {
	var sql strings.Builder
	fmt.Fprintf(&sql, "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true);\n",
		quoteLiteral(cl.role), quoteLiteral(string(cl.raw)))
	fmt.Fprintf(&sql, "select exists(select 1 from %s where ", pgx.Identifier{rel.schema, rel.table}.Sanitize())
	for k, i := range rel.pk {
		if !r.present[i] || r.null[i] {
			return false, nil
		}
		ti, err := st.typeCache.get(ctx, rel.columns[i].typeOID)
		if err != nil {
			return false, err
		}
		if k > 0 {
			sql.WriteString(" and ")
		}
		fmt.Fprintf(&sql, "%s = %s::%s", pgx.Identifier{rel.columns[i].name}.Sanitize(), quoteLiteral(r.text[i]), ti.sql)
	}
	sql.WriteString(")")
	conn, err := st.s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	// Both statements in one simple-protocol message share an implicit
	// transaction, so the SET LOCAL-style settings end with it.
	results, err := conn.Conn().PgConn().Exec(ctx, sql.String()).ReadAll()
	if err != nil {
		return false, err
	}
	if len(results) != 2 || len(results[1].Rows) != 1 || len(results[1].Rows[0]) != 1 {
		return false, fmt.Errorf("unexpected RLS check result")
	}
	return string(results[1].Rows[0][0]) == "t", nil
}

// quoteLiteral quotes s as an SQL string literal; the session runs with
// standard_conforming_strings on, so only quotes need doubling. NUL cannot
// occur in PostgreSQL text and is removed rather than cut the statement.
func quoteLiteral(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
