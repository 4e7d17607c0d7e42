package postgrest

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The query-string grammar of PostgREST (select, filters, logic trees, order,
// columns, on_conflict), parsed into the values below. Nothing here touches
// SQL: names stay names and values stay strings until the builder quotes or
// binds them.

type jsonOp struct {
	text  bool   // ->> rather than ->
	key   string // object key, when idx is empty
	idx   string // array index with sign, e.g. "+1", "-2"
	isIdx bool
}

type field struct {
	name string
	path []jsonOp
}

type selectItem struct {
	star  bool
	fld   field
	cast  string
	alias string
	embed *embedItem
}

type embedItem struct {
	name   string
	alias  string
	hint   string
	inner  bool
	spread bool
	items  []selectItem
}

type filter struct {
	fld    field
	negate bool
	op     string // eq, neq, ..., in, is, fts, plfts, phfts, wfts
	quant  string // "any" or "all" for like(any) etc.
	lang   string // fts configuration
	val    string
	list   []string
}

type logicTree struct {
	negate   bool
	or       bool
	children []logicTree
	filt     *filter
}

type orderTerm struct {
	rel   string // order on a to-one embed: rel(field)
	fld   field
	dir   string // "", "asc", "desc"
	nulls string // "", "nullsfirst", "nullslast"
}

type pathFilter struct {
	path []string
	f    filter
}

type pathLogic struct {
	path []string
	tree logicTree
}

type pathOrder struct {
	path  []string
	terms []orderTerm
}

// queryParams is a parsed query string.
type queryParams struct {
	sel        []selectItem
	filters    []pathFilter
	logic      []pathLogic
	order      []pathOrder
	limits     map[string]int64 // by embed path ("" for the root)
	offsets    map[string]int64
	columns    []string // nil when absent
	onConflict []string
	params     [][2]string // neither filters nor reserved: RPC arguments
}

var simpleOps = map[string]string{
	"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=",
	"like": "LIKE", "ilike": "ILIKE", "match": "~", "imatch": "~*",
	"cs": "@>", "cd": "<@", "ov": "&&", "sl": "<<", "sr": ">>", "nxr": "&<", "nxl": "&>", "adj": "-|-",
	"isdistinct": "IS DISTINCT FROM",
}

var ftsOps = map[string]string{
	"fts": "to_tsquery", "plfts": "plainto_tsquery", "phfts": "phraseto_tsquery", "wfts": "websearch_to_tsquery",
}

// Operators that accept the (any)/(all) quantifier.
var quantOps = map[string]bool{
	"eq": true, "gt": true, "gte": true, "lt": true, "lte": true,
	"like": true, "ilike": true, "match": true, "imatch": true,
}

// parseQuery parses a raw query string the way PostgREST splits it: reserved
// keys, keys ending in .order/.limit/.offset/.and/.or, filters (a dotted key or
// a value starting with an operator), and the rest (RPC arguments).
func parseQuery(raw string) (*queryParams, *apiError) {
	qp := &queryParams{limits: map[string]int64{}, offsets: map[string]int64{}}
	pairs, err := splitQuery(raw)
	if err != nil {
		return nil, err
	}
	sel := "*"
	for _, kv := range pairs {
		k, v := kv[0], kv[1]
		switch k {
		case "select":
			sel = v
			continue
		case "columns":
			cols, e := parseColumnList(v, "columns parameter")
			if e != nil {
				return nil, e
			}
			qp.columns = cols
			continue
		case "on_conflict":
			cols, e := parseColumnList(v, "on_conflict parameter")
			if e != nil {
				return nil, e
			}
			qp.onConflict = cols
			continue
		}
		if v == "" {
			// PostgREST drops valueless parameters before classifying.
			continue
		}
		last := k
		if i := strings.LastIndexByte(k, '.'); i >= 0 {
			last = k[i+1:]
		}
		switch last {
		case "order":
			path, e := parseEmbedPath(k)
			if e != nil {
				return nil, e
			}
			terms, e := parseOrder(v)
			if e != nil {
				return nil, e
			}
			qp.order = append(qp.order, pathOrder{path, terms})
			continue
		case "limit", "offset":
			path, e := parseEmbedPath(k)
			if e != nil {
				return nil, e
			}
			n, convErr := strconv.ParseInt(v, 10, 64)
			if convErr != nil {
				continue // the server ignores unreadable numbers
			}
			key := strings.Join(path, ".")
			if last == "limit" {
				qp.limits[key] = n
			} else {
				qp.offsets[key] = n
			}
			continue
		case "and", "or":
			path, op, e := parseLogicPath(k)
			if e != nil {
				return nil, e
			}
			tree, e := parseLogicTree(op+v, v)
			if e != nil {
				return nil, e
			}
			qp.logic = append(qp.logic, pathLogic{path, tree})
			continue
		}
		if strings.Contains(k, ".") || hasOperator(v) {
			path, fld, e := parseTreePath(k)
			if e != nil {
				return nil, e
			}
			f, e := parseFilterValue(v)
			if e != nil {
				return nil, e
			}
			f.fld = fld
			qp.filters = append(qp.filters, pathFilter{path, f})
			continue
		}
		qp.params = append(qp.params, [2]string{k, v})
	}
	items, e := parseSelect(sel)
	if e != nil {
		return nil, e
	}
	qp.sel = items
	return qp, nil
}

// splitQuery decodes a query string keeping order and duplicates; '+' is a
// space, as in forms.
func splitQuery(raw string) ([][2]string, *apiError) {
	var out [][2]string
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, errParse("\"failed to parse query string\" (line 1, column 1)", "invalid percent-encoding")
		}
		out = append(out, [2]string{dk, dv})
	}
	return out, nil
}

