package proxy_test

import (
	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/lambdaweb"
	"github.com/supabridge/supabridge/shared/proxy"
)

// The proxy function's wiring: on Lambda responses must fit the
// invocation payload, and the handler limits request bodies itself.
func Example() {
	a := app.Main("proxy")
	h := proxy.New(a)
	h.MaxResponse = proxy.LambdaPayloadLimit
	lambdaweb.Start(httpapi.Serve(h, httpapi.Options{Logger: a.Logger, MaxBody: -1}))
}

// Behind a router shared with other routes, as the local runner serves the
// bundle.
func ExampleMount() {
	a := app.Main("local")
	rt := httpapi.NewRouter()
	proxy.Mount(rt, a)
	_ = a.Serve(rt)
}
