package link_test

import (
	"context"
	"fmt"

	"github.com/supabridge/supabridge/shared/link"
)

// An environment's allowlist takes exact URLs and "/*" prefixes.
func ExampleAllowlist_Check() {
	al := link.Allowlist{Entries: []string{
		"https://app.example.com/linked",
		"https://app.example.com/callbacks/*",
	}}
	for _, uri := range []string{
		"https://app.example.com/linked",
		"https://app.example.com/callbacks/supabase?step=2",
		"https://app.example.com.evil.test/callbacks/",
	} {
		fmt.Println(uri, al.Check(uri) == nil)
	}
	// Output:
	// https://app.example.com/linked true
	// https://app.example.com/callbacks/supabase?step=2 true
	// https://app.example.com.evil.test/callbacks/ false
}

// Project URLs are reduced to their origin; in production only public
// https hosts pass.
func ExampleUpstreams_CheckURL() {
	prod := &link.Upstreams{}
	_, err := prod.CheckURL(context.Background(), "https://169.254.169.254")
	fmt.Println(err != nil)

	sandbox := &link.Upstreams{AllowPrivate: true}
	u, _ := sandbox.CheckURL(context.Background(), "HTTP://127.0.0.1:54321/")
	fmt.Println(u)
	// Output:
	// true
	// http://127.0.0.1:54321
}