func hasOperator(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) >= 2 && parts[0] == "not" {
		return true
	}
	first := parts[0]
	if first == "is" || first == "in" {
		return true
	}
	if _, ok := simpleOps[first]; ok {
		return true
	}
	if _, ok := ftsOps[first]; ok {
		return true
	}
	if i := strings.IndexByte(first, '('); i >= 0 {
		op := first[:i]
		if _, ok := ftsOps[op]; ok {
			return true
		}
		if quantOps[op] {
			return true
		}
	}
	if i := strings.IndexByte(v, '('); i >= 0 {
		if _, ok := ftsOps[v[:i]]; ok {
			return true
		}
	}
	return false
}

// scanner is a cursor over one parameter with the context needed to report
// errors as the server does: "failed to parse <what> (<input>)" (line 1, column N).
type scanner struct {
	s     string
	pos   int
	what  string
	shown string // the input as the message quotes it, when not s
}

func (sc *scanner) eof() bool { return sc.pos >= len(sc.s) }

func (sc *scanner) peek() rune {
	if sc.eof() {
		return 0
	}
	r, _ := utf8.DecodeRuneInString(sc.s[sc.pos:])
	return r
}

func (sc *scanner) has(p string) bool { return strings.HasPrefix(sc.s[sc.pos:], p) }

func (sc *scanner) accept(p string) bool {
	if sc.has(p) {
		sc.pos += len(p)
		return true
	}
	return false
}

func (sc *scanner) fail(expecting string) *apiError {
	return sc.failMsg(expecting, "")
}

func (sc *scanner) failMsg(expecting, msg string) *apiError {
	col := utf8.RuneCountInString(sc.s[:min(sc.pos, len(sc.s))]) + 1
	shown := sc.s
	if sc.shown != "" {
		shown = sc.shown
	}
	message := fmt.Sprintf("\"failed to parse %s (%s)\" (line 1, column %d)", sc.what, shown, col)
	details := msg
	if details == "" {
		unexpected := "end of input"
		if !sc.eof() {
			unexpected = strconv.Quote(string(sc.peek()))
		}
		details = "unexpected " + unexpected
		if expecting != "" {
			details += " expecting " + expecting
		}
	}
	return errParse(message, details)
}

