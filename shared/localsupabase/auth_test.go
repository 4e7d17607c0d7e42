package localsupabase_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/supabridge/supabridge/shared/localsupabase"
)

// authAdmin is a client for one project's Auth admin API with the service
// role key, as a server-side caller sends it.
type authAdmin struct {
	*client
	p   *localsupabase.Project
	key string
}

func newAuthAdmin(t *testing.T, st *localsupabase.Stack) *authAdmin {
	return &authAdmin{client: newClient(t, st), p: st.Project(), key: st.Project().ServiceRoleKey}
}

func (a *authAdmin) call(method, path string, body any, headers ...string) *response {
	a.t.Helper()
	h := append([]string{"apikey", a.key, "Authorization", "Bearer " + a.key}, headers...)
	return a.do(method, a.p.APIURL+"/auth/v1"+path, body, h...)
}

type apiUser struct {
	ID               string         `json:"id"`
	Email            string         `json:"email"`
	Role             string         `json:"role"`
	EmailConfirmedAt *time.Time     `json:"email_confirmed_at"`
	ConfirmedAt      *time.Time     `json:"confirmed_at"`
	InvitedAt        *time.Time     `json:"invited_at"`
	BannedUntil      *time.Time     `json:"banned_until"`
	DeletedAt        *time.Time     `json:"deleted_at"`
	AppMetadata      map[string]any `json:"app_metadata"`
	UserMetadata     map[string]any `json:"user_metadata"`
	Identities       []struct {
		ID         string `json:"id"`
		IdentityID string `json:"identity_id"`
		Provider   string `json:"provider"`
		Email      string `json:"email"`
	} `json:"identities"`
}

func (a *authAdmin) createUser(t *testing.T, body map[string]any) apiUser {
	t.Helper()
	r := a.call("POST", "/admin/users", body)
	wantStatus(t, r, http.StatusOK)
	var u apiUser
	r.json(t, &u)
	return u
}

func TestAuthHealthAndSettings(t *testing.T) {
	st := newStack(t, localsupabase.Config{})
	c := newClient(t, st)
	p := st.Project()
	for _, key := range []string{p.AnonKey, p.PublishableKey, p.ServiceRoleKey, p.SecretKey} {
		r := c.do("GET", p.APIURL+"/auth/v1/health", nil, "apikey", key)
		wantStatus(t, r, 200)
		wantJSON(t, r, `{"version":"v2.189.0","name":"GoTrue","description":"GoTrue is a user registration and authentication API"}`)
		r = c.do("GET", p.APIURL+"/auth/v1/settings?apikey="+key, nil)
		wantStatus(t, r, 200)
		var s struct {
			External      map[string]bool `json:"external"`
			DisableSignup *bool           `json:"disable_signup"`
		}
		r.json(t, &s)
		if !s.External["email"] || s.DisableSignup == nil {
			t.Errorf("settings %s lack external.email or disable_signup", r.body)
		}
	}
}

