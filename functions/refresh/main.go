// Command refresh is the Lambda function that keeps OAuth grants fresh:
// EventBridge Scheduler runs it every five minutes, and it serves POST
// /integrated-accounts/{id}/refresh.
package main

import (
	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/credentials"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/lambdaweb"
)

func main() {
	a := app.Main("refresh")
	m := credentials.New(a, events.New(a))
	rt := httpapi.NewRouter()
	(&credentials.Handler{Accounts: a.Store, Auth: a.Auth, Manager: m}).Register(rt)
	lambdaweb.StartMixed(a.Serve(rt), m.HandleSchedule)
}
