package supabase

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// authAPIVersion selects Auth's dated error shape ({code, message} with the
// error code as a string), as supabase-js does.
const authAPIVersion = "2024-01-01"

// AuthHealth is GET /auth/v1/health.
type AuthHealth struct {
	Version     string `json:"version"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// AuthSettings is GET /auth/v1/settings, readable with any valid key.
type AuthSettings struct {
	External          map[string]bool `json:"external"`
	DisableSignup     bool            `json:"disable_signup"`
	MailerAutoconfirm bool            `json:"mailer_autoconfirm"`
	PhoneAutoconfirm  bool            `json:"phone_autoconfirm"`
	SMSProvider       string          `json:"sms_provider"`
	SAMLEnabled       bool            `json:"saml_enabled"`
}

// User is an Auth user as the admin API returns it. Optional timestamps are
// nil when absent; Identities is nil in list items (the server does not load
// them there).
type User struct {
	ID                     string         `json:"id"`
	Aud                    string         `json:"aud"`
	Role                   string         `json:"role"`
	Email                  string         `json:"email"`
	Phone                  string         `json:"phone"`
	EmailConfirmedAt       *time.Time     `json:"email_confirmed_at,omitempty"`
	PhoneConfirmedAt       *time.Time     `json:"phone_confirmed_at,omitempty"`
	ConfirmationSentAt     *time.Time     `json:"confirmation_sent_at,omitempty"`
	ConfirmedAt            *time.Time     `json:"confirmed_at,omitempty"`
	InvitedAt              *time.Time     `json:"invited_at,omitempty"`
	RecoverySentAt         *time.Time     `json:"recovery_sent_at,omitempty"`
	NewEmail               string         `json:"new_email,omitempty"`
	EmailChangeSentAt      *time.Time     `json:"email_change_sent_at,omitempty"`
	NewPhone               string         `json:"new_phone,omitempty"`
	PhoneChangeSentAt      *time.Time     `json:"phone_change_sent_at,omitempty"`
	ReauthenticationSentAt *time.Time     `json:"reauthentication_sent_at,omitempty"`
	LastSignInAt           *time.Time     `json:"last_sign_in_at,omitempty"`
	AppMetadata            map[string]any `json:"app_metadata"`
	UserMetadata           map[string]any `json:"user_metadata"`
	Identities             []Identity     `json:"identities"`
	Factors                []Factor       `json:"factors,omitempty"`
	CreatedAt              time.Time      `json:"created_at"`
	UpdatedAt              time.Time      `json:"updated_at"`
	BannedUntil            *time.Time     `json:"banned_until,omitempty"`
	DeletedAt              *time.Time     `json:"deleted_at,omitempty"`
	IsAnonymous            bool           `json:"is_anonymous"`
}

// Identity is a user's identity with a provider. The platform's ID is the
// provider's id for the user and IdentityID the row's uuid.
type Identity struct {
	IdentityID   string         `json:"identity_id"`
	ID           string         `json:"id"`
	UserID       string         `json:"user_id"`
	IdentityData map[string]any `json:"identity_data,omitempty"`
	Provider     string         `json:"provider"`
	LastSignInAt *time.Time     `json:"last_sign_in_at,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	Email        string         `json:"email,omitempty"`
}

// Factor is an MFA factor of a user.
type Factor struct {
	ID           string    `json:"id"`
	FriendlyName string    `json:"friendly_name,omitempty"`
	FactorType   string    `json:"factor_type"`
	Status       string    `json:"status"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// AdminUserAttributes is the body of admin create and update. Empty fields
// are omitted, so on update they leave the user unchanged; metadata maps are
// merged key by key, and a key whose value is nil is removed.
type AdminUserAttributes struct {
	// ID picks the new user's uuid (create only).
	ID    string `json:"id,omitempty"`
	Aud   string `json:"aud,omitempty"`
	Role  string `json:"role,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	// Password and PasswordHash (bcrypt, argon2 or firebase-scrypt) are
	// mutually exclusive.
	Password     string         `json:"password,omitempty"`
	PasswordHash string         `json:"password_hash,omitempty"`
	EmailConfirm bool           `json:"email_confirm,omitempty"`
	PhoneConfirm bool           `json:"phone_confirm,omitempty"`
	UserMetadata map[string]any `json:"user_metadata,omitempty"`
	AppMetadata  map[string]any `json:"app_metadata,omitempty"`
	// BanDuration is a Go duration string ("24h") or "none" to lift a ban.
	BanDuration string `json:"ban_duration,omitempty"`
}

