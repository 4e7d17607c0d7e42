package supabase

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// roundTrip is one service call against a fake server: the request it must
// send and the canned answer it gets.
type roundTrip struct {
	name   string
	call   func(ctx context.Context, c *Client) (any, *Response, error)
	want   wantRequest
	status int
	header map[string]string
	body   string
	check  func(t *testing.T, got any, resp *Response)
}

func runRoundTrips(t *testing.T, mk func(*testing.T, *fakeServer) *Client, cases []roundTrip) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t, func(w http.ResponseWriter, _ *recorded) {
				status := tc.status
				if status == 0 {
					status = http.StatusOK
				}
				reply(w, status, tc.header, tc.body)
			})
			c := mk(t, fs)
			got, resp, err := tc.call(context.Background(), c)
			assertNoError(t, err)
			if resp == nil || resp.Response == nil {
				t.Fatal("no *Response")
			}
			assertRequest(t, fs.last(t), tc.want)
			if tc.check != nil {
				tc.check(t, got, resp)
			}
		})
	}
}

var patHeader = map[string]string{"Authorization": "Bearer " + testPAT, "Accept": "application/json"}

func TestManagementService_RoundTrips(t *testing.T) {
	created := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	runRoundTrips(t, managementClient, []roundTrip{
		{
			name: "ListOrganizations",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Management.ListOrganizations(ctx)
			},
			want:   wantRequest{Method: "GET", Path: "v1/organizations", Query: url.Values{}, Header: patHeader, Body: "-"},
			header: map[string]string{"X-RateLimit-Limit": "120", "X-RateLimit-Remaining": "119", "X-RateLimit-Reset": "60"},
			body:   `[{"id":"acme","slug":"acme","name":"Acme"}]`,
			check: func(t *testing.T, got any, resp *Response) {
				assertEqual(t, "orgs", got.([]*Organization), []*Organization{{ID: "acme", Slug: "acme", Name: "Acme"}})
				assertEqual(t, "rate", resp.Rate, Rate{Limit: 120, Remaining: 119, Reset: time.Minute})
			},
		},
		{
			name: "GetOrganization",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Management.GetOrganization(ctx, "acme-co")
			},
			want: wantRequest{Method: "GET", Path: "v1/organizations/acme-co", Header: patHeader},
			body: `{"id":"acme-co","name":"Acme","plan":"pro","opt_in_tags":[],"allowed_release_channels":["ga"]}`,
			check: func(t *testing.T, got any, _ *Response) {
				assertEqual(t, "org", got.(*OrganizationDetail), &OrganizationDetail{ID: "acme-co", Name: "Acme", Plan: "pro",
					OptInTags: []string{}, AllowedReleaseChannels: []string{"ga"}})
			},
		},
		{
			name: "ListMembers",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Management.ListMembers(ctx, "acme")
			},
			want: wantRequest{Method: "GET", Path: "v1/organizations/acme/members", Header: patHeader},
			body: `[{"user_id":"u1","user_name":"ann","email":"ann@example.com","role_name":"owner","mfa_enabled":true},{"user_id":"u2","user_name":"bob","role_name":"developer","mfa_enabled":false}]`,
			check: func(t *testing.T, got any, _ *Response) {
				assertEqual(t, "members", got.([]*Member), []*Member{
					{UserID: "u1", UserName: "ann", Email: "ann@example.com", RoleName: "owner", MFAEnabled: true},
					{UserID: "u2", UserName: "bob", RoleName: "developer"},
				})
			},
		},
		{
			name: "ListOrganizationProjects",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Management.ListOrganizationProjects(ctx, "acme", &ListOrganizationProjectsOptions{
					Offset: 2, Limit: 2, Search: "prod", Sort: "created_desc", Statuses: []string{"ACTIVE_HEALTHY", "INACTIVE"}})
			},
			want: wantRequest{Method: "GET", Path: "v1/organizations/acme/projects", Header: patHeader,
				Query: url.Values{"offset": {"2"}, "limit": {"2"}, "search": {"prod"}, "sort": {"created_desc"}, "statuses": {"ACTIVE_HEALTHY,INACTIVE"}}},
			body: `{"projects":[{"ref":"aaaaaaaaaaaaaaaaaaaa","name":"p3","cloud_provider":"AWS","region":"us-east-1","is_branch":false,"status":"ACTIVE_HEALTHY","inserted_at":"2026-05-01T12:00:00.000Z","databases":[{"region":"us-east-1","status":"ACTIVE_HEALTHY","cloud_provider":"AWS","identifier":"aaaaaaaaaaaaaaaaaaaa","type":"PRIMARY"}]},{"ref":"bbbbbbbbbbbbbbbbbbbb","name":"p4","cloud_provider":"AWS","region":"us-east-1","is_branch":false,"status":"INACTIVE","inserted_at":"2026-05-01T12:00:00.000Z","databases":[]}],"pagination":{"count":7,"limit":2,"offset":2}}`,
			check: func(t *testing.T, got any, resp *Response) {
				ps := got.([]*OrganizationProject)
				assertEqual(t, "len", len(ps), 2)
				assertEqual(t, "first", ps[0].Ref, "aaaaaaaaaaaaaaaaaaaa")
				assertEqual(t, "inserted_at", ps[0].InsertedAt, created)
				assertEqual(t, "db type", ps[0].Databases[0].Type, "PRIMARY")
				assertEqual(t, "total", resp.Total, int64(7))
				assertEqual(t, "next offset", resp.NextOffset, 4)
			},
		},
		{
			name: "ListOrganizationProjects last page",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Management.ListOrganizationProjects(ctx, "acme", nil)
			},
			want: wantRequest{Method: "GET", Path: "v1/organizations/acme/projects", Query: url.Values{}},
			body: `{"projects":[{"ref":"aaaaaaaaaaaaaaaaaaaa","name":"p1","status":"ACTIVE_HEALTHY","inserted_at":"2026-05-01T12:00:00Z","databases":[]}],"pagination":{"count":1,"limit":100,"offset":0}}`,
			check: func(t *testing.T, _ any, resp *Response) {
				assertEqual(t, "total", resp.Total, int64(1))
				assertEqual(t, "next offset", resp.NextOffset, 0)
			},
		},
		{
			name: "ListProjects",
			call: func(ctx context.Context, c *Client) (any, *Response, error) { return c.Management.ListProjects(ctx) },
			want: wantRequest{Method: "GET", Path: "v1/projects", Header: patHeader},
			body: `[{"id":"r","ref":"abcdefghijklmnopqrst","organization_id":"acme","organization_slug":"acme","name":"p","region":"us-east-1","created_at":"2026-05-01T12:00:00.000Z","status":"ACTIVE_HEALTHY","database":{"host":"db.abcdefghijklmnopqrst.supabase.co","version":"15.8","postgres_engine":"15","release_channel":"ga"}}]`,
			check: func(t *testing.T, got any, _ *Response) {
				assertEqual(t, "projects", got.([]*Project), []*Project{{ID: "r", Ref: "abcdefghijklmnopqrst", OrganizationID: "acme",
					OrganizationSlug: "acme", Name: "p", Region: "us-east-1", CreatedAt: created, Status: "ACTIVE_HEALTHY",
					Database: &ProjectDatabase{Host: "db.abcdefghijklmnopqrst.supabase.co", Version: "15.8", PostgresEngine: "15", ReleaseChannel: "ga"}}})
			},
		},
		{
			name: "GetProject",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Management.GetProject(ctx, "abcdefghijklmnopqrst")
			},
			want: wantRequest{Method: "GET", Path: "v1/projects/abcdefghijklmnopqrst", Header: patHeader},
			body: `{"ref":"abcdefghijklmnopqrst","name":"p","status":"COMING_UP","created_at":"2026-05-01T12:00:00Z"}`,
			check: func(t *testing.T, got any, _ *Response) {
				assertEqual(t, "status", got.(*Project).Status, "COMING_UP")
			},
		},
		{
			name: "CreateProject",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Management.CreateProject(ctx, &CreateProjectRequest{Name: "acme-prod", OrganizationSlug: "acme",
					DBPass: "correct-horse", RegionSelection: &RegionSelection{Type: "smartGroup", Code: "emea"}})
			},
			want: wantRequest{Method: "POST", Path: "v1/projects", Header: map[string]string{"Content-Type": "application/json"},
				Body: `{"name":"acme-prod","organization_slug":"acme","db_pass":"correct-horse","region_selection":{"type":"smartGroup","code":"emea"}}`},
			status: http.StatusCreated,
			body:   `{"id":"x","ref":"abcdefghijklmnopqrst","organization_slug":"acme","name":"acme-prod","region":"eu-west-1","created_at":"2026-05-01T12:00:00Z","status":"COMING_UP"}`,
			check: func(t *testing.T, got any, resp *Response) {
				assertEqual(t, "ref", got.(*Project).Ref, "abcdefghijklmnopqrst")
				assertEqual(t, "status code", resp.StatusCode, http.StatusCreated)
			},
		},
		{
			name: "GetProjectHealth",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Management.GetProjectHealth(ctx, "abcdefghijklmnopqrst", []string{"auth", "db"}, &ProjectHealthOptions{TimeoutMS: 2000})
			},
			want: wantRequest{Method: "GET", Path: "v1/projects/abcdefghijklmnopqrst/health",
				Query: url.Values{"services": {"auth", "db"}, "timeout_ms": {"2000"}}},
			body: `[{"name":"auth","healthy":true,"status":"ACTIVE_HEALTHY","info":{"name":"GoTrue","version":"v2.189.0"}},{"name":"db","healthy":false,"status":"UNHEALTHY","error":"down"}]`,
			check: func(t *testing.T, got any, _ *Response) {
				hs := got.([]*ServiceHealth)
				assertEqual(t, "auth", hs[0].Status, "ACTIVE_HEALTHY")
				assertEqual(t, "auth info", string(hs[0].Info), `{"name":"GoTrue","version":"v2.189.0"}`)
				assertEqual(t, "db error", hs[1].Error, "down")
			},
		},
		{
			name: "ListAPIKeys reveal",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Management.ListAPIKeys(ctx, "abcdefghijklmnopqrst", &ListAPIKeysOptions{Reveal: true})
			},
			want: wantRequest{Method: "GET", Path: "v1/projects/abcdefghijklmnopqrst/api-keys", Query: url.Values{"reveal": {"true"}}},
			body: `[{"name":"anon","api_key":"eyJ.a.b","id":"anon","type":"legacy","prefix":null,"hash":null,"inserted_at":null},{"name":"default","api_key":"sb_secret_abc","id":"k2","type":"secret","prefix":"sb_secret_abcd","secret_jwt_template":{"role":"service_role"},"inserted_at":"2026-05-01T12:00:00Z"}]`,
			check: func(t *testing.T, got any, _ *Response) {
				ks := got.([]*APIKey)
				assertEqual(t, "anon type", ks[0].Type, KeyLegacy)
				assertEqual(t, "anon inserted", ks[0].InsertedAt, (*time.Time)(nil))
				assertEqual(t, "secret key", ks[1].APIKey, "sb_secret_abc")
				assertEqual(t, "template", string(ks[1].SecretJWTTemplate), `{"role":"service_role"}`)
				assertNoSecret(t, "String()", ks[1].String(), "sb_secret_abc")
			},
		},
		{
			name: "ListAPIKeys default",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Management.ListAPIKeys(ctx, "abcdefghijklmnopqrst", nil)
			},
			want: wantRequest{Method: "GET", Path: "v1/projects/abcdefghijklmnopqrst/api-keys", Query: url.Values{}},
			body: `[]`,
		},
		{
			name: "RunQuery",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				var rows []map[string]any
				resp, err := c.Management.RunQuery(ctx, "abcdefghijklmnopqrst", &QueryRequest{Query: "select $1::int as n", Parameters: []any{1}, ReadOnly: true}, &rows)
				return rows, resp, err
			},
			want: wantRequest{Method: "POST", Path: "v1/projects/abcdefghijklmnopqrst/database/query",
				Body: `{"query":"select $1::int as n","parameters":[1],"read_only":true}`},
			status: http.StatusCreated,
			body:   `[{"n":1}]`,
			check: func(t *testing.T, got any, _ *Response) {
				assertEqual(t, "rows", got.([]map[string]any), []map[string]any{{"n": float64(1)}})
			},
		},
	})
}

