package events_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/events/eventstest"
)

// fakeSQS speaks SQS's AWS JSON 1.0 protocol for SendMessageBatch (the one
// call the trigger makes), with the MD5 the SDK checks, and records what
// was sent. No SQS emulator runs here; this is the wire protocol the real
// client speaks.
type fakeSQS struct {
	*httptest.Server
	mu      sync.Mutex
	sent    []sentMessage
	failAll bool
}

type sentMessage struct {
	Queue  string
	Stream string
	Delay  int32
}

func newFakeSQS(t *testing.T) *fakeSQS {
	f := &fakeSQS{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSQS) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if r.Header.Get("X-Amz-Target") != "AmazonSQS.SendMessageBatch" || r.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"__type":"com.amazonaws.sqs#InvalidAction","message":"unsupported"}`)
		return
	}
	var in struct {
		QueueUrl string
		Entries  []struct {
			Id           string
			MessageBody  string
			DelaySeconds int32
		}
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &in); err != nil || len(in.Entries) == 0 || len(in.Entries) > 10 {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"__type":"com.amazonaws.sqs#InvalidParameterValue","message":"bad batch"}`)
		return
	}
	type ok struct{ Id, MessageId, MD5OfMessageBody string }
	type failed struct {
		Id, Code, Message string
		SenderFault       bool
	}
	out := struct {
		Successful []ok     `json:"Successful"`
		Failed     []failed `json:"Failed"`
	}{Successful: []ok{}, Failed: []failed{}}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range in.Entries {
		if f.failAll {
			out.Failed = append(out.Failed, failed{Id: e.Id, Code: "InternalError", Message: "try again"})
			continue
		}
		var m struct{ Stream string }
		_ = json.Unmarshal([]byte(e.MessageBody), &m)
		f.sent = append(f.sent, sentMessage{Queue: in.QueueUrl, Stream: m.Stream, Delay: e.DelaySeconds})
		sum := md5.Sum([]byte(e.MessageBody))
		out.Successful = append(out.Successful, ok{Id: e.Id, MessageId: "m-" + strconv.Itoa(len(f.sent)), MD5OfMessageBody: hex.EncodeToString(sum[:])})
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeSQS) messages() []sentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentMessage(nil), f.sent...)
}

