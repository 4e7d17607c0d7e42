// Command directory is the Lambda function serving the unified User
// Directory API (/unified/user-directory/...) and the OpenAPI document.
package main

import (
	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/lambdaweb"
	"github.com/supabridge/supabridge/shared/openapi"
	"github.com/supabridge/supabridge/shared/userdir"
)

func main() {
	a := app.Main("directory")
	rt := httpapi.NewRouter()
	userdir.Mount(rt, a)
	openapi.Mount(rt, a)
	lambdaweb.Start(a.Serve(rt))
}
