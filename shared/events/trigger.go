package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Kick says that a delivery stream has work at or after At.
type Kick struct {
	Stream string
	At     time.Time
}

// Trigger wakes delivery workers. It carries no state the store does not
// have: a lost trigger only delays a delivery until the next sweep.
type Trigger interface {
	Trigger(ctx context.Context, kicks []Kick) error
}

// MaxSQSDelay is the longest per-message delay SQS accepts; later work is
// left to the sweep.
const MaxSQSDelay = 15 * time.Minute

// SQSAPI is the part of the SQS client the trigger uses.
type SQSAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var _ SQSAPI = (*sqs.Client)(nil)

// SQSTrigger sends one message per kicked stream to a standard queue, with
// a per-message delay for work that is due later (up to MaxSQSDelay). Safe
// for concurrent use.
type SQSTrigger struct {
	QueueURL string
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	once   sync.Once
	client SQSAPI
	err    error
}

// NewSQSTrigger returns a trigger for queueURL. A nil client is built from
// the environment's AWS configuration on first use, so a cold start that
// never records an event pays nothing for it.
func NewSQSTrigger(queueURL string, client SQSAPI) *SQSTrigger {
	t := &SQSTrigger{QueueURL: queueURL, client: client}
	if client != nil {
		t.once.Do(func() {})
	}
	return t
}

// triggerMessage is the body of a trigger message.
type triggerMessage struct {
	Stream string `json:"stream"`
}

func (t *SQSTrigger) sqsClient(ctx context.Context) (SQSAPI, error) {
	t.once.Do(func() {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			t.err = fmt.Errorf("sqs trigger: aws configuration: %w", err)
			return
		}
		t.client = sqs.NewFromConfig(cfg)
	})
	return t.client, t.err
}

// Trigger sends the kicks in batches of ten, one message per distinct
// stream (the earliest At wins).
func (t *SQSTrigger) Trigger(ctx context.Context, kicks []Kick) error {
	client, err := t.sqsClient(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	kicks = dedupeKicks(kicks)
	var errs []error
	for start := 0; start < len(kicks); start += 10 {
		batch := kicks[start:min(start+10, len(kicks))]
		entries := make([]types.SendMessageBatchRequestEntry, len(batch))
		for i, k := range batch {
			body, _ := json.Marshal(triggerMessage{Stream: k.Stream})
			entries[i] = types.SendMessageBatchRequestEntry{
				Id:           aws.String(strconv.Itoa(i)),
				MessageBody:  aws.String(string(body)),
				DelaySeconds: delaySeconds(k.At.Sub(now)),
			}
		}
		out, err := client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(t.QueueURL), Entries: entries})
		if err != nil {
			errs = append(errs, fmt.Errorf("sqs trigger: send: %w", err))
			continue
		}
		if n := len(out.Failed); n > 0 {
			errs = append(errs, fmt.Errorf("sqs trigger: %d of %d messages not sent (first: %s)", n, len(entries), aws.ToString(out.Failed[0].Code)))
		}
	}
	return errors.Join(errs...)
}

// delaySeconds is d rounded up to whole seconds, within what SQS accepts.
func delaySeconds(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	return int32(min(math.Ceil(d.Seconds()), MaxSQSDelay.Seconds()))
}

// dedupeKicks keeps one kick per stream, the earliest, in first-seen order.
func dedupeKicks(kicks []Kick) []Kick {
	idx := map[string]int{}
	var out []Kick
	for _, k := range kicks {
		if i, ok := idx[k.Stream]; ok {
			if k.At.Before(out[i].At) {
				out[i].At = k.At
			}
			continue
		}
		idx[k.Stream] = len(out)
		out = append(out, k)
	}
	return out
}
