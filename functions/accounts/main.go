// Command accounts is the Lambda function serving the integrated-accounts
// routes and the health check.
package main

import (
	"github.com/supabridge/supabridge/shared/accounts"
	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/lambdaweb"
)

func main() {
	a := app.Main("accounts")
	rt := httpapi.NewRouter()
	accounts.Mount(rt, a)
	lambdaweb.Start(a.Serve(rt))
}
