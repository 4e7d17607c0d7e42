// Package bundle lists Supabridge's deployable functions as code: the routes
// each HTTP function serves and the jobs each scheduled function runs. The
// local runner serves them all from one process, and the template tests
// check that template.yaml declares exactly these routes and schedules. No
// deployed function imports this package: each function's main wires only
// its own feature.
package bundle

import (
	"context"
	"time"

	"github.com/supabridge/supabridge/shared/accounts"
	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/credentials"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/link"
	"github.com/supabridge/supabridge/shared/openapi"
	"github.com/supabridge/supabridge/shared/proxy"
	"github.com/supabridge/supabridge/shared/userdir"
)

// Function is one folder under functions/.
type Function struct {
	// Name is the folder name; the template's logical ID is its
	// CamelCase form plus "Function".
	Name string
	// Mount registers the function's HTTP routes (nil: no HTTP routes).
	Mount func(*httpapi.Router, *app.App)
	// MaxBody is the function's request body limit: 0 means
	// httpapi.DefaultMaxBody, negative means the function enforces its own.
	MaxBody int64
	// Job is the function's scheduled work (nil: not scheduled), run every
	// Every by the local runner and by an EventBridge schedule on AWS.
	Job   func(context.Context, *app.App) error
	Every time.Duration
}

// Functions returns every function of the bundle.
func Functions() []Function {
	return []Function{
		{Name: "accounts", Mount: accounts.Mount},
		{Name: "link", Mount: link.Mount},
		{Name: "proxy", Mount: proxy.Mount, MaxBody: -1},
		{Name: "refresh", Mount: credentials.Mount, Job: credentials.Job, Every: 5 * time.Minute},
		{Name: "webhooks", Mount: events.Mount},
		{Name: "delivery", Job: events.SweepJob, Every: time.Minute},
		{Name: "directory", Mount: func(rt *httpapi.Router, a *app.App) {
			userdir.Mount(rt, a)
			openapi.Mount(rt, a)
		}},
	}
}
