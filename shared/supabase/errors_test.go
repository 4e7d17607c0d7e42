package supabase

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func asAPIError(err error, target **APIError) bool { return errors.As(err, target) }

func TestCheckResponse_Shapes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   APIError // Code, Message, Hint, Details
	}{
		{"management", 403, `{"message":"Your account does not have the necessary privileges to access this endpoint."}`,
			APIError{Message: "Your account does not have the necessary privileges to access this endpoint."}},
		{"management not found (NestJS)", 404, `{"message":"Cannot GET /v1/nope","error":"Not Found","statusCode":404}`,
			APIError{Message: "Cannot GET /v1/nope"}},
		{"management validation list", 400, `{"message":["name must be a string","db_pass should not be empty"],"error":"Bad Request","statusCode":400}`,
			APIError{Message: "name must be a string; db_pass should not be empty"}},
		{"management scoped PAT", 403, `{"message":"Forbidden","missing_permissions":["members_read","projects_read"]}`,
			APIError{Message: "Forbidden", Details: "missing permissions: members_read, projects_read"}},
		{"management v2", 403, `{"error":{"code":"forbidden.permission_denied","message":"Forbidden: Permission denied"}}`,
			APIError{Code: "forbidden.permission_denied", Message: "Forbidden: Permission denied"}},
		{"auth legacy", 422, `{"code":422,"error_code":"email_exists","msg":"A user with this email address has already been registered"}`,
			APIError{Code: "email_exists", Message: "A user with this email address has already been registered"}},
		{"auth legacy 5xx with error id", 500, `{"code":500,"error_code":"unexpected_failure","msg":"Unexpected failure","error_id":"abc"}`,
			APIError{Code: "unexpected_failure", Message: "Unexpected failure"}},
		{"auth 2024-01-01", 403, `{"code":"not_admin","message":"User not allowed"}`,
			APIError{Code: "not_admin", Message: "User not allowed"}},
		{"auth weak password", 422, `{"code":"weak_password","message":"Password should be at least 6 characters.","weak_password":{"reasons":["length"]}}`,
			APIError{Code: "weak_password", Message: "Password should be at least 6 characters.", Details: "weak password: length"}},
		{"auth oauth style", 400, `{"error":"invalid_grant","error_description":"Refresh Token Not Found"}`,
			APIError{Code: "invalid_grant", Message: "Refresh Token Not Found"}},
		{"auth postgres passthrough", 500, `{"code":"23505","message":"duplicate key value","hint":null,"detail":"Key (email)=(a@b.c) already exists."}`,
			APIError{Code: "23505", Message: "duplicate key value", Details: "Key (email)=(a@b.c) already exists."}},
		{"postgrest", 404, `{"code":"PGRST205","details":null,"hint":"Perhaps you meant the table 'public.people'","message":"Could not find the table 'public.peple' in the schema cache"}`,
			APIError{Code: "PGRST205", Message: "Could not find the table 'public.peple' in the schema cache", Hint: "Perhaps you meant the table 'public.people'"}},
		{"postgrest details", 409, `{"code":"23505","details":"Key (id)=(1) already exists.","hint":null,"message":"duplicate key value violates unique constraint \"t_pkey\""}`,
			APIError{Code: "23505", Message: `duplicate key value violates unique constraint "t_pkey"`, Details: "Key (id)=(1) already exists."}},
		{"postgrest JSON details", 402, `{"code":"PT402","details":{"plan":"free"},"hint":null,"message":"Payment required"}`,
			APIError{Code: "PT402", Message: "Payment required", Details: `{"plan":"free"}`}},
		{"gateway", 401, "{\"message\":\"Invalid API key\",\"hint\":\"Double check your Supabase `anon` or `service_role` API key.\"}",
			APIError{Message: "Invalid API key", Hint: "Double check your Supabase `anon` or `service_role` API key."}},
		{"not JSON", 502, `<html>Bad gateway</html>`, APIError{Message: "Bad Gateway"}},
		{"empty", 503, ``, APIError{Message: "Service Unavailable"}},
		{"JSON but not an object", 500, `["x"]`, APIError{Message: "Internal Server Error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t, func(w http.ResponseWriter, _ *recorded) {
				reply(w, tc.status, map[string]string{"X-RateLimit-Remaining": "3"}, tc.body)
			})
			c := projectClient(t, fs)
			req, err := c.NewRequest(context.Background(), "GET", "rest/v1/people?select=*", nil)
			assertNoError(t, err)
			resp, err := c.Do(req, new(any))
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %T %v is not an *APIError", err, err)
			}
			assertEqual(t, "status", ae.StatusCode, tc.status)
			assertEqual(t, "code", ae.Code, tc.want.Code)
			assertEqual(t, "message", ae.Message, tc.want.Message)
			assertEqual(t, "hint", ae.Hint, tc.want.Hint)
			assertEqual(t, "details", ae.Details, tc.want.Details)
			assertEqual(t, "body", string(ae.Body), tc.body)
			assertEqual(t, "method", ae.Method, "GET")
			assertEqual(t, "url", ae.URL, fs.base()+"/rest/v1/people?select=*")
			assertEqual(t, "rate", ae.Rate.Remaining, 3)
			assertEqual(t, "header", ae.Header.Get("X-RateLimit-Remaining"), "3")
			if resp == nil || resp.StatusCode != tc.status {
				t.Errorf("response = %v, want status %d", resp, tc.status)
			}
			var rl *RateLimitError
			if errors.As(err, &rl) {
				t.Errorf("%d became a RateLimitError", tc.status)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tc.status)) || !strings.Contains(err.Error(), tc.want.Message) {
				t.Errorf("Error() = %q lacks status or message", err.Error())
			}
		})
	}
}