// TestManagementService_ListOrganizationProjectsIter walks 23 projects in
// pages of 5 and checks the caller's options are left alone.
func TestManagementService_ListOrganizationProjectsIter(t *testing.T) {
	const total = 23
	fs := newFakeServer(t, func(w http.ResponseWriter, r *recorded) {
		offset, limit := atoi(r.Query.Get("offset")), atoi(r.Query.Get("limit"))
		var items []map[string]any
		for i := offset; i < total && i < offset+limit; i++ {
			items = append(items, map[string]any{"ref": refN(i), "name": refN(i), "status": "ACTIVE_HEALTHY", "inserted_at": "2026-05-01T12:00:00Z"})
		}
		reply(w, 200, nil, mustJSON(t, map[string]any{"projects": items, "pagination": map[string]int{"count": total, "limit": limit, "offset": offset}}))
	})
	c := managementClient(t, fs)
	opts := &ListOrganizationProjectsOptions{Limit: 5, Statuses: []string{"ACTIVE_HEALTHY"}}
	var refs []string
	for p, err := range c.Management.ListOrganizationProjectsIter(context.Background(), "acme", opts) {
		assertNoError(t, err)
		refs = append(refs, p.Ref)
	}
	assertEqual(t, "count", len(refs), total)
	for i, r := range refs {
		if r != refN(i) {
			t.Fatalf("item %d = %s, want %s", i, r, refN(i))
		}
	}
	assertEqual(t, "requests", len(fs.requests()), 5)
	assertEqual(t, "opts after", *opts, ListOrganizationProjectsOptions{Limit: 5, Statuses: []string{"ACTIVE_HEALTHY"}})
}

func refN(i int) string {
	b := []byte("aaaaaaaaaaaaaaaaaaaa")
	b[18] = byte('a' + i/26)
	b[19] = byte('a' + i%26)
	return string(b)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func TestManagementService_InvalidSegments(t *testing.T) {
	fs := newFakeServer(t, func(w http.ResponseWriter, _ *recorded) { reply(w, 200, nil, `{}`) })
	c := managementClient(t, fs)
	ctx := context.Background()
	for _, ref := range []string{"", ".", ".."} {
		if _, _, err := c.Management.GetProject(ctx, ref); err == nil {
			t.Errorf("GetProject(%q) succeeded", ref)
		}
		if _, _, err := c.Management.ListMembers(ctx, ref); err == nil {
			t.Errorf("ListMembers(%q) succeeded", ref)
		}
	}
	// A slash cannot escape the resource: it is escaped into the segment.
	_, _, _ = c.Management.GetProject(ctx, "../organizations")
	assertEqual(t, "escaped path", fs.last(t).Path, "v1/projects/../organizations")
	if raw := fs.requests(); len(raw) != 1 {
		t.Fatalf("requests = %d, want 1", len(raw))
	}
}
