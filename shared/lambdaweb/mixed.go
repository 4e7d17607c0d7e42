package lambdaweb

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// Job handles a function's non-HTTP invocations: a schedule's Input, an SQS
// batch. Its error is returned to Lambda, which is meant: those sources
// retry.
type Job func(ctx context.Context, payload json.RawMessage) (any, error)

// MixedHandler serves a function that is both behind the HTTP API and
// invoked directly: API Gateway HTTP API events (payload format 2.0) go to
// h, every other payload to job.
func MixedHandler(h http.Handler, job Job) func(context.Context, json.RawMessage) (any, error) {
	web := Handler(h)
	return func(ctx context.Context, payload json.RawMessage) (any, error) {
		var probe struct {
			Version        string `json:"version"`
			RequestContext struct {
				HTTP struct {
					Method string `json:"method"`
				} `json:"http"`
			} `json:"requestContext"`
		}
		if json.Unmarshal(payload, &probe) == nil && probe.Version == "2.0" && probe.RequestContext.HTTP.Method != "" {
			var req events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(payload, &req); err != nil {
				return nil, err
			}
			return web(ctx, req)
		}
		return job(ctx, payload)
	}
}

// StartMixed hands MixedHandler(h, job) to the Lambda runtime; it does not
// return.
func StartMixed(h http.Handler, job Job) { lambda.Start(MixedHandler(h, job)) }
