package postgrest

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
)

func (h *Handler) serveRPC(w http.ResponseWriter, req *request, name string) *apiError {
	ctx := req.r.Context()
	isPost := req.r.Method == http.MethodPost

	// Arguments: the JSON object of a POST, or the non-filter parameters of
	// a GET.
	var body []byte
	keys := map[string]bool{}
	if isPost {
		data, err := io.ReadAll(io.LimitReader(req.r.Body, maxBody+1))
		if err != nil || len(data) > maxBody {
			return errInvalidBody("Empty or invalid json")
		}
		data = []byte(strings.TrimSpace(string(data)))
		if len(data) == 0 {
			data = []byte("{}")
		}
		if !json.Valid(data) {
			return errInvalidBody("Empty or invalid json")
		}
		body = data
		var obj map[string]json.RawMessage
		if data[0] == '{' && json.Unmarshal(data, &obj) == nil {
			for k := range obj {
				keys[k] = true
			}
		}
	} else {
		args := map[string]string{}
		for _, kv := range req.qp.params {
			args[kv[0]] = kv[1]
			keys[kv[0]] = true
		}
		body, _ = json.Marshal(args)
	}

	sc := h.cache.Load()
	f, e := matchFunction(sc, req.schema, name, keys, isPost, body)
	if e != nil && e.code == "PGRST202" {
		sc = h.reload(ctx)
		f, e = matchFunction(sc, req.schema, name, keys, isPost, body)
	}
	if e != nil {
		return e
	}

	p := newPlanner(sc, req.schema, req.qp, h.cfg.MaxRows)
	alias := p.alias()
	var call string
	var from string
	switch {
	case singleJSONArg(f) && isPost:
		call = qualified(f.schema, f.name) + "(" + p.bind(string(body)) + "::" + f.args[0].typ + ")"
	case len(keys) > 0:
		var defs, named []string
		for _, a := range f.args {
			if keys[a.name] {
				defs = append(defs, ident(a.name)+" "+a.typ)
				named = append(named, ident(a.name)+" := pgrst_args."+ident(a.name))
			}
		}
		from = "json_to_record(" + p.bind(string(body)) + "::json) AS pgrst_args(" + strings.Join(defs, ", ") + "), "
		call = qualified(f.schema, f.name) + "(" + strings.Join(named, ", ") + ")"
	default:
		call = qualified(f.schema, f.name) + "()"
	}
	scalar := !f.composite
	fromRel := from + call + " AS " + ident(alias)
	if scalar {
		fromRel += "(" + ident(f.name) + ")"
	}

	q := &readQuery{p: p, from: fromRel}
	var t *table
	if f.retTable != "" {
		t = sc.tables[f.retTable]
	}
	if scalar {
		if !f.void {
			q.selects = []string{ident(alias) + "." + ident(f.name)}
		}
		q.where = p.whereAt(alias, level{}, nil)
		order, e := p.orderAt(alias, level{}, nil, nil)
		if e != nil {
			return e
		}
		q.order = order
	} else {
		if e := checkEmbedFilters(req.qp, req.qp.sel); e != nil {
			return e
		}
		selects, inner, embeds, e := p.selectList(t, alias, req.qp.sel, level{}, 0)
		if e != nil {
			return e
		}
		q.selects = selects
		q.where = append(p.whereAt(alias, level{}, embeds), inner...)
		if q.order, e = p.orderAt(alias, level{}, t, embeds); e != nil {
			return e
		}
	}
	if e := p.unconsumed(); e != nil {
		return e
	}
	if f.setof {
		if q.win, e = rootWindow(req, h.cfg.MaxRows); e != nil {
			return e
		}
	} else {
		q.win = window{limit: 1}
	}

	acc := req.accept
	head := req.r.Method == http.MethodHead
	var bodySQL string
	switch {
	case f.void:
		bodySQL = "''"
	case f.setof && scalar:
		bodySQL = bodyExpr(acc, head, f.name)
	case f.setof:
		bodySQL = bodyExpr(acc, head, "")
	case scalar:
		bodySQL = "coalesce((json_agg(_postgrest_t." + ident(f.name) + ")->0)::text, 'null')"
		if head {
			bodySQL = "''"
		}
	default:
		bodySQL = "coalesce((json_agg(_postgrest_t)->0)::text, 'null')"
		if head {
			bodySQL = "''"
		}
	}
	res := &readResult{}
	readOnly := !isPost || !f.volatile
	if e := h.run(ctx, req, txOpts{readOnly: readOnly, stmts: q.statements(req, res, bodySQL)}); e != nil {
		return e
	}
	if f.void {
		return h.write(w, req, response{status: http.StatusNoContent}, res.gucHeaders, res.gucStatus)
	}
	if !f.setof {
		if acc.mt == mtObject {
			req.accept.mt = mtJSON
		}
		return h.write(w, req, response{status: http.StatusOK, body: res.body, ctype: acc.contentType,
			headers: map[string]string{"Content-Range": contentRange(0, res.pageTotal-1, nil)}}, res.gucHeaders, res.gucStatus)
	}
	return h.finishRead(w, req, q, res)
}