func TestCheckResponse_RateLimit(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"retry-after seconds", map[string]string{"Retry-After": "7", "X-RateLimit-Reset": "40"}, 7 * time.Second},
		{"retry-after date", map[string]string{"Retry-After": now.Add(90 * time.Second).UTC().Format(http.TimeFormat)}, 90 * time.Second},
		{"x-ratelimit-reset", map[string]string{"X-RateLimit-Limit": "120", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "42"}, 42 * time.Second},
		{"garbage", map[string]string{"Retry-After": "soon", "X-RateLimit-Reset": "-3"}, 0},
		{"none", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t, func(w http.ResponseWriter, _ *recorded) {
				reply(w, 429, tc.header, `{"message":"ThrottlerException: Too Many Requests"}`)
			})
			c := managementClient(t, fs)
			_, resp, err := c.Management.ListOrganizations(context.Background())
			var rl *RateLimitError
			if !errors.As(err, &rl) {
				t.Fatalf("error %T %v is not a *RateLimitError", err, err)
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.Message != "ThrottlerException: Too Many Requests" {
				t.Errorf("errors.As(*APIError) = %v", ae)
			}
			// An HTTP date has one-second resolution.
			if d := rl.RetryAfter - tc.want; d < -2*time.Second || d > 0 && tc.want == 0 || d > time.Second {
				t.Errorf("RetryAfter = %s, want %s", rl.RetryAfter, tc.want)
			}
			if resp == nil || resp.StatusCode != 429 {
				t.Errorf("response not returned with the error")
			}
			if tc.want > 0 && !strings.Contains(rl.Error(), "retry after") {
				t.Errorf("Error() = %q does not say when to retry", rl.Error())
			}
		})
	}
}

