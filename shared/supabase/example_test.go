package supabase_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"golang.org/x/oauth2"

	"github.com/supabridge/supabridge/shared/supabase"
)

// A project client authenticates with one of the project's API keys; the
// Auth admin API needs a service_role or sb_secret_ key.
func ExampleNewProjectClient() {
	ctx := context.Background()
	c, err := supabase.NewProjectClient("https://abcdefghijklmnopqrst.supabase.co", "sb_secret_…")
	if err != nil {
		log.Fatal(err)
	}
	users, resp, err := c.Auth.ListUsers(ctx, &supabase.ListUsersOptions{PerPage: 100})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(users), "of", resp.Total, "users; next page", resp.NextPage)
}

// A Management API client takes an OAuth grant's token source, which
// refreshes as needed.
func ExampleNewManagementClient() {
	ctx := context.Background()
	conf := &oauth2.Config{ClientID: "…", ClientSecret: "…", Endpoint: oauth2.Endpoint{
		TokenURL: supabase.DefaultManagementURL + "/v1/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	var stored *oauth2.Token // from the code exchange
	c, err := supabase.NewManagementClient("", conf.TokenSource(ctx, stored))
	if err != nil {
		log.Fatal(err)
	}
	orgs, _, err := c.Management.ListOrganizations(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range orgs {
		members, _, err := c.Management.ListMembers(ctx, o.Slug)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(o.Name, len(members))
	}
}

// Keys are classified offline: legacy JWTs by their role claim, opaque
// keys by prefix.
func ExampleClassifyKey() {
	for _, key := range []string{
		"sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH",
		"sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz",
		// {"iss":"supabase","role":"service_role"}
		"eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJzdXBhYmFzZSIsInJvbGUiOiJzZXJ2aWNlX3JvbGUifQ.sig",
		"sbp_0123456789abcdef",
	} {
		info, err := supabase.ClassifyKey(key)
		if err != nil {
			fmt.Println(errors.Is(err, supabase.ErrUnrecognizedKey))
			continue
		}
		fmt.Println(info.Kind, info.Role, info.BypassesRLS)
	}
	// Output:
	// publishable anon false
	// secret service_role true
	// legacy service_role true
	// true
}

// Filters quote values where PostgREST's grammar needs it.
func ExampleFilter() {
	fmt.Println(supabase.Eq("name", "O'Brien, Jr."))
	fmt.Println(supabase.In("org", "a,b", `say "hi"`))
	fmt.Println(supabase.Or(supabase.Is("deleted_at", supabase.IsNull), supabase.Gt("updated_at", "2026-01-01")))
	fmt.Println(supabase.Not(supabase.Contains("tags", "x", "y z")))
	// Output:
	// name=eq.O'Brien, Jr.
	// org=in.("a,b","say \"hi\"")
	// or=(deleted_at.is.null,updated_at.gt."2026-01-01")
	// tags=not.cs.{"x","y z"}
}

// SelectIter walks a table page by page; order by a unique key so pages do
// not overlap.
func ExampleSelectIter() {
	ctx := context.Background()
	c, err := supabase.NewProjectClient("https://abcdefghijklmnopqrst.supabase.co", "sb_secret_…")
	if err != nil {
		log.Fatal(err)
	}
	type profile struct {
		ID    string `json:"id"`
		OrgID string `json:"org_id"`
	}
	opts := &supabase.SelectOptions{
		Columns: []string{"id", "org_id"},
		Filters: []supabase.Filter{supabase.In("org_id", "org-a", "org-b")},
		Order:   []supabase.Order{{Column: "id"}},
		Limit:   500,
	}
	for p, err := range supabase.SelectIter[profile](ctx, c.REST, "profiles", opts) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(p.ID, p.OrgID)
	}
}

// Rate limits and Supabase's own errors are told apart with errors.As.
func ExampleRateLimitError() {
	ctx := context.Background()
	c, err := supabase.NewPersonalAccessTokenClient("", "sbp_…")
	if err != nil {
		log.Fatal(err)
	}
	for {
		_, _, err := c.Management.ListProjects(ctx)
		var rl *supabase.RateLimitError
		var ae *supabase.APIError
		switch {
		case errors.As(err, &rl):
			time.Sleep(max(rl.RetryAfter, time.Second))
			continue
		case errors.As(err, &ae):
			log.Fatalf("Supabase said %d %s: %s", ae.StatusCode, ae.Code, ae.Message)
		case err != nil:
			log.Fatal(err)
		}
		return
	}
}
