// Command proxy is the Lambda function serving /proxy/{path+}: Supabase's
// APIs, 1 to 1, with the integrated account's credentials.
package main

import (
	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/lambdaweb"
	"github.com/supabridge/supabridge/shared/proxy"
)

func main() {
	a := app.Main("proxy")
	h := proxy.New(a)
	// The API Gateway adapter holds whole responses in memory.
	h.MaxResponse = proxy.LambdaPayloadLimit
	rt := httpapi.NewRouter()
	h.Register(rt)
	// The proxy limits bodies itself (Lambda's 6 MB).
	lambdaweb.Start(httpapi.Serve(rt, httpapi.Options{Logger: a.Logger, MaxBody: -1}))
}