// TestAdminUsersPagination checks Link and X-Total-Count exactly as GoTrue
// builds them, including past page 10 where supabase-js mis-parses.
func TestAdminUsersPagination(t *testing.T) {
	st := newStack(t, localsupabase.Config{})
	a := newAuthAdmin(t, st)
	r := a.call("GET", "/admin/users", nil)
	wantStatus(t, r, 200)
	wantHeader(t, r, "Link", `</admin/users?page=0>; rel="last"`)
	wantHeader(t, r, "X-Total-Count", "0")
	wantJSON(t, r, `{"users":[],"aud":"authenticated"}`)

	for i := 0; i < 23; i++ {
		a.createUser(t, map[string]any{"email": fmt.Sprintf("user%02d@example.com", i)})
	}
	tests := []struct {
		query, link, first string
		n                  int
	}{
		{"?page=1&per_page=1", `</admin/users?page=2&per_page=1>; rel="next", </admin/users?page=23&per_page=1>; rel="last"`, "user22@example.com", 1},
		{"?page=12&per_page=2", `</admin/users?page=12&per_page=2>; rel="last"`, "user00@example.com", 1},
		{"?per_page=2&page=11", `</admin/users?page=12&per_page=2>; rel="next", </admin/users?page=12&per_page=2>; rel="last"`, "user02@example.com", 2},
		{"?per_page=10&page=3&filter=user1", `</admin/users?filter=user1&page=1&per_page=10>; rel="last"`, "", 0},
		{"?page=2", `</admin/users?page=1>; rel="last"`, "", 0},
		{"", `</admin/users?page=1>; rel="last"`, "user22@example.com", 23},
		{"?sort=created_at%20asc&per_page=5", `</admin/users?page=2&per_page=5&sort=created_at+asc>; rel="next", </admin/users?page=5&per_page=5&sort=created_at+asc>; rel="last"`, "user00@example.com", 5},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := a.call("GET", "/admin/users"+tt.query, nil)
			wantStatus(t, r, 200)
			wantHeader(t, r, "X-Total-Count", map[bool]string{true: "10", false: "23"}[strings.Contains(tt.query, "filter")])
			wantHeader(t, r, "Link", tt.link)
			var body struct {
				Users []apiUser `json:"users"`
				Aud   string    `json:"aud"`
			}
			r.json(t, &body)
			if len(body.Users) != tt.n {
				t.Fatalf("%d users, want %d", len(body.Users), tt.n)
			}
			if tt.n > 0 && body.Users[0].Email != tt.first {
				t.Errorf("first user %s, want %s", body.Users[0].Email, tt.first)
			}
			if !strings.Contains(string(r.body), `"identities":null`) && tt.n > 0 {
				t.Errorf("list items must carry identities: null, got %s", r.body)
			}
		})
	}
	for _, q := range []string{"?page=x", "?per_page=-1", "?per_page=0", "?sort=email"} {
		r := a.call("GET", "/admin/users"+q, nil)
		wantStatus(t, r, 400)
	}
}