func (sc *scanner) ws() {
	for sc.has(" ") || sc.has("\t") {
		sc.pos++
	}
}

func isIdentRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == ' ' || r == '$'
}

// identifier: letters, digits, '_', ' ', '$'; surrounding spaces trimmed.
func (sc *scanner) identifier() (string, bool) {
	start := sc.pos
	for !sc.eof() {
		r, n := utf8.DecodeRuneInString(sc.s[sc.pos:])
		if !isIdentRune(r) {
			break
		}
		sc.pos += n
	}
	if sc.pos == start {
		return "", false
	}
	return strings.TrimSpace(sc.s[start:sc.pos]), true
}

func (sc *scanner) quoted() (string, bool, *apiError) {
	if !sc.has(`"`) {
		return "", false, nil
	}
	start := sc.pos
	sc.pos++
	var b strings.Builder
	for !sc.eof() {
		c := sc.s[sc.pos]
		switch c {
		case '\\':
			sc.pos++
			if sc.eof() {
				return "", false, sc.fail("")
			}
			r, n := utf8.DecodeRuneInString(sc.s[sc.pos:])
			b.WriteRune(r)
			sc.pos += n
		case '"':
			sc.pos++
			return b.String(), true, nil
		default:
			b.WriteByte(c)
			sc.pos++
		}
	}
	sc.pos = start
	return "", false, nil
}

// fieldName: a quoted name, or identifiers joined by '-' (not '->').
func (sc *scanner) fieldName() (string, *apiError) {
	if q, ok, err := sc.quoted(); err != nil {
		return "", err
	} else if ok {
		return q, nil
	}
	var parts []string
	for {
		id, ok := sc.identifier()
		if !ok {
			if len(parts) == 0 {
				return "", sc.fail("field name (* or [a..z0..9_$])")
			}
			return "", sc.fail("letter or digit")
		}
		parts = append(parts, id)
		if sc.has("-") && !sc.has("->") {
			sc.pos++
			continue
		}
		return strings.Join(parts, "-"), nil
	}
}

func (sc *scanner) jsonPath() ([]jsonOp, *apiError) {
	var path []jsonOp
	for {
		var op jsonOp
		switch {
		case sc.accept("->>"):
			op.text = true
		case sc.accept("->"):
		default:
			return path, nil
		}
		// An index is an optionally negative integer followed by the end of
		// the operand; anything else is a key.
		save := sc.pos
		sign := "+"
		if sc.accept("-") {
			sign = "-"
		}
		digits := sc.pos
		for !sc.eof() && sc.s[sc.pos] >= '0' && sc.s[sc.pos] <= '9' {
			sc.pos++
		}
		if sc.pos > digits && (sc.eof() || sc.has("->") || sc.has("::") || sc.has(".") || sc.has(",") || sc.has(")")) {
			op.isIdx = true
			op.idx = sign + sc.s[digits:sc.pos]
			path = append(path, op)
			continue
		}
		sc.pos = save
		if sc.has("-") {
			sc.pos++
			return nil, sc.fail("digit")
		}
		k, err := sc.fieldName()
		if err != nil {
			return nil, err
		}
		op.key = k
		path = append(path, op)
	}
}

func (sc *scanner) field() (field, *apiError) {
	sc.ws()
	name, err := sc.fieldName()
	if err != nil {
		return field{}, err
	}
	path, err := sc.jsonPath()
	if err != nil {
		return field{}, err
	}
	sc.ws()
	return field{name: name, path: path}, nil
}

func parseColumnList(v, what string) ([]string, *apiError) {
	sc := &scanner{s: v, what: what}
	var cols []string
	for {
		sc.ws()
		n, err := sc.fieldName()
		if err != nil {
			return nil, err
		}
		cols = append(cols, n)
		sc.ws()
		if sc.eof() {
			return cols, nil
		}
		if !sc.accept(",") {
			return nil, sc.fail(`"," or end of input`)
		}
	}
}

