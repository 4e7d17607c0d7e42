package postgrest

import (
	"strconv"
	"strings"
)

// SQL text is assembled here. Identifiers always go through ident, values
// are bound as text parameters (PostgreSQL infers their type from the
// column, as with PostgREST's unknown-typed literals), and the few literals
// in the text (JSON keys, default keys) go through literal.

func ident(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// literal renders an escape-string constant, correct whatever
// standard_conforming_strings says.
func literal(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "E'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func qualified(schema, name string) string { return ident(schema) + "." + ident(name) }

// pgArray renders a text array literal whose elements are all quoted.
func pgArray(items []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(it))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

type sqlArgs struct{ args []any }

func (a *sqlArgs) bind(v string) string {
	a.args = append(a.args, v)
	return "$" + strconv.Itoa(len(a.args))
}

func fieldSQL(alias string, f field) string {
	s := ident(alias) + "." + ident(f.name)
	for _, op := range f.path {
		arrow := "->"
		if op.text {
			arrow = "->>"
		}
		if op.isIdx {
			n, err := strconv.ParseInt(op.idx, 10, 32)
			if err != nil {
				n = 1<<31 - 1
			}
			s += arrow + "(" + strconv.FormatInt(n, 10) + ")"
		} else {
			s += arrow + literal(op.key)
		}
	}
	return s
}

// outputName is the JSON key of a selected field: the alias, else the last
// JSON key of the path, else the column name.
func outputName(it selectItem) string {
	if it.alias != "" {
		return it.alias
	}
	for i := len(it.fld.path) - 1; i >= 0; i-- {
		if !it.fld.path[i].isIdx {
			return it.fld.path[i].key
		}
	}
	return it.fld.name
}

func (a *sqlArgs) filterSQL(alias string, f filter) string {
	lhs := fieldSQL(alias, f.fld)
	var expr string
	switch f.op {
	case "is":
		switch f.val {
		case "null":
			expr = lhs + " IS NULL"
		case "not_null":
			expr = lhs + " IS NOT NULL"
		case "true":
			expr = lhs + " IS TRUE"
		case "false":
			expr = lhs + " IS FALSE"
		default:
			expr = lhs + " IS UNKNOWN"
		}
	case "in":
		expr = lhs + " = ANY (" + a.bind(pgArray(f.list)) + ")"
	case "fts", "plfts", "phfts", "wfts":
		fn := ftsOps[f.op]
		if f.lang != "" {
			expr = lhs + " @@ " + fn + "(" + a.bind(f.lang) + ", " + a.bind(f.val) + ")"
		} else {
			expr = lhs + " @@ " + fn + "(" + a.bind(f.val) + ")"
		}
	default:
		v := f.val
		if f.op == "like" || f.op == "ilike" {
			v = strings.ReplaceAll(v, "*", "%")
		}
		op := simpleOps[f.op]
		if f.quant != "" {
			expr = lhs + " " + op + " " + strings.ToUpper(f.quant) + " (" + a.bind(v) + ")"
		} else {
			expr = lhs + " " + op + " " + a.bind(v)
		}
	}
	if f.negate {
		return "NOT (" + expr + ")"
	}
	return expr
}

func (a *sqlArgs) logicSQL(alias string, t logicTree) string {
	if t.filt != nil {
		return a.filterSQL(alias, *t.filt)
	}
	parts := make([]string, len(t.children))
	for i, c := range t.children {
		parts[i] = a.logicSQL(alias, c)
	}
	sep := " AND "
	if t.or {
		sep = " OR "
	}
	s := "(" + strings.Join(parts, sep) + ")"
	if t.negate {
		return "NOT " + s
	}
	return s
}

func orderSuffix(t orderTerm) string {
	s := ""
	switch t.dir {
	case "asc":
		s += " ASC"
	case "desc":
		s += " DESC"
	}
	switch t.nulls {
	case "nullsfirst":
		s += " NULLS FIRST"
	case "nullslast":
		s += " NULLS LAST"
	}
	return s
}

// planner turns the select tree, filters, order and limits of one request
// into SQL over a root relation, resolving embeds through foreign keys.
type planner struct {
	*sqlArgs
	sc      *schemaCache
	schema  string
	qp      *queryParams
	maxRows int
	n       int
	used    map[int]bool // filters consumed, by index in qp.filters
	usedL   map[int]bool // logic trees consumed
	usedO   map[int]bool // order params consumed
}

func newPlanner(sc *schemaCache, schema string, qp *queryParams, maxRows int) *planner {
	return &planner{sqlArgs: &sqlArgs{}, sc: sc, schema: schema, qp: qp, maxRows: maxRows,
		used: map[int]bool{}, usedL: map[int]bool{}, usedO: map[int]bool{}}
}

func (p *planner) alias() string {
	p.n++
	return "pgrst_" + strconv.Itoa(p.n)
}

// level is one node of the embed tree while planning.
type level struct {
	names [][2]string // per depth: alias and name that a path element may use
}

func (l level) child(e *embedItem) level {
	names := append(append([][2]string{}, l.names...), [2]string{e.alias, e.name})
	return level{names: names}
}

func (l level) matches(path []string) bool {
	if len(path) != len(l.names) {
		return false
	}
	for i, p := range path {
		if p != l.names[i][0] && p != l.names[i][1] {
			return false
		}
	}
	return true
}

func (l level) key() string {
	parts := make([]string, len(l.names))
	for i, n := range l.names {
		parts[i] = n[1]
		if n[0] != "" {
			parts[i] = n[0]
		}
	}
	return strings.Join(parts, ".")
}

// relation is a resolved embed.
type relation struct {
	target *table
	toOne  bool
	join   func(parent, child string) []string
}

func (p *planner) resolve(parent *table, e *embedItem) (relation, *apiError) {
	if parent == nil {
		return relation{}, p.noRel("", e)
	}
	pk := qkey(parent.schema, parent.name)
	type cand struct {
		fk      *foreignKey
		forward bool // parent holds the FK columns: many-to-one
	}
	var cands []cand
	for _, fk := range p.sc.fks {
		if fk.from == pk {
			tgt := p.sc.tables[fk.to]
			if tgt != nil && tgt.schema == parent.schema &&
				(tgt.name == e.name || fk.name == e.name || (len(fk.fromCols) == 1 && fk.fromCols[0] == e.name)) {
				cands = append(cands, cand{fk, true})
			}
		}
		if fk.to == pk {
			src := p.sc.tables[fk.from]
			if src != nil && src.schema == parent.schema && (src.name == e.name || fk.name == e.name) {
				cands = append(cands, cand{fk, false})
			}
		}
	}
	if e.hint != "" {
		var kept []cand
		for _, c := range cands {
			cols := c.fk.fromCols
			if !c.forward {
				cols = c.fk.toCols
			}
			if c.fk.name == e.hint || (len(cols) == 1 && cols[0] == e.hint) ||
				(len(c.fk.fromCols) == 1 && c.fk.fromCols[0] == e.hint) {
				kept = append(kept, c)
			}
		}
		cands = kept
	}
	// A self-reference matches both ways; naming the FK column (as hint or
	// embed name) means the many-to-one direction.
	if len(cands) == 2 && cands[0].fk == cands[1].fk && (e.hint != "" || e.name != parent.name) {
		if cands[0].forward {
			cands = cands[:1]
		} else {
			cands = cands[1:]
		}
	}
	switch len(cands) {
	case 0:
		return relation{}, p.noRel(parent.name, e)
	case 1:
	default:
		return relation{}, p.ambiguous(parent, e, len(cands))
	}
	c := cands[0]
	if c.forward {
		tgt := p.sc.tables[c.fk.to]
		fk := c.fk
		return relation{target: tgt, toOne: true, join: func(pa, ca string) []string {
			out := make([]string, len(fk.fromCols))
			for i := range fk.fromCols {
				out[i] = ident(ca) + "." + ident(fk.toCols[i]) + " = " + ident(pa) + "." + ident(fk.fromCols[i])
			}
			return out
		}}, nil
	}
	src := p.sc.tables[c.fk.from]
	fk := c.fk
	toOne := len(src.pk) > 0 && sameSet(src.pk, fk.fromCols)
	return relation{target: src, toOne: toOne, join: func(pa, ca string) []string {
		out := make([]string, len(fk.fromCols))
		for i := range fk.fromCols {
			out[i] = ident(ca) + "." + ident(fk.fromCols[i]) + " = " + ident(pa) + "." + ident(fk.toCols[i])
		}
		return out
	}}, nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

func (p *planner) noRel(parent string, e *embedItem) *apiError {
	child := e.name
	d := "Searched for a foreign key relationship between '" + parent + "' and '" + child
	if e.hint != "" {
		d += "' using the hint '" + e.hint
	}
	d += "' in the schema '" + p.schema + "', but no matches were found."
	return &apiError{status: 400, code: "PGRST200",
		message: "Could not find a relationship between '" + parent + "' and '" + child + "' in the schema cache",
		details: d}
}

func (p *planner) ambiguous(parent *table, e *embedItem, n int) *apiError {
	var details []map[string]string
	var hints []string
	pk := qkey(parent.schema, parent.name)
	for _, fk := range p.sc.fks {
		if fk.from == pk || fk.to == pk {
			other := p.sc.tables[fk.to]
			card := "many-to-one"
			if fk.to == pk {
				other, card = p.sc.tables[fk.from], "one-to-many"
			}
			if other == nil || other.name != e.name {
				continue
			}
			from, to := p.sc.tables[fk.from], p.sc.tables[fk.to]
			details = append(details, map[string]string{
				"cardinality":  card,
				"embedding":    parent.name + " with " + other.name,
				"relationship": fk.name + " using " + from.name + "(" + strings.Join(fk.fromCols, ", ") + ") and " + to.name + "(" + strings.Join(fk.toCols, ", ") + ")",
			})
			hints = append(hints, "'"+other.name+"!"+fk.name+"'")
		}
	}
	return &apiError{status: 300, code: "PGRST201",
		message: "Could not embed because more than one relationship was found for '" + parent.name + "' and '" + e.name + "'",
		details: details,
		hint:    "Try changing '" + e.name + "' to one of the following: " + strings.Join(hints, ", ") + ". Find the desired relationship in the 'details' key."}
}

// embedInfo is what a parent level needs of one of its embeds.
type embedInfo struct {
	item   *embedItem
	rel    relation
	exists string // EXISTS (...) of the embed's rows for this parent row
}

// selectList renders the select items of one level over alias, returning
// the expressions, the EXISTS conditions of !inner embeds, and the embeds
// by output name (for is.null filters and related order).
func (p *planner) selectList(t *table, alias string, items []selectItem, lv level, depth int) ([]string, []string, map[string]embedInfo, *apiError) {
	var exprs, inner []string
	embeds := map[string]embedInfo{}
	for _, it := range items {
		switch {
		case it.star:
			exprs = append(exprs, ident(alias)+".*")
		case it.embed == nil:
			e := fieldSQL(alias, it.fld)
			if it.cast != "" {
				e = "(" + e + ")::" + canonicalCast(it.cast)
			}
			exprs = append(exprs, e+" AS "+ident(outputName(it)))
		default:
			e := it.embed
			rel, err := p.resolve(t, e)
			if err != nil {
				return nil, nil, nil, err
			}
			clv := lv.child(e)
			ca := p.alias()
			cexprs, cinner, cembeds, err := p.selectList(rel.target, ca, e.items, clv, depth+1)
			if err != nil {
				return nil, nil, nil, err
			}
			where := append(rel.join(alias, ca), p.whereAt(ca, clv, cembeds)...)
			where = append(where, cinner...)
			from := " FROM " + qualified(rel.target.schema, rel.target.name) + " AS " + ident(ca) + " WHERE " + strings.Join(where, " AND ")
			exists := "EXISTS (SELECT 1" + from + ")"
			name := e.name
			if e.alias != "" {
				name = e.alias
			}
			embeds[name] = embedInfo{item: e, rel: rel, exists: exists}
			if e.alias != "" {
				embeds[e.name] = embeds[name]
			}
			if e.inner {
				inner = append(inner, exists)
			}
			if len(e.items) == 0 {
				continue
			}
			order, err := p.orderAt(ca, clv, rel.target, cembeds)
			if err != nil {
				return nil, nil, nil, err
			}
			tail := order + p.limitAt(clv.key(), !rel.toOne)
			if e.spread {
				exprs = append(exprs, p.spread(rel, e, ca, cexprs, from, tail)...)
				continue
			}
			sub := "SELECT " + strings.Join(cexprs, ", ") + from + tail
			if rel.toOne {
				exprs = append(exprs, "(SELECT to_json(pgrst_e) FROM ("+sub+") pgrst_e) AS "+ident(name))
			} else {
				exprs = append(exprs, "(SELECT coalesce(json_agg(pgrst_e), '[]') FROM ("+sub+") pgrst_e) AS "+ident(name))
			}
		}
	}
	return exprs, inner, embeds, nil
}

// spread flattens an embed's columns into the parent: one value each for a
// to-one embed, one array each for a to-many one.
func (p *planner) spread(rel relation, e *embedItem, ca string, cexprs []string, from, tail string) []string {
	var names []string
	for _, it := range e.items {
		switch {
		case it.star:
			for _, c := range rel.target.cols {
				names = append(names, c.name)
			}
		case it.embed != nil:
			n := it.embed.name
			if it.embed.alias != "" {
				n = it.embed.alias
			}
			if len(it.embed.items) > 0 && !it.embed.spread {
				names = append(names, n)
			}
		default:
			names = append(names, outputName(it))
		}
	}
	sub := "SELECT " + strings.Join(cexprs, ", ") + from + tail
	out := make([]string, len(names))
	for i, n := range names {
		if rel.toOne {
			out[i] = "(SELECT pgrst_e." + ident(n) + " FROM (" + sub + ") pgrst_e) AS " + ident(n)
		} else {
			out[i] = "(SELECT coalesce(json_agg(pgrst_e." + ident(n) + "), '[]') FROM (" + sub + ") pgrst_e) AS " + ident(n)
		}
	}
	return out
}

// whereAt renders the filters and logic trees addressed to one level.
func (p *planner) whereAt(alias string, lv level, embeds map[string]embedInfo) []string {
	var out []string
	for i, pf := range p.qp.filters {
		if p.used[i] || !lv.matches(pf.path) {
			continue
		}
		p.used[i] = true
		if ei, ok := embeds[pf.f.fld.name]; ok && len(pf.f.fld.path) == 0 {
			out = append(out, embedNullCond(ei, pf.f))
			continue
		}
		out = append(out, p.filterSQL(alias, pf.f))
	}
	for i, pl := range p.qp.logic {
		if p.usedL[i] || !lv.matches(pl.path) {
			continue
		}
		p.usedL[i] = true
		out = append(out, p.logicSQL(alias, pl.tree))
	}
	return out
}

// embedNullCond implements "embed=is.null" / "embed=not.is.null". Other
// operators were rejected by checkEmbedFilters.
func embedNullCond(ei embedInfo, f filter) string {
	isNull := f.val == "null"
	if f.val == "not_null" {
		isNull = false
	}
	if f.negate {
		isNull = !isNull
	}
	if isNull {
		return "NOT " + ei.exists
	}
	return ei.exists
}

// checkEmbedFilters rejects filters on an embed other than is.null.
func checkEmbedFilters(qp *queryParams, items []selectItem) *apiError {
	names := map[string]bool{}
	for _, it := range items {
		if it.embed != nil {
			names[it.embed.name] = true
			if it.embed.alias != "" {
				names[it.embed.alias] = true
			}
		}
	}
	for _, pf := range qp.filters {
		if len(pf.path) == 0 && names[pf.f.fld.name] && len(pf.f.fld.path) == 0 &&
			!(pf.f.op == "is" && (pf.f.val == "null" || pf.f.val == "not_null")) {
			return &apiError{status: 400, code: "PGRST120",
				message: "Bad operator on the '" + pf.f.fld.name + "' embedded resource",
				details: "Only is null or not is null filters are allowed on embedded resources"}
		}
	}
	return nil
}

func (p *planner) orderAt(alias string, lv level, t *table, embeds map[string]embedInfo) (string, *apiError) {
	var terms []string
	for i, po := range p.qp.order {
		if p.usedO[i] || !lv.matches(po.path) {
			continue
		}
		p.usedO[i] = true
		for _, ot := range po.terms {
			if ot.rel == "" {
				terms = append(terms, fieldSQL(alias, ot.fld)+orderSuffix(ot))
				continue
			}
			ei, ok := embeds[ot.rel]
			if !ok {
				return "", notEmbedded(ot.rel)
			}
			if !ei.rel.toOne {
				return "", &apiError{status: 400, code: "PGRST118",
					message: "A related order on '" + ot.rel + "' is not possible",
					details: "'" + t.name + "' and '" + ot.rel + "' do not form a many-to-one or one-to-one relationship"}
			}
			ca := p.alias()
			cond := ei.rel.join(alias, ca)
			terms = append(terms, "(SELECT "+fieldSQL(ca, ot.fld)+" FROM "+qualified(ei.rel.target.schema, ei.rel.target.name)+
				" AS "+ident(ca)+" WHERE "+strings.Join(cond, " AND ")+")"+orderSuffix(ot))
		}
	}
	if len(terms) == 0 {
		return "", nil
	}
	return " ORDER BY " + strings.Join(terms, ", "), nil
}

// limitAt renders LIMIT/OFFSET for an embed level; to-many embeds are
// capped by max rows like the root.
func (p *planner) limitAt(key string, capped bool) string {
	s := ""
	lim, hasLim := p.qp.limits[key]
	if capped && (!hasLim || lim > int64(p.maxRows) || lim < 0) {
		lim, hasLim = int64(p.maxRows), true
	}
	if hasLim && lim >= 0 {
		s += " LIMIT " + strconv.FormatInt(lim, 10)
	}
	if off := p.qp.offsets[key]; off > 0 {
		s += " OFFSET " + strconv.FormatInt(off, 10)
	}
	return s
}

func notEmbedded(name string) *apiError {
	return &apiError{status: 400, code: "PGRST108",
		message: "'" + name + "' is not an embedded resource in this request",
		hint:    "Verify that '" + name + "' is included in the 'select' query parameter."}
}

// unconsumed reports a filter, logic tree or order addressed to an embed
// that is not in the select.
func (p *planner) unconsumed() *apiError {
	for i, pf := range p.qp.filters {
		if !p.used[i] && len(pf.path) > 0 {
			return notEmbedded(pf.path[len(pf.path)-1])
		}
	}
	for i, pl := range p.qp.logic {
		if !p.usedL[i] && len(pl.path) > 0 {
			return notEmbedded(pl.path[len(pl.path)-1])
		}
	}
	for i, po := range p.qp.order {
		if !p.usedO[i] && len(po.path) > 0 {
			return notEmbedded(po.path[len(po.path)-1])
		}
	}
	for k := range p.qp.limits {
		if k != "" && !p.levelExists(k) {
			return notEmbedded(k[strings.LastIndexByte(k, '.')+1:])
		}
	}
	return nil
}

func (p *planner) levelExists(key string) bool {
	var walk func(items []selectItem, prefix string) bool
	walk = func(items []selectItem, prefix string) bool {
		for _, it := range items {
			if it.embed == nil {
				continue
			}
			for _, n := range []string{it.embed.name, it.embed.alias} {
				if n == "" {
					continue
				}
				k := n
				if prefix != "" {
					k = prefix + "." + n
				}
				if k == key || walk(it.embed.items, k) {
					return true
				}
			}
		}
		return false
	}
	return walk(p.qp.sel, "")
}
