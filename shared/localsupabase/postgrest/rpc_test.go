package postgrest_test

import (
	"encoding/json"
	"testing"
)

func TestRPC(t *testing.T) {
	cases := []struct {
		name   string
		call   call
		status int
		body   string
		hdr    map[string]string
	}{
		{"scalar post", call{method: "POST", target: "/rpc/add", body: `{"a":1,"b":2}`}, 200, `3`, nil},
		{"scalar get", call{target: "/rpc/add?a=40&b=2"}, 200, `42`, nil},
		{"default arg", call{method: "POST", target: "/rpc/add_default", body: `{"a":1}`}, 200, `11`, nil},
		{"setof table", call{method: "POST", target: "/rpc/books_since?select=id,title&order=id.desc&limit=2",
			header: map[string]string{"Prefer": "count=exact"}, body: `{"y":1970}`}, 206,
			`[{"id":5,"title":"Parable of the Sower"},{"id":4,"title":"Kindred"}]`, map[string]string{"Content-Range": "0-1/3"}},
		{"setof filtered get", call{target: "/rpc/books_since?y=1900&author_id=eq.1&select=id"}, 200, `[{"id":1},{"id":2},{"id":3}]`, nil},
		{"setof with embed", call{target: "/rpc/books_since?y=1990&select=id,authors(name)"}, 200,
			`[{"id":5,"authors":{"name":"Octavia E. Butler"}}]`, nil},
		{"setof scalar", call{target: "/rpc/series?n=4&series=gt.2"}, 200, `[3,4]`, nil},
		{"single json arg", call{method: "POST", target: "/rpc/echo", body: `{"x":[1,{"y":null}]}`}, 200, `{"x":[1,{"y":null}]}`, nil},
		{"composite", call{target: "/rpc/first_book?select=id,title"}, 200, `{"id":1,"title":"A Wizard of Earthsea"}`, nil},
		{"out params", call{target: "/rpc/stats"}, 200, `{"n":6,"newest":1993}`, nil},
		{"void", call{method: "POST", target: "/rpc/bump"}, 204, ``, nil},
		{"response gucs", call{method: "POST", target: "/rpc/teapot"}, 418, `"short and stout"`, map[string]string{"X-Brew": "earl grey"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.call)
			assertStatus(t, r, tc.status)
			if tc.body == "" {
				if len(r.body) != 0 {
					t.Fatalf("body = %s, want none", r.body)
				}
			} else {
				assertJSON(t, r, tc.body)
			}
			for k, v := range tc.hdr {
				assertHeader(t, r, k, v)
			}
		})
	}
	if n := queryInt(t, "SELECT n FROM counter"); n != 1 {
		t.Fatalf("bump ran %d times, want 1", n)
	}
}

func TestRPCErrors(t *testing.T) {
	cases := []struct {
		name   string
		call   call
		status int
		code   string
		want   map[string]any
	}{
		{"unknown function", call{method: "POST", target: "/rpc/adds", body: `{"a":1}`}, 404, "PGRST202", map[string]any{
			"message": "Could not find the function public.adds(a) in the schema cache",
			"details": "Searched for the function public.adds with parameter a or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
			"hint":    "Perhaps you meant to call the function public.add"}},
		{"wrong args", call{target: "/rpc/add?a=1&c=2"}, 404, "PGRST202", map[string]any{
			"message": "Could not find the function public.add(a, c) in the schema cache",
			"details": "Searched for the function public.add with parameters a, c, but no matches were found in the schema cache.",
			"hint":    "Perhaps you meant to call the function public.add(a, b)"}},
		{"rpc put", call{method: "PUT", target: "/rpc/add"}, 405, "PGRST101", map[string]any{"message": "Cannot use the PUT method on RPC"}},
		{"write in read-only get", call{target: "/rpc/bump"}, 405, "25006", nil},
		{"write in stable function", call{method: "POST", target: "/rpc/bump_stable"}, 400, "0A000", nil},
		{"raise PT402", call{method: "POST", target: "/rpc/pay"}, 402, "PT402", map[string]any{"message": "Payment required"}},
		{"raise exception", call{method: "POST", target: "/rpc/boom"}, 400, "P0001", map[string]any{"message": "boom", "hint": "try again"}},
		{"raise PGRST", call{method: "POST", target: "/rpc/custom_error"}, 409, "ABC", map[string]any{"message": "custom", "details": "d", "hint": "h"}},
		{"bad arg type", call{target: "/rpc/add?a=x&b=1"}, 400, "22P02", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.call)
			e := assertError(t, r, tc.status, tc.code)
			for k, v := range tc.want {
				if e[k] != v {
					t.Fatalf("%s = %v, want %v", k, e[k], v)
				}
			}
		})
	}
	r := do(t, call{method: "POST", target: "/rpc/custom_error"})
	assertHeader(t, r, "X-Why", "because")
	if n := queryInt(t, "SELECT n FROM counter"); n > 1 {
		t.Fatalf("read-only call wrote: counter = %d", n)
	}
}

func TestRequestSettings(t *testing.T) {
	tok := userToken(alice)
	r := do(t, call{method: "POST", target: "/rpc/whoami", body: `{}`, header: map[string]string{
		"Authorization": "Bearer " + tok, "X-Test": "hello", "Cookie": "c=crumb"}})
	assertStatus(t, r, 200)
	var got struct {
		Role   string         `json:"role"`
		UID    string         `json:"uid"`
		Claims map[string]any `json:"claims"`
		Method string         `json:"method"`
		Path   string         `json:"path"`
		Agent  string         `json:"agent"`
		Cookie string         `json:"cookie"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Role != "authenticated" || got.UID != alice || got.Claims["sub"] != alice || got.Claims["role"] != "authenticated" ||
		got.Method != "POST" || got.Path != "/rpc/whoami" || got.Agent != "hello" || got.Cookie != "crumb" {
		t.Fatalf("request settings = %+v", got)
	}
	r = do(t, call{target: "/rpc/whoami"})
	assertJSON(t, r, `{"role":"anon","uid":null,"claims":{"role":"anon"},"method":"GET","path":"/rpc/whoami","agent":null,"cookie":null}`)
}
