package link

import (
	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/credentials"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/httpapi"
)

// Mount registers the link function's routes on rt, wired to a: the
// credentials manager saves what a link validated, and the process's event
// recorder records the account events.
func Mount(rt *httpapi.Router, a *app.App) {
	rec := events.New(a)
	mgr := credentials.New(a, rec)
	New(a, mgr, rec, events.AccountEvent, mgr.OAuthConfig).Register(rt)
}
