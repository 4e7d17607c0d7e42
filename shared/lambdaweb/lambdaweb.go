// Package lambdaweb runs a net/http handler as a Lambda function behind an
// API Gateway HTTP API (payload format 2.0), through aws-lambda-go-api-proxy.
// Handlers stay plain net/http; only main knows they run on Lambda.
package lambdaweb

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/supabridge/supabridge/shared/httpapi"
)

// Handler adapts h to API Gateway HTTP API events. API Gateway's request ID
// becomes the request's X-Request-Id when the caller sent none, so one ID
// ties API Gateway's access log to ours.
func Handler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	adapter := httpadapter.NewV2(withGatewayRequestID(h))
	return adapter.ProxyWithContext
}

// Start hands h to the Lambda runtime; it does not return.
func Start(h http.Handler) { lambda.Start(Handler(h)) }

func withGatewayRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(httpapi.RequestIDHeader) == "" {
			if gw, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok && gw.RequestID != "" {
				r.Header.Set(httpapi.RequestIDHeader, gw.RequestID)
			}
		}
		h.ServeHTTP(w, r)
	})
}