// parseEmbedPath parses "a.b.order" into ["a","b"].
func parseEmbedPath(k string) ([]string, *apiError) {
	path, _, err := parseTreePath(k)
	if err != nil {
		return nil, err
	}
	return path, nil
}

// parseTreePath parses "embed.embed.field->json" into the embed path and the field.
func parseTreePath(k string) ([]string, field, *apiError) {
	sc := &scanner{s: k, what: "tree path"}
	var names []string
	for {
		n, err := sc.fieldName()
		if err != nil {
			return nil, field{}, err
		}
		names = append(names, n)
		if !sc.accept(".") {
			break
		}
	}
	jp, err := sc.jsonPath()
	if err != nil {
		return nil, field{}, err
	}
	if !sc.eof() {
		return nil, field{}, sc.fail(`delimiter (.), "->" or end of input`)
	}
	return names[:len(names)-1], field{name: names[len(names)-1], path: jp}, nil
}

func parseLogicPath(k string) ([]string, string, *apiError) {
	sc := &scanner{s: k, what: "logic path"}
	var names []string
	for {
		n, err := sc.fieldName()
		if err != nil {
			return nil, "", err
		}
		names = append(names, n)
		if !sc.accept(".") {
			break
		}
	}
	if !sc.eof() {
		return nil, "", sc.fail(`delimiter (.) or end of input`)
	}
	op := names[len(names)-1]
	var path []string
	negate := false
	for _, n := range names[:len(names)-1] {
		if n == "not" {
			negate = true
			continue
		}
		path = append(path, n)
	}
	if negate {
		op = "not." + op
	}
	return path, op, nil
}

// parseFilterValue parses "[not.]op[(mod)].value" of a top-level filter, whose
// value runs to the end of the parameter.
func parseFilterValue(v string) (filter, *apiError) {
	sc := &scanner{s: v, what: "filter"}
	f, err := sc.opExpr(false)
	if err != nil {
		return filter{}, err
	}
	return f, nil
}

func (sc *scanner) opExpr(inLogic bool) (filter, *apiError) {
	var f filter
	if sc.has("not.") {
		sc.pos += 4
		f.negate = true
	}
	start := sc.pos
	dot := strings.IndexByte(sc.s[sc.pos:], '.')
	if dot < 0 {
		return f, sc.fail(`delimiter (.)`)
	}
	opStr := sc.s[start : start+dot]
	switch {
	case opStr == "in":
		sc.pos += dot + 1
		list, err := sc.listVal()
		if err != nil {
			return f, err
		}
		f.op, f.list = "in", list
		return f, sc.endOfValue(inLogic)
	case opStr == "is":
		sc.pos += dot + 1
		end := len(sc.s)
		if inLogic {
			if i := strings.IndexAny(sc.s[sc.pos:], ",)"); i >= 0 {
				end = sc.pos + i
			}
		}
		val := strings.ToLower(sc.s[sc.pos:end])
		switch val {
		case "null", "not_null", "true", "false", "unknown":
		default:
			return f, sc.fail("null or trilean value (unknown, true, false)")
		}
		sc.pos = end
		f.op, f.val = "is", val
		return f, nil
	}
	name, mod, hasMod := opStr, "", false
	if i := strings.IndexByte(opStr, '('); i >= 0 && strings.HasSuffix(opStr, ")") {
		name, mod, hasMod = opStr[:i], opStr[i+1:len(opStr)-1], true
	}
	if fn, ok := ftsOps[name]; ok && fn != "" {
		if hasMod {
			sub := &scanner{s: mod}
			id, ok := sub.identifier()
			if !ok || !sub.eof() {
				return f, sc.failMsg("", "unknown fts operator "+opStr)
			}
			f.lang = id
		}
		f.op = name
	} else if _, ok := simpleOps[name]; ok {
		if hasMod {
			if !quantOps[name] || (mod != "any" && mod != "all") {
				sc.pos += dot + 1
				return f, sc.failMsg("", "unknown single value operator "+opStr)
			}
			f.quant = mod
		}
		f.op = name
	} else {
		sc.pos += dot + 1
		return f, sc.failMsg("", "unknown single value operator "+opStr)
	}
	sc.pos += dot + 1
	if !inLogic {
		f.val = sc.s[sc.pos:]
		sc.pos = len(sc.s)
		return f, nil
	}
	val, err := sc.logicSingleVal()
	if err != nil {
		return f, err
	}
	f.val = val
	return f, nil
}

