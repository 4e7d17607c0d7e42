package supabase

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

var authHeader = map[string]string{
	"apikey":                 testKey,
	"Authorization":          "Bearer " + testKey,
	"X-Supabase-Api-Version": "2024-01-01",
}

const userJSON = `{"id":"6f1c2f0e-0000-4000-8000-000000000001","aud":"authenticated","role":"authenticated","email":"ann@example.com","phone":"","email_confirmed_at":"2026-05-01T12:00:00Z","app_metadata":{"provider":"email","providers":["email"]},"user_metadata":{"full_name":"Ann"},"identities":[{"identity_id":"6f1c2f0e-0000-4000-8000-0000000000aa","id":"6f1c2f0e-0000-4000-8000-000000000001","user_id":"6f1c2f0e-0000-4000-8000-000000000001","identity_data":{"email":"ann@example.com","sub":"6f1c2f0e-0000-4000-8000-000000000001"},"provider":"email","created_at":"2026-05-01T12:00:00Z","updated_at":"2026-05-01T12:00:00Z","email":"ann@example.com"}],"created_at":"2026-05-01T12:00:00Z","updated_at":"2026-05-01T12:00:00Z","is_anonymous":false}`

const userID = "6f1c2f0e-0000-4000-8000-000000000001"

func TestAuthService_RoundTrips(t *testing.T) {
	confirmed := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	checkUser := func(t *testing.T, got any, _ *Response) {
		u := got.(*User)
		assertEqual(t, "id", u.ID, userID)
		assertEqual(t, "email", u.Email, "ann@example.com")
		assertEqual(t, "confirmed", u.EmailConfirmedAt, &confirmed)
		assertEqual(t, "meta", u.UserMetadata["full_name"], any("Ann"))
		assertEqual(t, "identities", len(u.Identities), 1)
		assertEqual(t, "identity provider", u.Identities[0].Provider, "email")
	}
	runRoundTrips(t, projectClient, []roundTrip{
		{
			name: "Health",
			call: func(ctx context.Context, c *Client) (any, *Response, error) { return c.Auth.Health(ctx) },
			want: wantRequest{Method: "GET", Path: "auth/v1/health", Header: authHeader, Body: "-"},
			body: `{"version":"v2.189.0","name":"GoTrue","description":"GoTrue is a user registration and authentication API"}`,
			check: func(t *testing.T, got any, _ *Response) {
				assertEqual(t, "health", *got.(*AuthHealth), AuthHealth{Version: "v2.189.0", Name: "GoTrue", Description: "GoTrue is a user registration and authentication API"})
			},
		},
		{
			name: "Settings",
			call: func(ctx context.Context, c *Client) (any, *Response, error) { return c.Auth.Settings(ctx) },
			want: wantRequest{Method: "GET", Path: "auth/v1/settings", Header: authHeader},
			body: `{"external":{"email":true,"github":false},"disable_signup":false,"mailer_autoconfirm":true,"phone_autoconfirm":false,"sms_provider":"twilio","saml_enabled":false}`,
			check: func(t *testing.T, got any, _ *Response) {
				s := got.(*AuthSettings)
				assertEqual(t, "external", s.External, map[string]bool{"email": true, "github": false})
				assertEqual(t, "autoconfirm", s.MailerAutoconfirm, true)
			},
		},
		{
			name: "ListUsers",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Auth.ListUsers(ctx, &ListUsersOptions{Page: 2, PerPage: 1, Filter: "ann", Sort: "created_at asc"})
			},
			want: wantRequest{Method: "GET", Path: "auth/v1/admin/users", Header: authHeader,
				Query: url.Values{"page": {"2"}, "per_page": {"1"}, "filter": {"ann"}, "sort": {"created_at asc"}}},
			header: map[string]string{
				"Link":          `</admin/users?filter=ann&page=3&per_page=1&sort=created_at+asc>; rel="next", </admin/users?filter=ann&page=12&per_page=1&sort=created_at+asc>; rel="last"`,
				"X-Total-Count": "12",
			},
			body: `{"users":[` + userJSON + `],"aud":"authenticated"}`,
			check: func(t *testing.T, got any, resp *Response) {
				us := got.([]*User)
				assertEqual(t, "len", len(us), 1)
				assertEqual(t, "next", resp.NextPage, 3)
				assertEqual(t, "last", resp.LastPage, 12)
				assertEqual(t, "total", resp.Total, int64(12))
			},
		},
		{
			name: "ListUsers last page",
			call: func(ctx context.Context, c *Client) (any, *Response, error) { return c.Auth.ListUsers(ctx, nil) },
			want: wantRequest{Method: "GET", Path: "auth/v1/admin/users", Query: url.Values{}},
			header: map[string]string{
				"Link": `</admin/users?page=1>; rel="last"`, "X-Total-Count": "1",
			},
			body: `{"users":[` + userJSON + `],"aud":"authenticated"}`,
			check: func(t *testing.T, _ any, resp *Response) {
				assertEqual(t, "next", resp.NextPage, 0)
				assertEqual(t, "last", resp.LastPage, 1)
			},
		},
		{
			name: "GetUser",
			call: func(ctx context.Context, c *Client) (any, *Response, error) { return c.Auth.GetUser(ctx, userID) },
			want: wantRequest{Method: "GET", Path: "auth/v1/admin/users/" + userID, Header: authHeader},
			body: userJSON, check: checkUser,
		},
		{
			name: "CreateUser",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Auth.CreateUser(ctx, &AdminUserAttributes{Email: "ann@example.com", Password: "pw-123456", EmailConfirm: true,
					UserMetadata: map[string]any{"full_name": "Ann"}, AppMetadata: map[string]any{"tenant": "a"}})
			},
			want: wantRequest{Method: "POST", Path: "auth/v1/admin/users", Header: authHeader,
				Body: `{"email":"ann@example.com","password":"pw-123456","email_confirm":true,"user_metadata":{"full_name":"Ann"},"app_metadata":{"tenant":"a"}}`},
			body: userJSON, check: checkUser,
		},
		{
			name: "UpdateUser",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Auth.UpdateUser(ctx, userID, &AdminUserAttributes{BanDuration: "24h", UserMetadata: map[string]any{"nick": nil}})
			},
			want: wantRequest{Method: "PUT", Path: "auth/v1/admin/users/" + userID, Header: authHeader,
				Body: `{"ban_duration":"24h","user_metadata":{"nick":null}}`},
			body: userJSON, check: checkUser,
		},
		{
			name: "DeleteUser hard",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				resp, err := c.Auth.DeleteUser(ctx, userID, false)
				return nil, resp, err
			},
			want: wantRequest{Method: "DELETE", Path: "auth/v1/admin/users/" + userID, Header: authHeader, Body: "-"},
			body: `{}`,
		},
		{
			name: "DeleteUser soft",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				resp, err := c.Auth.DeleteUser(ctx, userID, true)
				return nil, resp, err
			},
			want: wantRequest{Method: "DELETE", Path: "auth/v1/admin/users/" + userID, Body: `{"should_soft_delete":true}`},
			body: `{}`,
		},
		{
			name: "InviteUser",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Auth.InviteUser(ctx, "ann@example.com", &InviteOptions{Data: map[string]any{"org": "a"}, RedirectTo: "https://app.example/welcome?x=1"})
			},
			want: wantRequest{Method: "POST", Path: "auth/v1/invite", Header: authHeader,
				Query: url.Values{"redirect_to": {"https://app.example/welcome?x=1"}}, Body: `{"email":"ann@example.com","data":{"org":"a"}}`},
			body: userJSON, check: checkUser,
		},
		{
			name: "GenerateLink",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Auth.GenerateLink(ctx, &GenerateLinkRequest{Type: "magiclink", Email: "ann@example.com", RedirectTo: "https://app.example"})
			},
			want: wantRequest{Method: "POST", Path: "auth/v1/admin/generate_link",
				Body: `{"type":"magiclink","email":"ann@example.com","redirect_to":"https://app.example"}`},
			body: userJSON[:len(userJSON)-1] + `,"action_link":"https://x.supabase.co/auth/v1/verify?token=h&type=magiclink","email_otp":"123456","hashed_token":"h","verification_type":"magiclink","redirect_to":"https://app.example"}`,
			check: func(t *testing.T, got any, _ *Response) {
				l := got.(*GenerateLinkResponse)
				assertEqual(t, "user id", l.ID, userID)
				assertEqual(t, "otp", l.EmailOTP, "123456")
				assertEqual(t, "type", l.VerificationType, "magiclink")
			},
		},
	})
}