func singleJSONArg(f *function) bool {
	return len(f.args) == 1 && f.args[0].name == "" && (f.args[0].typ == "json" || f.args[0].typ == "jsonb")
}

// matchFunction picks the overload whose named arguments fit the given keys.
func matchFunction(sc *schemaCache, schema, name string, keys map[string]bool, isPost bool, body []byte) (*function, *apiError) {
	var matches []*function
	for _, f := range sc.funcs[qkey(schema, name)] {
		if isPost && singleJSONArg(f) {
			matches = append(matches, f)
			continue
		}
		ok := true
		names := map[string]bool{}
		for _, a := range f.args {
			names[a.name] = true
			if a.required && !keys[a.name] {
				ok = false
			}
		}
		for k := range keys {
			if !names[k] {
				ok = false
			}
		}
		if ok {
			matches = append(matches, f)
		}
	}
	if len(matches) > 1 {
		// Named arguments win over the single-json form, as on the server.
		var named []*function
		for _, m := range matches {
			if !singleJSONArg(m) {
				named = append(named, m)
			}
		}
		if len(named) == 1 {
			return named[0], nil
		}
		var sigs []string
		for _, m := range matches {
			var ps []string
			for _, a := range m.args {
				ps = append(ps, a.name+" => "+a.typ)
			}
			sigs = append(sigs, m.schema+"."+m.name+"("+strings.Join(ps, ", ")+")")
		}
		return nil, &apiError{status: 300, code: "PGRST203",
			message: "Could not choose the best candidate function between: " + strings.Join(sigs, ", "),
			hint:    "Try renaming the parameters or the function itself in the database so function overloading can be resolved"}
	}
	if len(matches) == 1 {
		return matches[0], nil
	}
	return nil, noFunction(sc, schema, name, keys, isPost)
}

func noFunction(sc *schemaCache, schema, name string, keys map[string]bool, isPost bool) *apiError {
	args := mapKeys(keys)
	sort.Strings(args)
	fn := schema + "." + name
	msg := "Could not find the function " + fn
	det := "Searched for the function " + fn
	if len(args) == 0 {
		msg += " without parameters"
		det += " without parameters"
	} else {
		msg += "(" + strings.Join(args, ", ") + ")"
		if len(args) > 1 {
			det += " with parameters " + strings.Join(args, ", ")
		} else {
			det += " with parameter " + args[0]
		}
	}
	if isPost {
		det += " or with a single unnamed json/jsonb parameter"
	}
	e := &apiError{status: 404, code: "PGRST202", message: msg + " in the schema cache",
		details: det + ", but no matches were found in the schema cache."}
	if overloads := sc.funcs[qkey(schema, name)]; len(overloads) > 0 {
		var sigs []string
		for _, f := range overloads {
			var ns []string
			for _, a := range f.args {
				ns = append(ns, a.name)
			}
			sort.Strings(ns)
			sigs = append(sigs, "("+strings.Join(ns, ", ")+")")
		}
		if c, ok := closest("("+strings.Join(args, ", ")+")", sigs, 0.33); ok {
			e.hint = "Perhaps you meant to call the function " + fn + c
		}
	} else if c, ok := closest(name, sc.fnames[schema], 0.75); ok {
		e.hint = "Perhaps you meant to call the function " + schema + "." + c
	}
	return e
}