func (sc *scanner) endOfValue(inLogic bool) *apiError {
	if inLogic || sc.eof() {
		return nil
	}
	return sc.fail("end of input")
}

func (sc *scanner) listVal() ([]string, *apiError) {
	sc.ws()
	if !sc.accept("(") {
		return nil, sc.fail(`"("`)
	}
	sc.ws()
	var out []string
	for {
		save := sc.pos
		q, ok, err := sc.quoted()
		if err != nil {
			return nil, err
		}
		if ok && (sc.has(",") || sc.has(")")) {
			out = append(out, q)
		} else {
			sc.pos = save
			start := sc.pos
			for !sc.eof() && sc.s[sc.pos] != ',' && sc.s[sc.pos] != ')' {
				sc.pos++
			}
			out = append(out, sc.s[start:sc.pos])
		}
		if sc.accept(",") {
			continue
		}
		if sc.accept(")") {
			sc.ws()
			if len(out) == 1 && out[0] == "" {
				out = nil
			}
			return out, nil
		}
		return nil, sc.fail(`"," or ")"`)
	}
}

func (sc *scanner) logicSingleVal() (string, *apiError) {
	save := sc.pos
	if q, ok, err := sc.quoted(); err != nil {
		return "", err
	} else if ok && (sc.eof() || sc.has(",") || sc.has(")")) {
		return q, nil
	}
	sc.pos = save
	if sc.has("{") {
		end := strings.IndexAny(sc.s[sc.pos+1:], "{}")
		if end >= 0 && sc.s[sc.pos+1+end] == '}' {
			v := sc.s[sc.pos : sc.pos+end+2]
			sc.pos += end + 2
			return v, nil
		}
	}
	start := sc.pos
	for !sc.eof() && sc.s[sc.pos] != ',' && sc.s[sc.pos] != ')' {
		sc.pos++
	}
	return sc.s[start:sc.pos], nil
}

// parseLogicTree parses "or(a.eq.1,and(b.gt.2,c.lt.3))" (the key's operator
// prefixed to the value, as the server does).
func parseLogicTree(s string, shown string) (logicTree, *apiError) {
	sc := &scanner{s: s, what: "logic tree", shown: shown}
	t, err := sc.logicExpr(0)
	if err != nil {
		return t, err
	}
	if !sc.eof() {
		return t, sc.fail("end of input")
	}
	return t, nil
}

const maxLogicDepth = 64

func (sc *scanner) logicExpr(depth int) (logicTree, *apiError) {
	if depth > maxLogicDepth {
		return logicTree{}, sc.failMsg("", "logic tree nested too deeply")
	}
	var t logicTree
	if sc.accept("not.") {
		t.negate = true
	}
	switch {
	case sc.accept("and"):
	case sc.accept("or"):
		t.or = true
	default:
		return t, sc.fail("logic operator (and, or)")
	}
	sc.ws()
	if !sc.accept("(") {
		return t, sc.fail(`"("`)
	}
	for {
		sc.ws()
		child, err := sc.logicChild(depth)
		if err != nil {
			return t, err
		}
		t.children = append(t.children, child)
		sc.ws()
		if sc.accept(",") {
			continue
		}
		if sc.accept(")") {
			sc.ws()
			return t, nil
		}
		return t, sc.fail(`"," or ")"`)
	}
}

