// Command webhooks is the Lambda function serving the webhooks routes:
// create, list, delete and test.
package main

import (
	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/lambdaweb"
)

func main() {
	a := app.Main("webhooks")
	rt := httpapi.NewRouter()
	events.Mount(rt, a)
	lambdaweb.Start(a.Serve(rt))
}
