// Command link is the Lambda function serving link tokens, the hosted
// connect page, sdk.js and the OAuth callback.
package main

import (
	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/lambdaweb"
	"github.com/supabridge/supabridge/shared/link"
)

func main() {
	a := app.Main("link")
	rt := httpapi.NewRouter()
	link.Mount(rt, a)
	lambdaweb.Start(a.Serve(rt))
}