func (sc *scanner) logicChild(depth int) (logicTree, *apiError) {
	// A filter is tried first, as the server does; "and(" / "or(" and their
	// negations start a nested tree.
	rest := sc.s[sc.pos:]
	if strings.HasPrefix(rest, "and(") || strings.HasPrefix(rest, "or(") ||
		strings.HasPrefix(rest, "not.and(") || strings.HasPrefix(rest, "not.or(") {
		return sc.logicExpr(depth + 1)
	}
	fld, err := sc.field()
	if err != nil {
		return logicTree{}, err
	}
	if !sc.accept(".") {
		return logicTree{}, sc.fail(`delimiter (.)`)
	}
	f, err := sc.opExpr(true)
	if err != nil {
		return logicTree{}, err
	}
	f.fld = fld
	return logicTree{filt: &f}, nil
}

func parseOrder(v string) ([]orderTerm, *apiError) {
	sc := &scanner{s: v, what: "order"}
	var terms []orderTerm
	for {
		sc.ws()
		var t orderTerm
		save := sc.pos
		name, err := sc.fieldName()
		if err == nil && sc.accept("(") {
			fld, err := sc.field()
			if err != nil {
				return nil, err
			}
			if !sc.accept(")") {
				return nil, sc.fail(`")"`)
			}
			t.rel, t.fld = name, fld
		} else {
			sc.pos = save
			fld, err := sc.field()
			if err != nil {
				return nil, err
			}
			t.fld = fld
		}
		for _, d := range []string{".asc", ".desc"} {
			if sc.has(d) && (len(sc.s) == sc.pos+len(d) || sc.s[sc.pos+len(d)] == '.' || sc.s[sc.pos+len(d)] == ',') {
				t.dir = d[1:]
				sc.pos += len(d)
				break
			}
		}
		for _, n := range []string{".nullsfirst", ".nullslast"} {
			if sc.has(n) {
				t.nulls = n[1:]
				sc.pos += len(n)
				break
			}
		}
		sc.ws()
		terms = append(terms, t)
		if sc.eof() {
			return terms, nil
		}
		if sc.accept(",") {
			continue
		}
		if sc.has(".") {
			sc.pos++
			if t.dir == "" && t.nulls == "" {
				return nil, sc.fail(`"asc", "desc", "nullsfirst" or "nullslast"`)
			}
			return nil, sc.fail(`"nullsfirst" or "nullslast"`)
		}
		return nil, sc.fail(`"," or end of input`)
	}
}

var aggregateNames = map[string]bool{"count": true, "sum": true, "avg": true, "max": true, "min": true}

const maxSelectDepth = 32

func parseSelect(v string) ([]selectItem, *apiError) {
	sc := &scanner{s: v, what: "select parameter"}
	items, err := sc.selectForest(0)
	if err != nil {
		return nil, err
	}
	if !sc.eof() {
		return nil, sc.fail(`"," or end of input`)
	}
	return items, nil
}

func (sc *scanner) selectForest(depth int) ([]selectItem, *apiError) {
	if depth > maxSelectDepth {
		return nil, sc.failMsg("", "select nested too deeply")
	}
	var items []selectItem
	for {
		sc.ws()
		it, err := sc.selectItem(depth)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
		sc.ws()
		if !sc.accept(",") {
			return items, nil
		}
	}
}