func TestAdminCreateUser(t *testing.T) {
	st := newStack(t, localsupabase.Config{})
	a := newAuthAdmin(t, st)
	u := a.createUser(t, map[string]any{"email": "New@Example.com", "password": "s3cret-pw", "email_confirm": true,
		"user_metadata": map[string]any{"name": "N"}, "app_metadata": map[string]any{"plan": "pro"}})
	if u.Email != "new@example.com" || u.Role != "authenticated" || u.EmailConfirmedAt == nil {
		t.Errorf("created user %+v", u)
	}
	if u.ConfirmedAt != nil {
		t.Error("create answers from memory: confirmed_at must be absent")
	}
	if u.UserMetadata["email_verified"] != true || u.UserMetadata["name"] != "N" {
		t.Errorf("user_metadata %v", u.UserMetadata)
	}
	if u.AppMetadata["provider"] != "email" || u.AppMetadata["plan"] != "pro" {
		t.Errorf("app_metadata %v", u.AppMetadata)
	}
	if len(u.Identities) != 1 || u.Identities[0].ID != u.ID || u.Identities[0].Provider != "email" {
		t.Errorf("identities %+v", u.Identities)
	}
	var n int
	conn := pgConnect(t, st.Project().DBURL)
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM auth.identities WHERE user_id = $1 AND email = 'new@example.com'`, u.ID).Scan(&n); err != nil || n != 1 {
		t.Errorf("identity row count %d, err %v", n, err)
	}

	tests := []struct {
		name   string
		body   any
		status int
		legacy string
		dated  string
	}{
		{"duplicate email", map[string]any{"email": "new@example.com"}, 422,
			`{"code":422,"error_code":"email_exists","msg":"A user with this email address has already been registered"}`,
			`{"code":"email_exists","message":"A user with this email address has already been registered"}`},
		{"no email or phone", map[string]any{"password": "x"}, 400,
			`{"code":400,"error_code":"validation_failed","msg":"Cannot create a user without either an email or phone"}`,
			`{"code":"validation_failed","message":"Cannot create a user without either an email or phone"}`},
		{"bad email", map[string]any{"email": "nope"}, 400,
			`{"code":400,"error_code":"validation_failed","msg":"Unable to validate email address: invalid format"}`,
			`{"code":"validation_failed","message":"Unable to validate email address: invalid format"}`},
		{"numeric ban_duration", `{"email":"b@example.com","ban_duration":5}`, 400, "", ""},
		{"bad ban_duration", map[string]any{"email": "c@example.com", "ban_duration": "forever"}, 400, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.call("POST", "/admin/users", tt.body, "Content-Type", "application/json")
			wantStatus(t, r, tt.status)
			if tt.legacy != "" {
				wantJSON(t, r, tt.legacy)
			}
			wantHeader(t, r, "X-Sb-Error-Code", map[int]string{422: "email_exists"}[tt.status]+map[bool]string{true: "validation_failed"}[tt.status == 400 && !strings.Contains(tt.name, "numeric")]+map[bool]string{true: "bad_json"}[strings.Contains(tt.name, "numeric")])
			r = a.call("POST", "/admin/users", tt.body, "Content-Type", "application/json", "X-Supabase-Api-Version", "2024-01-01")
			wantStatus(t, r, tt.status)
			wantHeader(t, r, "X-Supabase-Api-Version", "2024-01-01")
			if tt.dated != "" {
				wantJSON(t, r, tt.dated)
			}
		})
	}
}

func TestAdminUpdateUser(t *testing.T) {
	st := newStack(t, localsupabase.Config{})
	a := newAuthAdmin(t, st)
	u := a.createUser(t, map[string]any{"email": "up@example.com", "user_metadata": map[string]any{"keep": 1, "drop": 2}})
	r := a.call("PUT", "/admin/users/"+u.ID, map[string]any{
		"user_metadata": map[string]any{"drop": nil, "add": "x"},
		"app_metadata":  map[string]any{"roles": []string{"admin"}},
		"ban_duration":  "24h",
		"email_confirm": true,
		"role":          "custom_role",
	})
	wantStatus(t, r, 200)
	var got apiUser
	r.json(t, &got)
	if _, ok := got.UserMetadata["drop"]; ok || got.UserMetadata["keep"] != float64(1) || got.UserMetadata["add"] != "x" || got.UserMetadata["email_verified"] != true {
		t.Errorf("user_metadata after merge: %v", got.UserMetadata)
	}
	if got.AppMetadata["provider"] != "email" || got.AppMetadata["roles"] == nil {
		t.Errorf("app_metadata after merge: %v", got.AppMetadata)
	}
	if got.BannedUntil == nil || got.BannedUntil.Sub(time.Now()) < 23*time.Hour {
		t.Errorf("banned_until %v, want about now+24h", got.BannedUntil)
	}
	if got.EmailConfirmedAt == nil || got.Role != "custom_role" {
		t.Errorf("email_confirmed_at %v role %q", got.EmailConfirmedAt, got.Role)
	}
	r = a.call("PUT", "/admin/users/"+u.ID, map[string]any{"ban_duration": "none", "email": "Moved@Example.com"})
	wantStatus(t, r, 200)
	got = apiUser{}
	r.json(t, &got)
	if got.BannedUntil != nil || got.Email != "moved@example.com" || len(got.Identities) != 1 || got.Identities[0].Email != "moved@example.com" {
		t.Errorf("after unban and email change: %s", r.body)
	}

	errs := []struct {
		name, id string
		body     any
		status   int
		want     string
	}{
		{"weak password", u.ID, map[string]any{"password": "abc"}, 422, `{"code":422,"error_code":"weak_password","msg":"Password should be at least 6 characters.","weak_password":{"reasons":["length"]}}`},
		{"not a uuid", "nope", map[string]any{}, 404, `{"code":404,"error_code":"validation_failed","msg":"user_id must be an UUID"}`},
		{"unknown user", "6b0c1f6e-0000-4000-8000-000000000000", map[string]any{}, 404, `{"code":404,"error_code":"user_not_found","msg":"User not found"}`},
		{"bad json", u.ID, "{", 400, ""},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			r := a.call("PUT", "/admin/users/"+tt.id, tt.body)
			wantStatus(t, r, tt.status)
			if tt.want != "" {
				wantJSON(t, r, tt.want)
			}
		})
	}
}

func TestAdminDeleteUser(t *testing.T) {
	st := newStack(t, localsupabase.Config{})
	a := newAuthAdmin(t, st)
	hard := a.createUser(t, map[string]any{"email": "hard@example.com"})
	soft := a.createUser(t, map[string]any{"email": "soft@example.com"})

	r := a.call("DELETE", "/admin/users/"+hard.ID, nil)
	wantStatus(t, r, 200)
	wantJSON(t, r, `{}`)
	wantStatus(t, a.call("GET", "/admin/users/"+hard.ID, nil), 404)

	r = a.call("DELETE", "/admin/users/"+soft.ID, map[string]any{"should_soft_delete": true})
	wantStatus(t, r, 200)
	wantJSON(t, r, `{}`)
	r = a.call("GET", "/admin/users/"+soft.ID, nil)
	wantStatus(t, r, 200)
	var got apiUser
	r.json(t, &got)
	if got.DeletedAt == nil || got.Email == "soft@example.com" {
		t.Errorf("soft-deleted user %s", r.body)
	}
	// The address is free again.
	a.createUser(t, map[string]any{"email": "soft@example.com"})
}

func TestInviteAndGenerateLink(t *testing.T) {
	st := newStack(t, localsupabase.Config{})
	a := newAuthAdmin(t, st)
	r := a.call("POST", "/invite", map[string]any{"email": "Invitee@Example.com", "data": map[string]any{"team": "a"}})
	wantStatus(t, r, 200)
	var inv apiUser
	r.json(t, &inv)
	if inv.InvitedAt == nil || inv.Email != "invitee@example.com" || inv.UserMetadata["team"] != "a" {
		t.Errorf("invited user %s", r.body)
	}
	// Re-inviting an unconfirmed user re-sends; a confirmed one is refused.
	wantStatus(t, a.call("POST", "/invite", map[string]any{"email": "invitee@example.com"}), 200)
	wantStatus(t, a.call("PUT", "/admin/users/"+inv.ID, map[string]any{"email_confirm": true}), 200)
	r = a.call("POST", "/invite", map[string]any{"email": "invitee@example.com"})
	wantStatus(t, r, 422)
	wantJSON(t, r, `{"code":422,"error_code":"email_exists","msg":"A user with this email address has already been registered"}`)

	tests := []struct {
		name   string
		body   map[string]any
		status int
		vtype  string
	}{
		{"magiclink for unknown email becomes signup", map[string]any{"type": "magiclink", "email": "ml@example.com"}, 200, "signup"},
		{"magiclink for known email", map[string]any{"type": "magiclink", "email": "ml@example.com"}, 200, "magiclink"},
		{"recovery", map[string]any{"type": "recovery", "email": "ml@example.com", "redirect_to": "https://app.example.com/reset"}, 200, "recovery"},
		{"recovery unknown", map[string]any{"type": "recovery", "email": "ghost@example.com"}, 404, ""},
		{"invite confirmed", map[string]any{"type": "invite", "email": "invitee@example.com"}, 422, ""},
		{"bad type", map[string]any{"type": "teleport", "email": "ml@example.com"}, 400, ""},
		{"email change", map[string]any{"type": "email_change_new", "email": "ml@example.com", "new_email": "ml2@example.com"}, 200, "email_change_new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.call("POST", "/admin/generate_link", tt.body)
			wantStatus(t, r, tt.status)
			if tt.status != 200 {
				return
			}
			var l struct {
				ID               string `json:"id"`
				Email            string `json:"email"`
				ActionLink       string `json:"action_link"`
				EmailOTP         string `json:"email_otp"`
				HashedToken      string `json:"hashed_token"`
				VerificationType string `json:"verification_type"`
				RedirectTo       string `json:"redirect_to"`
			}
			r.json(t, &l)
			if l.VerificationType != tt.vtype || len(l.EmailOTP) != 6 || l.ID == "" || l.Email != "ml@example.com" {
				t.Errorf("link response %s", r.body)
			}
			if !strings.HasPrefix(l.ActionLink, a.p.APIURL+"/auth/v1/verify?token="+l.HashedToken+"&type="+tt.vtype+"&redirect_to=") {
				t.Errorf("action_link %s", l.ActionLink)
			}
		})
	}
}

func TestAuthAdminCredentials(t *testing.T) {
	st := newStack(t, localsupabase.Config{})
	c := newClient(t, st)
	p := st.Project()
	expired := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"role": "service_role", "exp": time.Now().Add(-time.Hour).Unix()})
	expiredTok, _ := expired.SignedString([]byte(p.JWTSecret))
	otherSecret, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"role": "service_role"}).SignedString([]byte("another-secret-another-secret-another"))
	tests := []struct {
		name    string
		headers []string
		status  int
		want    string
	}{
		{"secret key only", []string{"apikey", p.SecretKey}, 200, ""},
		{"secret key in both", []string{"apikey", p.SecretKey, "Authorization", "Bearer " + p.SecretKey}, 200, ""},
		{"service role key only", []string{"apikey", p.ServiceRoleKey}, 200, ""},
		{"anon key", []string{"apikey", p.AnonKey}, 403, `{"code":403,"error_code":"not_admin","msg":"User not allowed"}`},
		{"publishable key", []string{"apikey", p.PublishableKey}, 403, `{"code":403,"error_code":"not_admin","msg":"User not allowed"}`},
		{"no key", nil, 401, `{"message":"No API key found in request","hint":"No ` + "`apikey`" + ` request header or url param was found."}`},
		{"wrong key", []string{"apikey", "sb_secret_wrong"}, 401, `{"message":"Invalid API key","hint":"Double check your Supabase ` + "`anon`" + ` or ` + "`service_role`" + ` API key."}`},
		{"expired bearer", []string{"apikey", p.AnonKey, "Authorization", "Bearer " + expiredTok}, 403, `{"code":403,"error_code":"bad_jwt","msg":"invalid JWT: unable to parse or verify signature, token has invalid claims: token is expired"}`},
		{"foreign signature", []string{"apikey", p.AnonKey, "Authorization", "Bearer " + otherSecret}, 403, `{"code":403,"error_code":"bad_jwt","msg":"invalid JWT: unable to parse or verify signature, token signature is invalid: signature is invalid"}`},
		{"secret key from a browser", []string{"apikey", p.SecretKey, "User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"}, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do("GET", p.APIURL+"/auth/v1/admin/users?per_page=1", nil, tt.headers...)
			wantStatus(t, r, tt.status)
			if tt.want != "" {
				wantJSON(t, r, tt.want)
			}
		})
	}
}

func TestAuthBodyLimit(t *testing.T) {
	st := newStack(t, localsupabase.Config{})
	a := newAuthAdmin(t, st)
	big := `{"email":"big@example.com","user_metadata":{"x":"` + strings.Repeat("a", 1<<20) + `"}}`
	r := a.call("POST", "/admin/users", big, "Content-Type", "application/json")
	wantStatus(t, r, 413)
	wantJSON(t, r, `{"code":413,"error_code":"request_entity_too_large","msg":"Request body too large (max 1048576 bytes)"}`)
	justUnder := `{"email":"ok@example.com","user_metadata":{"x":"` + strings.Repeat("a", 1<<20-100) + `"}}`
	wantStatus(t, a.call("POST", "/admin/users", justUnder, "Content-Type", "application/json"), 200)
}