// TestAuthService_ListUsersIter walks 203 users in pages of 20, following
// the Link header past page 9 (where supabase-js's parser goes wrong), and
// leaves the caller's options alone.
func TestAuthService_ListUsersIter(t *testing.T) {
	const total = 203
	fs := newFakeServer(t, func(w http.ResponseWriter, r *recorded) {
		page, per := atoi(r.Query.Get("page")), atoi(r.Query.Get("per_page"))
		var users []map[string]any
		for i := (page - 1) * per; i < total && i < page*per; i++ {
			users = append(users, map[string]any{"id": strconv.Itoa(i), "created_at": "2026-05-01T12:00:00Z", "updated_at": "2026-05-01T12:00:00Z"})
		}
		last := (total + per - 1) / per
		q := url.Values{"per_page": {strconv.Itoa(per)}}
		link := ""
		if page < last {
			q.Set("page", strconv.Itoa(page+1))
			link = "</admin/users?" + q.Encode() + `>; rel="next", `
		}
		q.Set("page", strconv.Itoa(last))
		link += "</admin/users?" + q.Encode() + `>; rel="last"`
		reply(w, 200, map[string]string{"Link": link, "X-Total-Count": strconv.Itoa(total)}, mustJSON(t, map[string]any{"users": users}))
	})
	c := projectClient(t, fs)
	opts := &ListUsersOptions{PerPage: 20}
	n := 0
	for u, err := range c.Auth.ListUsersIter(context.Background(), opts) {
		assertNoError(t, err)
		if u.ID != strconv.Itoa(n) {
			t.Fatalf("user %d has id %s", n, u.ID)
		}
		n++
	}
	assertEqual(t, "users", n, total)
	assertEqual(t, "requests", len(fs.requests()), 11)
	assertEqual(t, "opts after", *opts, ListUsersOptions{PerPage: 20})

	// Stopping early sends no further request.
	before := len(fs.requests())
	for range c.Auth.ListUsersIter(context.Background(), opts) {
		break
	}
	assertEqual(t, "requests after break", len(fs.requests())-before, 1)
}

func TestAuthService_IterYieldsError(t *testing.T) {
	fs := newFakeServer(t, func(w http.ResponseWriter, r *recorded) {
		if r.Query.Get("page") == "2" {
			reply(w, 500, nil, `{"code":"unexpected_failure","message":"Database error finding users"}`)
			return
		}
		reply(w, 200, map[string]string{"Link": `</admin/users?page=2&per_page=1>; rel="next"`}, `{"users":[{"id":"a"}]}`)
	})
	c := projectClient(t, fs)
	var ids []string
	var gotErr error
	for u, err := range c.Auth.ListUsersIter(context.Background(), &ListUsersOptions{PerPage: 1}) {
		if err != nil {
			gotErr = err
			continue
		}
		ids = append(ids, u.ID)
	}
	assertEqual(t, "ids", ids, []string{"a"})
	var ae *APIError
	if !asAPIError(gotErr, &ae) || ae.Code != "unexpected_failure" {
		t.Fatalf("error = %v, want APIError unexpected_failure", gotErr)
	}
}