func (sc *scanner) selectItem(depth int) (selectItem, *apiError) {
	if sc.accept("*") {
		sc.ws()
		if !(sc.eof() || sc.has(",") || sc.has(")")) {
			return selectItem{}, sc.fail(`")", "," or end of input`)
		}
		return selectItem{star: true}, nil
	}
	if sc.accept("...") || sc.accept("..") {
		e := &embedItem{spread: true}
		name, err := sc.fieldName()
		if err != nil {
			return selectItem{}, err
		}
		e.name = name
		if err := sc.embedParams(e); err != nil {
			return selectItem{}, err
		}
		if err := sc.embedBody(e, depth); err != nil {
			return selectItem{}, err
		}
		return selectItem{embed: e}, nil
	}
	var alias string
	save := sc.pos
	if n, err := sc.fieldName(); err == nil && sc.has(":") && !sc.has("::") {
		sc.pos++
		alias = n
		sc.ws()
	} else {
		sc.pos = save
	}
	name, err := sc.fieldName()
	if err != nil {
		return selectItem{}, err
	}
	// An embed: name, optional !hint/!inner/!left, then "(".
	if sc.has("!") || sc.has("(") {
		e := &embedItem{name: name, alias: alias}
		if err := sc.embedParams(e); err != nil {
			return selectItem{}, err
		}
		if sc.has("()") && aggregateNames[name] {
			return selectItem{}, errAggregates()
		}
		if err := sc.embedBody(e, depth); err != nil {
			return selectItem{}, err
		}
		return selectItem{embed: e}, nil
	}
	path, err := sc.jsonPath()
	if err != nil {
		return selectItem{}, err
	}
	it := selectItem{fld: field{name: name, path: path}, alias: alias}
	if sc.has(".") {
		rest := sc.s[sc.pos+1:]
		for a := range aggregateNames {
			if strings.HasPrefix(rest, a+"()") {
				return selectItem{}, errAggregates()
			}
		}
	}
	if sc.accept("::") {
		cast, ok := sc.identifier()
		if !ok {
			return selectItem{}, sc.fail("letter or digit")
		}
		if !validCast(cast) {
			return selectItem{}, sc.failMsg("", "invalid cast type "+strconv.Quote(cast))
		}
		it.cast = cast
	}
	sc.ws()
	if !(sc.eof() || sc.has(",") || sc.has(")")) {
		return selectItem{}, sc.fail(`letter, digit, "-", "->>", "->", "::", ")", "," or end of input`)
	}
	return it, nil
}

func (sc *scanner) embedParams(e *embedItem) *apiError {
	for i := 0; i < 2 && sc.accept("!"); i++ {
		switch {
		case sc.has("inner") && !isIdentContinue(sc.s, sc.pos+5):
			sc.pos += 5
			e.inner = true
		case sc.has("left") && !isIdentContinue(sc.s, sc.pos+4):
			sc.pos += 4
		default:
			h, err := sc.fieldName()
			if err != nil {
				return err
			}
			e.hint = h
		}
	}
	if !sc.has("(") {
		return sc.fail(`"!" or "("`)
	}
	return nil
}

func isIdentContinue(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return isIdentRune(r) && r != ' '
}

func (sc *scanner) embedBody(e *embedItem, depth int) *apiError {
	if !sc.accept("(") {
		return sc.fail(`"("`)
	}
	sc.ws()
	if sc.has(")") {
		// "rel()" selects no columns of the embed (used for filtering only).
		sc.pos++
		return nil
	}
	items, err := sc.selectForest(depth + 1)
	if err != nil {
		return err
	}
	if !sc.accept(")") {
		return sc.fail(`"," or ")"`)
	}
	e.items = items
	return nil
}

// Multi-word type names that may follow "::"; single words are emitted as
// bare identifiers, which cannot change the shape of the expression.
var multiWordTypes = map[string]bool{
	"double precision": true, "character varying": true, "bit varying": true,
	"timestamp with time zone": true, "timestamp without time zone": true,
	"time with time zone": true, "time without time zone": true,
}

func validCast(c string) bool {
	if c == "" {
		return false
	}
	if strings.Contains(c, " ") {
		return multiWordTypes[strings.ToLower(strings.Join(strings.Fields(c), " "))]
	}
	for i, r := range c {
		if r == '$' && i == 0 || unicode.IsDigit(r) && i == 0 {
			return false
		}
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '$') {
			return false
		}
	}
	return true
}

// canonicalCast normalises a validated cast for SQL text.
func canonicalCast(c string) string {
	return strings.Join(strings.Fields(c), " ")
}