// String keeps passwords out of anything that prints the attributes.
func (a AdminUserAttributes) String() string {
	return "AdminUserAttributes{Email: " + strconv.Quote(a.Email) + ", Password: " + redacted + "}"
}

// GoString keeps passwords out of %#v.
func (a AdminUserAttributes) GoString() string { return a.String() }

// ListUsersOptions select a page of users. The zero value asks for the
// server's first page of its default size (50).
type ListUsersOptions struct {
	// Page is 1-based (0: the first page).
	Page int
	// PerPage is the page size (0: the server's default).
	PerPage int
	// Filter matches emails and full names.
	Filter string
	// Sort is "created_at asc" or "created_at desc" (the default).
	Sort string
}

// InviteOptions are the optional parts of an invitation.
type InviteOptions struct {
	// Data becomes the user's user_metadata.
	Data map[string]any
	// RedirectTo is where the invitation link leads after verification.
	RedirectTo string
}

// GenerateLinkRequest is the body of POST /auth/v1/admin/generate_link.
type GenerateLinkRequest struct {
	// Type is signup, invite, magiclink, recovery, email_change_current or
	// email_change_new.
	Type       string         `json:"type"`
	Email      string         `json:"email"`
	NewEmail   string         `json:"new_email,omitempty"`
	Password   string         `json:"password,omitempty"`
	Data       map[string]any `json:"data,omitempty"`
	RedirectTo string         `json:"redirect_to,omitempty"`
}

// GenerateLinkResponse is the user with the generated link's properties.
// ActionLink and EmailOTP let whoever holds them sign in as the user.
type GenerateLinkResponse struct {
	User
	ActionLink       string `json:"action_link"`
	EmailOTP         string `json:"email_otp"`
	HashedToken      string `json:"hashed_token"`
	VerificationType string `json:"verification_type"`
	RedirectTo       string `json:"redirect_to"`
}

func (s *AuthService) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	req, err := s.client.NewRequest(ctx, method, "auth/v1/"+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Supabase-Api-Version", authAPIVersion)
	return req, nil
}

