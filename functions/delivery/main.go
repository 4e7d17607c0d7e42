// Command delivery is the Lambda function that delivers webhooks: it
// consumes trigger messages from the delivery queue (reporting partial
// batch failures) and, every minute, sweeps the store for deliveries whose
// trigger was lost.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/events"
)

func main() {
	a := app.Main("delivery")
	lambda.Start(events.NewDispatcher(a).HandleLambda)
}
