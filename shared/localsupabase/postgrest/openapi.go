package postgrest

import (
	"encoding/json"
	"net/http"
	"sort"
)

// serverVersion is the PostgREST release the stand-in follows (the one the
// Supabase CLI pins); clients read it from the OpenAPI document.
const serverVersion = "14.12"

// serveRoot answers GET / with a Swagger 2.0 description of the exposed
// schema: every relation with its columns and every function, enough for
// tools that list tables or read info.version.
func (h *Handler) serveRoot(w http.ResponseWriter, req *request) *apiError {
	if req.r.Method != http.MethodGet && req.r.Method != http.MethodHead {
		return &apiError{status: 405, code: "PGRST117", message: "Unsupported HTTP method: " + req.r.Method}
	}
	if _, e := negotiate(req.r.Header.Get("Accept"), true); e != nil {
		return e
	}
	sc := h.reload(req.r.Context())
	type prop struct {
		Type    string `json:"type"`
		Format  string `json:"format"`
		Default string `json:"default,omitempty"`
	}
	type def struct {
		Type       string          `json:"type"`
		Properties map[string]prop `json:"properties"`
		Required   []string        `json:"required,omitempty"`
	}
	paths := map[string]any{"/": map[string]any{"get": map[string]any{"produces": []string{"application/openapi+json", "application/json"}}}}
	defs := map[string]def{}
	ops := map[string]any{"get": map[string]any{}, "post": map[string]any{}, "patch": map[string]any{}, "delete": map[string]any{}}
	for _, name := range sc.names[req.schema] {
		t := sc.tables[qkey(req.schema, name)]
		paths["/"+name] = ops
		d := def{Type: "object", Properties: map[string]prop{}}
		for _, c := range t.cols {
			d.Properties[c.name] = prop{Type: jsonType(c.typ), Format: c.typ, Default: c.def}
		}
		d.Required = append(d.Required, t.pk...)
		defs[name] = d
	}
	fnames := append([]string(nil), sc.fnames[req.schema]...)
	sort.Strings(fnames)
	for _, name := range fnames {
		paths["/rpc/"+name] = map[string]any{"get": map[string]any{}, "post": map[string]any{}}
	}
	doc := map[string]any{
		"swagger":     "2.0",
		"info":        map[string]string{"description": "", "title": "standard public schema", "version": serverVersion},
		"basePath":    "/",
		"schemes":     []string{"http"},
		"consumes":    []string{"application/json", "application/vnd.pgrst.object+json", "text/csv"},
		"produces":    []string{"application/json", "application/vnd.pgrst.object+json", "text/csv"},
		"paths":       paths,
		"definitions": defs,
	}
	body, _ := json.Marshal(doc)
	return h.write(w, req, response{status: http.StatusOK, body: body, ctype: "application/openapi+json; charset=utf-8"}, nil, nil)
}

func jsonType(pgType string) string {
	switch pgType {
	case "integer", "bigint", "smallint":
		return "integer"
	case "numeric", "real", "double precision":
		return "number"
	case "boolean":
		return "boolean"
	case "json", "jsonb":
		return "object"
	}
	if len(pgType) > 2 && pgType[len(pgType)-2:] == "[]" {
		return "array"
	}
	return "string"
}
