// Package supabase is Supabridge's client for Supabase's HTTP APIs: the
// Management API (api.supabase.com), and a project's Auth admin API
// (/auth/v1) and Data API (PostgREST, /rest/v1).
//
// One Client holds an *http.Client and a base URL; its services are views
// over it:
//
//	mc, err := supabase.NewManagementClient("", tokenSource)  // api.supabase.com
//	orgs, _, err := mc.Management.ListOrganizations(ctx)
//
//	pc, err := supabase.NewProjectClient("https://<ref>.supabase.co", key)
//	users, resp, err := pc.Auth.ListUsers(ctx, &supabase.ListUsersOptions{PerPage: 100})
//	resp, err = pc.REST.Select(ctx, "profiles", &supabase.SelectOptions{
//		Filters: []supabase.Filter{supabase.In("org_id", a, b)},
//	}, &rows)
//
// List methods return one page and a *Response that knows where the next
// page starts (NextPage, NextOffset) and, when the server says, the total.
// The ...Iter methods and SelectIter walk every page.
//
// Every non-2xx answer becomes an error from CheckResponse: *RateLimitError
// for 429, otherwise *APIError, carrying Supabase's own code, message, hint
// and details in whichever shape the answering service used. Detect them
// with errors.As:
//
//	var rl *supabase.RateLimitError
//	if errors.As(err, &rl) {
//		time.Sleep(rl.RetryAfter)
//	}
//
// Errors never contain the credentials the client sends: URLs and bodies are
// scrubbed of API keys and tokens before they reach an error.
//
// This package knows nothing of Supabridge's domain; its wire types stay
// inside it.
package supabase
