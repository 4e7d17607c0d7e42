package openapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/supabridge/supabridge/shared/app/apptest"
	"github.com/supabridge/supabridge/shared/bundle"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/openapi"
	"github.com/supabridge/supabridge/shared/openapi/openapitest"
)

func TestServedDocument(t *testing.T) {
	v := openapitest.New(t)
	rt := httpapi.NewRouter()
	openapi.Mount(rt, nil)
	req := httptest.NewRequest("GET", openapi.Path, nil)
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, req)
	want, err := openapi.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != string(want) {
		t.Fatalf("GET /openapi.json = %d %s", rec.Code, rec.Header())
	}
	v.CheckRecorder(t, req, rec)
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.OpenAPI != "3.1.0" || len(doc.Paths) == 0 {
		t.Fatalf("served document: %v %q %d paths", err, doc.OpenAPI, len(doc.Paths))
	}
	// Member order is kept from the YAML source: openapi first.
	if !strings.HasPrefix(rec.Body.String(), `{"openapi":"3.1.0","info":`) {
		t.Errorf("document starts %.40s", rec.Body.String())
	}
}

// operations returns the document's "METHOD /path" pairs, with the path's
// parameters as written ({id}).
func operations(t *testing.T) []string {
	t.Helper()
	b, err := openapi.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for p, item := range doc.Paths {
		for m := range item {
			switch m {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				out = append(out, strings.ToUpper(m)+" "+p)
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestEveryRouteIsDocumented: the document describes exactly the routes
// the bundle's functions serve (a method-less route, such as the proxy's,
// must be documented for every method it passes through).
func TestEveryRouteIsDocumented(t *testing.T) {
	a := apptest.New(t, "openapi-test", nil, nil)
	rt := httpapi.NewRouter()
	for _, f := range bundle.Functions() {
		if f.Mount != nil {
			f.Mount(rt, a)
		}
	}
	wildcard := regexp.MustCompile(`\{([A-Za-z0-9_]+)\.\.\.\}`)
	var served []string
	for _, p := range rt.Patterns() {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			method, path = "", p
		}
		path = wildcard.ReplaceAllString(path, "{$1}")
		if method == "" {
			for _, m := range []string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH"} {
				served = append(served, m+" "+path)
			}
			continue
		}
		served = append(served, method+" "+path)
	}
	sort.Strings(served)
	documented := operations(t)
	for _, s := range served {
		if !slices.Contains(documented, s) {
			t.Errorf("%s is served but not documented", s)
		}
	}
	for _, d := range documented {
		if !slices.Contains(served, d) {
			t.Errorf("%s is documented but no function serves it", d)
		}
	}
	for _, want := range []string{"GET /unified/user-directory/users", "GET /integrated-accounts", "POST /link-tokens", "POST /webhooks",
		"POST /integrated-accounts/{id}/refresh", "GET /openapi.json"} {
		if !slices.Contains(documented, want) {
			t.Errorf("%s is missing", want)
		}
	}
}

// TestValidatorCatchesDrift: the helper tests rely on does fail responses
// that leave the document.
func TestValidatorCatchesDrift(t *testing.T) {
	v := openapitest.New(t)
	user := `{"id":"u1","emails":[{"email":"a@example.com","is_primary":true}],"phones":[],"status":"active","is_email_verified":true,` +
		`"is_2fa_enabled":null,"roles":[],"organizations":[],"last_active_at":null,"created_at":"2026-01-01T00:00:00Z","updated_at":null}`
	envelope := `{"statusCode":404,"error":"Not Found","message":"x","details":null,"code":"not_found"}`
	json := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name, method, path string
		status             int
		body               string
		ok                 bool
	}{
		{"a user", "GET", "/unified/user-directory/users/u1?integrated_account_id=a", 200, user, true},
		{"an unknown field", "GET", "/unified/user-directory/users/u1?integrated_account_id=a", 200, strings.Replace(user, `"id"`, `"salary":1,"id"`, 1), false},
		{"a wrong status value", "GET", "/unified/user-directory/users/u1?integrated_account_id=a", 200, strings.Replace(user, `"active"`, `"asleep"`, 1), false},
		{"a list without prev_cursor", "GET", "/unified/user-directory/users?integrated_account_id=a", 200, `{"result":[],"next_cursor":null,"result_count":0}`, false},
		{"a list", "GET", "/unified/user-directory/users?integrated_account_id=a", 200, `{"result":[` + user + `],"next_cursor":null,"prev_cursor":null,"result_count":1}`, true},
		{"an error", "GET", "/unified/user-directory/roles/x?integrated_account_id=a", 404, envelope, true},
		{"an error without code", "GET", "/unified/user-directory/roles/x?integrated_account_id=a", 404, strings.Replace(envelope, `,"code":"not_found"`, "", 1), false},
		{"an undocumented path", "GET", "/unified/user-directory/groups?integrated_account_id=a", 200, `{}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			p := v.Problems(req, tt.status, json, []byte(tt.body))
			if (p == nil) != tt.ok {
				t.Errorf("problems = %v, want ok=%v", p, tt.ok)
			}
		})
	}
}