func (s *AuthService) do(ctx context.Context, method, path string, body, v any) (*Response, error) {
	req, err := s.newRequest(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	return s.client.Do(req, v)
}

// Health returns the Auth server's name and version; any valid key may
// call it.
func (s *AuthService) Health(ctx context.Context) (*AuthHealth, *Response, error) {
	out := new(AuthHealth)
	resp, err := s.do(ctx, http.MethodGet, "health", nil, out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// Settings returns the project's public Auth settings; any valid key may
// call it, which makes it the probe for publishable keys.
func (s *AuthService) Settings(ctx context.Context) (*AuthSettings, *Response, error) {
	out := new(AuthSettings)
	resp, err := s.do(ctx, http.MethodGet, "settings", nil, out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// ListUsers returns one page of users (admin: service_role or secret key).
// resp.NextPage and resp.LastPage come from the Link header, resp.Total from
// X-Total-Count.
func (s *AuthService) ListUsers(ctx context.Context, opts *ListUsersOptions) ([]*User, *Response, error) {
	q := url.Values{}
	if opts != nil {
		if opts.Page > 0 {
			q.Set("page", strconv.Itoa(opts.Page))
		}
		if opts.PerPage > 0 {
			q.Set("per_page", strconv.Itoa(opts.PerPage))
		}
		if opts.Filter != "" {
			q.Set("filter", opts.Filter)
		}
		if opts.Sort != "" {
			q.Set("sort", opts.Sort)
		}
	}
	path := "admin/users"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var body struct {
		Users []*User `json:"users"`
	}
	resp, err := s.do(ctx, http.MethodGet, path, nil, &body)
	if err != nil {
		return nil, resp, err
	}
	links := ParseLink(resp.Header.Get("Link"))
	if next, ok := links["next"]; ok {
		resp.NextPage = pageOf(next)
	}
	if last, ok := links["last"]; ok {
		resp.LastPage = pageOf(last)
	}
	if n, ok := parseNonNeg(resp.Header.Get("X-Total-Count")); ok {
		resp.Total = n
	}
	return body.Users, resp, nil
}

// ListUsersIter yields every user opts selects, page after page from
// opts.Page. opts is not modified. Iteration stops at the first error,
// which is yielded. Users created or deleted while it runs can shift pages
// (offset paging), so an item may be skipped or seen twice.
func (s *AuthService) ListUsersIter(ctx context.Context, opts *ListUsersOptions) iter.Seq2[*User, error] {
	var o ListUsersOptions
	if opts != nil {
		o = *opts
	}
	return func(yield func(*User, error) bool) {
		page := o
		if page.Page < 1 {
			page.Page = 1
		}
		for {
			users, resp, err := s.ListUsers(ctx, &page)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, u := range users {
				if !yield(u, nil) {
					return
				}
			}
			if resp.NextPage <= page.Page || len(users) == 0 {
				return
			}
			page.Page = resp.NextPage
		}
	}
}

func userPath(id string) (string, error) {
	seg, err := segment("user id", id)
	if err != nil {
		return "", err
	}
	return "admin/users/" + seg, nil
}

// GetUser returns one user, identities and factors included.
func (s *AuthService) GetUser(ctx context.Context, id string) (*User, *Response, error) {
	p, err := userPath(id)
	if err != nil {
		return nil, nil, err
	}
	out := new(User)
	resp, err := s.do(ctx, http.MethodGet, p, nil, out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// CreateUser creates a user without sending any email. Creating an email
// or phone that exists is an *APIError with Code email_exists or
// phone_exists (422).
func (s *AuthService) CreateUser(ctx context.Context, attrs *AdminUserAttributes) (*User, *Response, error) {
	if attrs == nil {
		return nil, nil, errors.New("supabase: nil AdminUserAttributes")
	}
	out := new(User)
	resp, err := s.do(ctx, http.MethodPost, "admin/users", attrs, out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// UpdateUser changes the attributes that are set and returns the user.
func (s *AuthService) UpdateUser(ctx context.Context, id string, attrs *AdminUserAttributes) (*User, *Response, error) {
	if attrs == nil {
		return nil, nil, errors.New("supabase: nil AdminUserAttributes")
	}
	p, err := userPath(id)
	if err != nil {
		return nil, nil, err
	}
	out := new(User)
	resp, err := s.do(ctx, http.MethodPut, p, attrs, out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// DeleteUser deletes a user: for good (identities with it), or, with
// softDelete, by marking it deleted and obfuscating its email and phone.
func (s *AuthService) DeleteUser(ctx context.Context, id string, softDelete bool) (*Response, error) {
	p, err := userPath(id)
	if err != nil {
		return nil, err
	}
	var body any
	if softDelete {
		body = map[string]bool{"should_soft_delete": true}
	}
	return s.do(ctx, http.MethodDelete, p, body, nil)
}

// InviteUser creates the user if needed and sends an invitation email
// (subject to the project's email rate limit: a *RateLimitError).
func (s *AuthService) InviteUser(ctx context.Context, email string, opts *InviteOptions) (*User, *Response, error) {
	body := map[string]any{"email": email}
	path := "invite"
	if opts != nil {
		if opts.Data != nil {
			body["data"] = opts.Data
		}
		if opts.RedirectTo != "" {
			path += "?" + url.Values{"redirect_to": {opts.RedirectTo}}.Encode()
		}
	}
	out := new(User)
	resp, err := s.do(ctx, http.MethodPost, path, body, out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// GenerateLink creates a sign-up, invite, magic-link, recovery or
// email-change link without sending email.
func (s *AuthService) GenerateLink(ctx context.Context, r *GenerateLinkRequest) (*GenerateLinkResponse, *Response, error) {
	if r == nil {
		return nil, nil, errors.New("supabase: nil GenerateLinkRequest")
	}
	out := new(GenerateLinkResponse)
	resp, err := s.do(ctx, http.MethodPost, "admin/generate_link", r, out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}