// Prefer header.

type preferences struct {
	ret         string // minimal, representation, headers-only ("" = unset)
	count       string // exact, planned, estimated
	resolution  string // merge-duplicates, ignore-duplicates
	missing     string // default, null
	handling    string // strict, lenient
	maxAffected int64
	hasMaxAff   bool
	invalid     []string
}

func parsePrefer(values []string) preferences {
	var p preferences
	for _, hv := range values {
		for _, item := range strings.Split(hv, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			k, v, _ := strings.Cut(item, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			ok := true
			switch k {
			case "return":
				ok = v == "minimal" || v == "representation" || v == "headers-only"
				if ok {
					p.ret = v
				}
			case "count":
				ok = v == "exact" || v == "planned" || v == "estimated"
				if ok {
					p.count = v
				}
			case "resolution":
				ok = v == "merge-duplicates" || v == "ignore-duplicates"
				if ok {
					p.resolution = v
				}
			case "missing":
				ok = v == "default" || v == "null"
				if ok {
					p.missing = v
				}
			case "handling":
				ok = v == "strict" || v == "lenient"
				if ok {
					p.handling = v
				}
			case "max-affected":
				n, err := strconv.ParseInt(v, 10, 64)
				ok = err == nil
				if ok {
					p.maxAffected, p.hasMaxAff = n, true
				}
			case "tx", "timezone", "params":
				// Accepted and not applied: tx-end is fixed to commit on
				// Supabase, and neither of the others changes results here.
			default:
				ok = false
			}
			if !ok {
				p.invalid = append(p.invalid, item)
			}
		}
	}
	return p
}

// Accept negotiation.

type mediaType int

const (
	mtJSON mediaType = iota
	mtObject
	mtOpenAPI
)

type accepted struct {
	mt          mediaType
	stripNulls  bool
	contentType string
}

// negotiate picks the first producible type in Accept, by quality.
func negotiate(header string, allowOpenAPI bool) (accepted, *apiError) {
	if strings.TrimSpace(header) == "" {
		return accepted{mt: mtJSON, contentType: "application/json; charset=utf-8"}, nil
	}
	type cand struct {
		typ    string
		params map[string]string
		q      float64
		order  int
	}
	var cands []cand
	var names []string
	for i, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		segs := strings.Split(part, ";")
		c := cand{typ: strings.ToLower(strings.TrimSpace(segs[0])), params: map[string]string{}, q: 1, order: i}
		for _, s := range segs[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(s), "=")
			k = strings.ToLower(strings.TrimSpace(k))
			v = strings.Trim(strings.TrimSpace(v), `"`)
			if k == "q" {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					c.q = f
				}
				continue
			}
			c.params[k] = v
		}
		names = append(names, strings.TrimSpace(segs[0]))
		cands = append(cands, c)
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].q > cands[j].q })
	for _, c := range cands {
		if c.q <= 0 {
			continue
		}
		strip := c.params["nulls"] == "stripped"
		switch c.typ {
		case "application/json", "*/*", "application/*", "application/vnd.pgrst.array+json":
			ct := "application/json; charset=utf-8"
			if c.typ == "application/vnd.pgrst.array+json" {
				ct = "application/vnd.pgrst.array+json; charset=utf-8"
				if strip {
					ct = "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
				}
			} else {
				strip = false
			}
			return accepted{mt: mtJSON, stripNulls: strip, contentType: ct}, nil
		case "application/vnd.pgrst.object+json", "application/vnd.pgrst.object":
			ct := "application/vnd.pgrst.object+json; charset=utf-8"
			if strip {
				ct = "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"
			}
			return accepted{mt: mtObject, stripNulls: strip, contentType: ct}, nil
		case "application/openapi+json":
			if allowOpenAPI {
				return accepted{mt: mtOpenAPI, contentType: "application/openapi+json; charset=utf-8"}, nil
			}
		}
	}
	return accepted{}, errMediaType(names)
}