func (f *fakeSQS) client() *sqs.Client {
	return sqs.New(sqs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(f.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
}

const queueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/supabridge-deliveries"

// TestSQSTrigger: recording sends one trigger per stream; the delivery
// function drains what the messages name, re-triggers a failing stream
// with the backoff as DelaySeconds, reports drain failures as batch item
// failures, and its sweep re-triggers only deliveries whose own trigger
// is overdue.
func TestSQSTrigger(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b eventstest.Backend) {
		clock := newClock()
		n := newNode(t, b.Open(t, clock.Now), clock)
		q := newFakeSQS(t)
		trig := events.NewSQSTrigger(queueURL, q.client())
		trig.Now = clock.Now
		n.rec.Trigger, n.disp.Trigger = trig, trig

		ok, failing := eventstest.NewReceiver(t), eventstest.NewReceiver(t)
		failing.SetStatus(http.StatusBadGateway)
		okID := n.createWebhook(t, ok.URL)
		badID := n.createWebhook(t, failing.URL)
		a := account("sqs")
		for range 2 {
			if err := n.rec.Record(context.Background(), events.AccountEvent(bridge.EventAccountActive, a)); err != nil {
				t.Fatal(err)
			}
		}
		msgs := q.messages()
		if len(msgs) != 4 {
			t.Fatalf("%d trigger messages for two events to two webhooks, want 4: %+v", len(msgs), msgs)
		}
		for _, m := range msgs {
			if m.Queue != queueURL || m.Delay != 0 || (m.Stream != events.StreamOf(okID, a.ID) && m.Stream != events.StreamOf(badID, a.ID)) {
				t.Errorf("trigger %+v", m)
			}
		}

		// The delivery function receives the triggers (plus a stranger).
		ev := lambdaevents.SQSEvent{}
		for i, m := range msgs {
			body, _ := json.Marshal(map[string]string{"stream": m.Stream})
			ev.Records = append(ev.Records, lambdaevents.SQSMessage{MessageId: "in-" + strconv.Itoa(i), Body: string(body), EventSource: "aws:sqs"})
		}
		ev.Records = append(ev.Records, lambdaevents.SQSMessage{MessageId: "junk", Body: "not json", EventSource: "aws:sqs"})
		payload, _ := json.Marshal(ev)
		out, err := n.disp.HandleLambda(context.Background(), payload)
		if err != nil {
			t.Fatal(err)
		}
		resp := out.(lambdaevents.SQSEventResponse)
		if len(resp.BatchItemFailures) != 0 {
			t.Errorf("batch item failures %+v", resp.BatchItemFailures)
		}
		if len(ok.Accepted()) != 2 || len(failing.All()) != 1 {
			t.Errorf("after the batch: %d delivered, %d attempts at the failing receiver", len(ok.Accepted()), len(failing.All()))
		}
		retrig := q.messages()[len(msgs):]
		if len(retrig) != 1 || retrig[0].Stream != events.StreamOf(badID, a.ID) || retrig[0].Delay != 10 {
			t.Errorf("re-triggers %+v, want the failing stream once with a 10 s delay", retrig)
		}

		// A stream the store cannot read is a batch item failure.
		broken := &failingStore{Store: n.Store, stream: "broken/stream"}
		n.disp.Store = broken
		resp, err = n.disp.HandleSQS(context.Background(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
			{MessageId: "b1", Body: `{"stream":"broken/stream"}`}, {MessageId: "b2", Body: `{"stream":"broken/stream"}`},
		}})
		if err != nil || len(resp.BatchItemFailures) != 2 {
			t.Errorf("drain failure reported as %+v, %v", resp.BatchItemFailures, err)
		}
		n.disp.Store = n.Store

		// The sweep: the failing head is due again after its backoff, but
		// its delayed trigger is still in flight for SweepGrace.
		clock.Advance(10 * time.Second)
		before := len(q.messages())
		res, err := n.disp.Sweep(context.Background())
		if err != nil || res.Triggered != 0 {
			t.Errorf("sweep within the grace period: %+v, %v", res, err)
		}
		clock.Advance(events.SweepGrace + time.Second)
		out, err = n.disp.HandleLambda(context.Background(), json.RawMessage(`{"job":"sweep","time":"2026-01-01T00:00:00Z"}`))
		if err != nil {
			t.Fatal(err)
		}
		if res := out.(events.SweepResult); res.Triggered != 1 || len(q.messages()) != before+1 {
			t.Errorf("sweep after a lost trigger: %+v", res)
		}

		// A failing queue: recording still succeeds (the sweep covers it).
		q.mu.Lock()
		q.failAll = true
		q.mu.Unlock()
		if err := n.rec.Record(context.Background(), events.AccountEvent(bridge.EventAccountDeleted, a)); err != nil {
			t.Errorf("Record with the queue failing: %v", err)
		}
		if err := trig.Trigger(context.Background(), []events.Kick{{Stream: "s", At: clock.Now().Add(time.Hour)}}); err == nil {
			t.Errorf("a failed send is not reported")
		}
	})
}

// failingStore fails reads of one stream.
type failingStore struct {
	events.Store
	stream string
}

func (f *failingStore) StreamDeliveries(ctx context.Context, stream, after string, limit int) ([]*bridge.Delivery, error) {
	if stream == f.stream {
		return nil, errors.New("store unavailable")
	}
	return f.Store.StreamDeliveries(ctx, stream, after, limit)
}

// TestTriggerDelay: delays are whole seconds, at most 15 minutes, one
// message per stream with its earliest time.
func TestTriggerDelay(t *testing.T) {
	q := newFakeSQS(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	trig := events.NewSQSTrigger(queueURL, q.client())
	trig.Now = func() time.Time { return now }
	var kicks []events.Kick
	for i, d := range []time.Duration{-time.Minute, 0, 1500 * time.Millisecond, time.Hour} {
		kicks = append(kicks, events.Kick{Stream: "s" + strconv.Itoa(i), At: now.Add(d)})
	}
	kicks = append(kicks, events.Kick{Stream: "s3", At: now.Add(20 * time.Second)}, events.Kick{Stream: "s4", At: now.Add(time.Hour)})
	for i := range 12 {
		kicks = append(kicks, events.Kick{Stream: "bulk" + strconv.Itoa(i), At: now})
	}
	if err := trig.Trigger(context.Background(), kicks); err != nil {
		t.Fatal(err)
	}
	got := map[string]int32{}
	for _, m := range q.messages() {
		if _, dup := got[m.Stream]; dup {
			t.Errorf("stream %s sent twice", m.Stream)
		}
		got[m.Stream] = m.Delay
	}
	want := map[string]int32{"s0": 0, "s1": 0, "s2": 2, "s3": 20, "s4": 900}
	for s, d := range want {
		if got[s] != d {
			t.Errorf("%s: delay %d, want %d", s, got[s], d)
		}
	}
	if len(got) != 17 {
		t.Errorf("%d messages, want 17 (5 streams and 12 more, over two batches)", len(got))
	}
}
