package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/supabridge/supabridge/shared/app"
)

// HandleSQS consumes trigger messages: it drains each named stream (once
// per batch, with bounded concurrency) and re-triggers, with a delay,
// streams whose next attempt is due within MaxSQSDelay. Items whose stream
// could not be drained, or whose re-trigger failed, are reported as batch
// item failures so SQS delivers them again (and, after the queue's
// maxReceiveCount, to the dead-letter queue). A message that is not a
// trigger is logged and acknowledged: retrying it cannot help.
func (d *Dispatcher) HandleSQS(ctx context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	byStream := map[string][]string{}
	var order []string
	for _, m := range ev.Records {
		var msg triggerMessage
		if err := json.Unmarshal([]byte(m.Body), &msg); err != nil || msg.Stream == "" || len(msg.Stream) > 200 {
			d.logger().LogAttrs(ctx, slog.LevelWarn, "ignoring a message that is not a delivery trigger", slog.String("message_id", m.MessageId))
			continue
		}
		if _, ok := byStream[msg.Stream]; !ok {
			order = append(order, msg.Stream)
		}
		byStream[msg.Stream] = append(byStream[msg.Stream], m.MessageId)
	}
	var (
		mu sync.Mutex
		// Empty rather than nil: the response then says "no failures"
		// explicitly.
		failures = []lambdaevents.SQSBatchItemFailure{}
		wg       sync.WaitGroup
	)
	fail := func(stream string) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range byStream[stream] {
			failures = append(failures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: id})
		}
	}
	sem := make(chan struct{}, orDefault(d.Concurrency, 4))
	for _, s := range order {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := d.Drain(ctx, s)
			if err != nil {
				d.logger().LogAttrs(ctx, slog.LevelError, "drain failed", slog.String("stream", s), slog.String("error", err.Error()))
				fail(s)
				return
			}
			if r.Busy || r.Next.IsZero() || d.Trigger == nil || r.Next.Sub(d.now()) > MaxSQSDelay {
				return
			}
			if err := d.Trigger.Trigger(ctx, []Kick{{Stream: s, At: r.Next}}); err != nil {
				d.logger().LogAttrs(ctx, slog.LevelWarn, "re-trigger failed", slog.String("stream", s), slog.String("error", err.Error()))
				fail(s)
			}
		}()
	}
	wg.Wait()
	return lambdaevents.SQSEventResponse{BatchItemFailures: failures}, nil
}

// ScheduledRun is the Input of the delivery function's schedule. Time and
// ExecutionID carry EventBridge Scheduler's placeholders, for the logs.
type ScheduledRun struct {
	Job         string `json:"job"`
	Time        string `json:"time,omitempty"`
	ExecutionID string `json:"execution_id,omitempty"`
}

// HandleLambda is the delivery function's handler: an SQS event (it has
// Records) goes to HandleSQS, anything else is the schedule's sweep, run
// within the invocation's deadline.
func (d *Dispatcher) HandleLambda(ctx context.Context, payload json.RawMessage) (any, error) {
	var probe struct {
		Records []json.RawMessage `json:"Records"`
	}
	if json.Unmarshal(payload, &probe) == nil && probe.Records != nil {
		var ev lambdaevents.SQSEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, err
		}
		return d.HandleSQS(ctx, ev)
	}
	var run ScheduledRun
	_ = json.Unmarshal(payload, &run)
	start := time.Now()
	res, err := d.Sweep(ctx)
	d.logger().LogAttrs(ctx, slog.LevelInfo, "delivery sweep",
		slog.String("execution_id", run.ExecutionID), slog.Int("streams", res.Streams),
		slog.Int("triggered", res.Triggered), slog.Int("delivered", res.Delivered),
		slog.Duration("took", time.Since(start)))
	return res, err
}

// SweepJob is the delivery function's scheduled work for the bundle.
func SweepJob(ctx context.Context, a *app.App) error {
	_, err := NewDispatcher(a).Sweep(ctx)
	return err
}