// TestErrorsCarryNoCredentials checks every error path: the client's own
// key, tokens echoed in bodies and URLs, and transport errors.
func TestErrorsCarryNoCredentials(t *testing.T) {
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
	echo := `{"message":"bad key ` + testKey + ` and ` + testPAT + `","hint":"Authorization: Bearer ` + jwt + `","details":"sbp_oauth_0123456789abcdef0123"}`
	fs := newFakeServer(t, func(w http.ResponseWriter, _ *recorded) { reply(w, 401, nil, echo) })
	secrets := []string{testKey, testPAT, jwt, "sbp_oauth_0123456789abcdef0123", "hunter2hunter2"}
	check := func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("no error")
		}
		assertNoSecret(t, "Error()", err.Error(), secrets...)
		assertNoSecret(t, "%+v", fmt.Sprintf("%+v", err), secrets...)
		var ae *APIError
		if errors.As(err, &ae) {
			assertNoSecret(t, "Body", string(ae.Body), secrets...)
			assertNoSecret(t, "fields", ae.Code+ae.Message+ae.Hint+ae.Details+ae.URL, secrets...)
		}
	}
	ctx := context.Background()
	t.Run("project key echoed", func(t *testing.T) {
		c := projectClient(t, fs)
		_, _, err := c.Auth.ListUsers(ctx, nil)
		check(t, err)
		if !strings.Contains(err.Error(), redacted) {
			t.Errorf("Error() = %q, want the echo redacted", err)
		}
	})
	t.Run("token echoed", func(t *testing.T) {
		c := managementClient(t, fs)
		_, _, err := c.Management.ListOrganizations(ctx)
		check(t, err)
	})
	t.Run("credentials in the URL", func(t *testing.T) {
		c := projectClient(t, fs)
		req, err := c.NewRequest(ctx, "GET", "rest/v1/t?apikey="+testKey+"&access_token="+jwt+"&password=hunter2hunter2&ok=1", nil)
		assertNoError(t, err)
		_, err = c.Do(req, nil)
		check(t, err)
		var ae *APIError
		if errors.As(err, &ae) && !strings.Contains(ae.URL, "ok=1") {
			t.Errorf("URL = %q lost its harmless parameters", ae.URL)
		}
	})
	t.Run("transport error", func(t *testing.T) {
		c, err := NewProjectClient("http://127.0.0.1:1/"+testKey, testKey)
		assertNoError(t, err)
		_, _, err = c.Auth.Health(ctx)
		check(t, err)
	})
	t.Run("base URL refused", func(t *testing.T) {
		_, err := NewProjectClient("ftp://host/"+testKey, testKey)
		check(t, err)
	})
	t.Run("keys", func(t *testing.T) {
		_, err := ClassifyKey("sbp_" + strings.Repeat("x", 40))
		check(t, err)
		_, err = ClassifyKey(strings.Replace(jwt, ".", ".!", 1))
		check(t, err)
	})
	t.Run("printing values", func(t *testing.T) {
		for _, v := range []any{
			APIKey{Name: "default", APIKey: testKey},
			&APIKeyTransport{Key: testKey},
			CreateProjectRequest{Name: "p", DBPass: "hunter2hunter2"},
			AdminUserAttributes{Email: "a@b.c", Password: "hunter2hunter2"},
		} {
			assertNoSecret(t, "%v", fmt.Sprintf("%v", v), secrets...)
			assertNoSecret(t, "%+v", fmt.Sprintf("%+v", v), secrets...)
			assertNoSecret(t, "%#v", fmt.Sprintf("%#v", v), secrets...)
		}
	})
}

func TestCheckResponse_Success(t *testing.T) {
	for _, code := range []int{200, 201, 204, 206} {
		if err := CheckResponse(&http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader(""))}); err != nil {
			t.Errorf("CheckResponse(%d) = %v", code, err)
		}
	}
}

// TestCheckResponse_BoundedBody checks a huge error body is read only up
// to MaxErrorBody and kept for later readers.
func TestCheckResponse_BoundedBody(t *testing.T) {
	big := strings.Repeat("x", 3*MaxErrorBody)
	r := &http.Response{StatusCode: 500, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(big))}
	err := CheckResponse(r)
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v", err)
	}
	assertEqual(t, "body length", len(ae.Body), MaxErrorBody)
	rest, _ := io.ReadAll(r.Body)
	assertEqual(t, "re-readable body length", len(rest), MaxErrorBody)
}

func TestDo_ContextCanceled(t *testing.T) {
	block := make(chan struct{})
	fs := newFakeServer(t, func(w http.ResponseWriter, _ *recorded) { <-block })
	defer close(block)
	c := projectClient(t, fs)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := c.Auth.Health(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want context.DeadlineExceeded", err)
	}
}

// FuzzCheckResponse feeds arbitrary bodies through CheckResponse: it must
// never panic, always produce an error, and never let a credential-shaped
// value through.
func FuzzCheckResponse(f *testing.F) {
	for _, s := range []string{
		`{"message":"x"}`, `{"code":422,"error_code":"e","msg":"m"}`, `{"code":"c","message":"m"}`,
		`{"code":"PGRST1","details":{"a":[1]},"hint":null,"message":"m"}`, `{"error":{"code":"c"}}`,
		`{"message":["a","b"],"missing_permissions":["p"]}`, `{"weak_password":{"reasons":[1]}}`, `null`, `{`,
	} {
		f.Add(429, s)
		f.Add(400, s)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 300 || status > 599 {
			status = 500
		}
		planted := body + " " + testKey
		r := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {body}}, Body: io.NopCloser(strings.NewReader(planted))}
		err := checkResponse(r, []string{testKey})
		if err == nil {
			t.Fatal("no error for a non-2xx status")
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			t.Fatalf("error %T", err)
		}
		if strings.Contains(err.Error(), testKey) || strings.Contains(string(ae.Body), testKey) {
			t.Fatalf("credential in %q", err.Error())
		}
		var rl *RateLimitError
		if errors.As(err, &rl) != (status == 429) || (rl != nil && rl.RetryAfter < 0) {
			t.Fatalf("status %d → %v", status, err)
		}
	})
}
