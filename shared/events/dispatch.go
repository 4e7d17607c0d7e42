package events

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/netguard"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// Delivery defaults.
const (
	// DefaultRetryWindow is how long a failing delivery is retried before
	// it is given up (status failed) and its stream moves on.
	DefaultRetryWindow = 72 * time.Hour
	// DefaultAttemptTimeout bounds one POST, body included.
	DefaultAttemptTimeout = 10 * time.Second
	// FirstBackoff and MaxBackoff bound the exponential backoff between
	// attempts (before jitter).
	FirstBackoff = 10 * time.Second
	MaxBackoff   = time.Hour
	// SweepGrace is how long a due delivery waits for its own trigger
	// before a sweep re-triggers it (when triggers go through a queue).
	SweepGrace = 30 * time.Second
)

// parkedAt marks a pending delivery queued behind a failing head of its
// stream: it cannot be sent before the head anyway, and leaving it "due"
// would fill the front of the due index that sweeps read. The worker that
// finishes the head makes the next delivery due again.
var parkedAt = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Dispatcher delivers pending deliveries: one stream at a time under a
// lease, head first, so that a stream never overtakes a failing delivery.
// Fields may be changed only before first use; afterwards a Dispatcher is
// safe for concurrent use.
type Dispatcher struct {
	Store Store
	Vault vault.Vault
	// HTTP sends deliveries (NewDeliveryClient).
	HTTP *http.Client
	// Trigger, when set, receives re-triggers for streams whose next
	// attempt is due within MaxSQSDelay, and the sweep's kicks; nil means
	// the sweep drains streams itself.
	Trigger Trigger
	// AllowPrivate accepts webhook URLs on loopback and private hosts.
	AllowPrivate bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Jitter spreads a backoff d (nil: uniformly within [d/2, d]).
	Jitter func(d time.Duration) time.Duration
	Logger *slog.Logger
	// RetryWindow (DefaultRetryWindow), AttemptTimeout
	// (DefaultAttemptTimeout), LeaseTTL (one minute), Concurrency of a
	// sweep (4) and MaxPerDrain deliveries per drain (100); zero means the
	// default.
	RetryWindow    time.Duration
	AttemptTimeout time.Duration
	LeaseTTL       time.Duration
	Concurrency    int
	MaxPerDrain    int

	ownerOnce sync.Once
	owner     string
}

// NewDispatcher returns the process's Dispatcher.
func NewDispatcher(a *app.App) *Dispatcher {
	d := &Dispatcher{
		Store:        a.Store,
		Vault:        a.Vault,
		HTTP:         NewDeliveryClient(a.Config.AllowPrivateUpstreams),
		AllowPrivate: a.Config.AllowPrivateUpstreams,
		Logger:       a.Logger,
	}
	if a.Config.DeliveryQueueURL != "" {
		d.Trigger = NewSQSTrigger(a.Config.DeliveryQueueURL, nil)
	}
	return d
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Backoff is the wait after the attempt-th failed attempt, before jitter:
// FirstBackoff doubling up to MaxBackoff.
func Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 20 {
		return MaxBackoff
	}
	return min(MaxBackoff, FirstBackoff<<(attempt-1))
}

func (d *Dispatcher) jitter(b time.Duration) time.Duration {
	if d.Jitter != nil {
		return d.Jitter(b)
	}
	return b/2 + time.Duration(mrand.Int64N(int64(b/2)+1))
}

// leaseOwner is unique per drain: two goroutines of one process must not
// both hold a stream.
func (d *Dispatcher) leaseOwner() string {
	d.ownerOnce.Do(func() {
		host, _ := os.Hostname()
		d.owner = host + ":" + strconv.Itoa(os.Getpid()) + ":" + randomHex(4)
	})
	return d.owner + ":" + randomHex(6)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// DrainResult says what a Drain did.
type DrainResult struct {
	Delivered int // deliveries accepted by the receiver
	Failed    int // deliveries given up
	Retrying  int // failed attempts that will be retried
	// Busy: another worker holds the stream; it will see the new work.
	Busy bool
	// Next is when the stream next has due work (zero: none known).
	Next time.Time
}

// Drain delivers a stream's due deliveries in order until the stream is
// empty, blocked behind a failing head, or MaxPerDrain deliveries were
// handled. It returns store errors; a receiver's failure is not an error
// but a retry scheduled in the store.
func (d *Dispatcher) Drain(ctx context.Context, stream string) (DrainResult, error) {
	var total DrainResult
	// A trigger that arrives while this worker holds the lease is turned
	// away, so after releasing, look once more for work that came meanwhile.
	for range 3 {
		r, err := d.drainOnce(ctx, stream)
		total.Delivered += r.Delivered
		total.Failed += r.Failed
		total.Retrying += r.Retrying
		total.Busy, total.Next = r.Busy, r.Next
		if err != nil || r.Busy || r.Retrying > 0 {
			return total, err
		}
		head, _, err := d.scan(ctx, stream, "")
		if err != nil || head == nil {
			total.Next = time.Time{}
			return total, err
		}
		if !d.due(head, d.now()) {
			total.Next = head.NextAttemptAt
			return total, nil
		}
	}
	total.Next = d.now()
	return total, nil
}

func (d *Dispatcher) due(head *bridge.Delivery, now time.Time) bool {
	// A delivery never attempted is due as soon as it heads its stream,
	// even if it was parked behind the previous head.
	return head.Attempts == 0 || !head.NextAttemptAt.After(now)
}

func (d *Dispatcher) drainOnce(ctx context.Context, stream string) (DrainResult, error) {
	var res DrainResult
	ttl := orDefault(d.LeaseTTL, time.Minute)
	lease, err := d.Store.AcquireLease(ctx, "delivery:"+stream, d.leaseOwner(), ttl)
	if bridge.IsCode(err, bridge.ECONFLICT) {
		res.Busy = true
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("drain %s: %w", stream, err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = d.Store.ReleaseLease(rctx, lease)
	}()
	after := ""
	for range orDefault(d.MaxPerDrain, 100) {
		head, rest, err := d.scan(ctx, stream, after)
		if err != nil {
			return res, err
		}
		if head == nil {
			return res, nil
		}
		now := d.now()
		if !d.due(head, now) {
			d.park(ctx, rest)
			res.Next = head.NextAttemptAt
			return res, nil
		}
		// Renewing before each attempt both extends the lease and proves it
		// is still ours: a worker that lost it must not send.
		if lease, err = d.Store.RenewLease(ctx, lease, ttl); err != nil {
			if bridge.IsCode(err, bridge.ECONFLICT) {
				res.Busy = true
				return res, nil
			}
			return res, fmt.Errorf("drain %s: %w", stream, err)
		}
		out := d.attempt(ctx, head)
		now = d.now()
		head.Attempts++
		head.LastError = out.err
		switch {
		case out.ok:
			head.Status = bridge.DeliveryDelivered
		case out.permanent || !now.Before(head.CreatedAt.Add(orDefault(d.RetryWindow, DefaultRetryWindow))):
			head.Status = bridge.DeliveryFailed
		default:
			head.NextAttemptAt = now.Add(d.jitter(Backoff(head.Attempts)))
		}
		if head.Status != bridge.DeliveryPending && len(rest) > 0 {
			// Make the next delivery findable before this one stops being:
			// a crash in between then re-sends this one (at least once)
			// rather than stranding the next.
			if err := d.unpark(ctx, rest[0], now); err != nil {
				return res, err
			}
		}
		if err := d.Store.UpdateDelivery(ctx, head); err != nil {
			if bridge.IsCode(err, bridge.ECONFLICT) {
				res.Busy = true
				return res, nil
			}
			return res, fmt.Errorf("drain %s: %w", stream, err)
		}
		d.logAttempt(ctx, head, out)
		switch head.Status {
		case bridge.DeliveryDelivered:
			res.Delivered++
		case bridge.DeliveryFailed:
			res.Failed++
		default:
			res.Retrying++
			d.park(ctx, rest)
			res.Next = head.NextAttemptAt
			return res, nil
		}
		after = store.StreamKey(head)
	}
	res.Next = d.now()
	return res, nil
}

// scan returns the first pending delivery of the stream after the stream
// key after, and the pending deliveries following it on the same page.
func (d *Dispatcher) scan(ctx context.Context, stream, after string) (*bridge.Delivery, []*bridge.Delivery, error) {
	const page = 100
	for {
		ds, err := d.Store.StreamDeliveries(ctx, stream, after, page)
		if err != nil {
			return nil, nil, fmt.Errorf("drain %s: %w", stream, err)
		}
		for i, x := range ds {
			if x.Status != bridge.DeliveryPending {
				continue
			}
			var rest []*bridge.Delivery
			for _, y := range ds[i+1:] {
				if y.Status == bridge.DeliveryPending {
					rest = append(rest, y)
				}
			}
			return x, rest, nil
		}
		if len(ds) < page {
			return nil, nil, nil
		}
		after = store.StreamKey(ds[len(ds)-1])
	}
}

// park takes deliveries waiting behind a failing head out of the front of
// the due index. Failures only cost sweep efficiency, so they are ignored.
func (d *Dispatcher) park(ctx context.Context, waiting []*bridge.Delivery) {
	for _, w := range waiting {
		if w.NextAttemptAt.Before(parkedAt) {
			w.NextAttemptAt = parkedAt
			_ = d.Store.UpdateDelivery(ctx, w)
		}
	}
}

func (d *Dispatcher) unpark(ctx context.Context, next *bridge.Delivery, now time.Time) error {
	if !next.NextAttemptAt.After(now) {
		return nil
	}
	next.NextAttemptAt = now
	if err := d.Store.UpdateDelivery(ctx, next); err != nil && !bridge.IsCode(err, bridge.ECONFLICT) {
		return fmt.Errorf("drain %s: %w", next.Stream, err)
	}
	return nil
}

// outcome is one attempt's result. err is safe to store and show: a status
// or a failure class, never the URL or the receiver's body.
type outcome struct {
	ok        bool
	permanent bool
	status    int
	err       string
}

// deliveryBody is what a receiver gets.
type deliveryBody struct {
	ID          string          `json:"id"`
	Event       string          `json:"event"`
	Environment string          `json:"environment"`
	CreatedAt   time.Time       `json:"created_at"`
	Payload     json.RawMessage `json:"payload"`
}

func (d *Dispatcher) attempt(ctx context.Context, del *bridge.Delivery) outcome {
	ev, err := d.Store.GetEvent(ctx, del.EventID)
	if bridge.IsCode(err, bridge.ENOTFOUND) {
		return outcome{permanent: true, err: "the event no longer exists"}
	}
	if err != nil {
		return outcome{err: "could not read the event"}
	}
	w, err := d.Store.GetWebhook(ctx, del.Environment, del.WebhookID)
	if bridge.IsCode(err, bridge.ENOTFOUND) {
		return outcome{permanent: true, err: "the webhook was deleted"}
	}
	if err != nil {
		return outcome{err: "could not read the webhook"}
	}
	if err := CheckWebhookURL(w.URL, d.AllowPrivate); err != nil {
		return outcome{permanent: true, err: "the webhook URL is not allowed: " + bridge.ErrorMessage(err)}
	}
	secret, err := d.Vault.Get(ctx, WebhookSecretRef(w))
	if errors.Is(err, vault.ErrNotFound) {
		return outcome{permanent: true, err: "the webhook's signing secret is missing"}
	}
	if err != nil {
		return outcome{err: "could not read the signing secret"}
	}
	body, err := json.Marshal(deliveryBody{ID: ev.ID, Event: ev.Type, Environment: ev.Environment, CreatedAt: ev.CreatedAt, Payload: ev.Payload})
	if err != nil {
		return outcome{permanent: true, err: "the event payload does not encode"}
	}
	actx, cancel := context.WithTimeout(ctx, orDefault(d.AttemptTimeout, DefaultAttemptTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return outcome{permanent: true, err: "the webhook URL is not a valid request target"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Supabridge-Webhooks/1")
	req.Header.Set(SignatureHeader, Sign(secret, d.now(), body))
	req.Header.Set(EventIDHeader, ev.ID)
	req.Header.Set(EventTypeHeader, ev.Type)
	req.Header.Set(DeliveryIDHeader, del.ID)
	resp, err := d.HTTP.Do(req)
	if err != nil {
		return outcome{err: failureClass(err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return outcome{ok: true, status: resp.StatusCode}
	}
	msg := fmt.Sprintf("the receiver answered %d", resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		msg += " (redirects are not followed)"
	}
	return outcome{status: resp.StatusCode, err: msg}
}

// failureClass names a transport failure without quoting the error, whose
// text includes the URL (which may carry a token in its query).
func failureClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "the request timed out"
	case errors.Is(err, netguard.ErrNotPublic):
		return "the webhook host resolves to a private or reserved address"
	case errors.Is(err, context.Canceled):
		return "the attempt was cancelled"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "the webhook host could not be resolved"
	}
	return "the connection to the receiver failed"
}

func (d *Dispatcher) logAttempt(ctx context.Context, del *bridge.Delivery, out outcome) {
	attrs := []slog.Attr{
		slog.String("delivery_id", del.ID), slog.String("event_id", del.EventID),
		slog.String("webhook_id", del.WebhookID), slog.String("status", string(del.Status)),
		slog.Int("attempts", del.Attempts),
	}
	if out.status != 0 {
		attrs = append(attrs, slog.Int("http_status", out.status))
	}
	level := slog.LevelInfo
	if !out.ok {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", out.err))
		if del.Status == bridge.DeliveryPending {
			attrs = append(attrs, slog.Time("next_attempt_at", del.NextAttemptAt))
		}
	}
	d.logger().LogAttrs(ctx, level, "webhook delivery", attrs...)
}

// SweepResult says what a Sweep did.
type SweepResult struct {
	Streams   int `json:"streams"`   // streams with due work found
	Triggered int `json:"triggered"` // streams handed to the trigger
	Delivered int `json:"delivered"` // deliveries made by the sweep itself
	Retrying  int `json:"retrying"`
	Failed    int `json:"failed"`
}

// maxSweep bounds the due deliveries one sweep reads.
const maxSweep = store.MaxLimit

// Sweep finds due deliveries and either hands their streams to the Trigger
// (only those due for longer than SweepGrace: the rest still have their own
// trigger in flight) or, without one, drains them itself with bounded
// concurrency, starting no new stream once ctx's deadline is near.
func (d *Dispatcher) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	now := d.now()
	before := now.Add(time.Millisecond)
	if d.Trigger != nil {
		before = now.Add(-SweepGrace)
	}
	due, err := d.Store.DueDeliveries(ctx, before, maxSweep)
	if err != nil {
		return res, fmt.Errorf("sweep: %w", err)
	}
	var streams []string
	seen := map[string]bool{}
	for _, x := range due {
		if !seen[x.Stream] {
			seen[x.Stream] = true
			streams = append(streams, x.Stream)
		}
	}
	res.Streams = len(streams)
	if len(streams) == 0 {
		return res, nil
	}
	if d.Trigger != nil {
		kicks := make([]Kick, len(streams))
		for i, s := range streams {
			kicks[i] = Kick{Stream: s, At: now}
		}
		if err := d.Trigger.Trigger(ctx, kicks); err != nil {
			return res, fmt.Errorf("sweep: %w", err)
		}
		res.Triggered = len(streams)
		return res, nil
	}
	r, err := d.drainAll(ctx, streams)
	res.Delivered, res.Retrying, res.Failed = r.Delivered, r.Retrying, r.Failed
	return res, err
}

// drainAll drains streams with bounded concurrency within ctx's budget.
func (d *Dispatcher) drainAll(ctx context.Context, streams []string) (DrainResult, error) {
	var (
		mu    sync.Mutex
		total DrainResult
		errs  []error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, orDefault(d.Concurrency, 4))
	margin := orDefault(d.AttemptTimeout, DefaultAttemptTimeout) + 2*time.Second
	for _, s := range streams {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < margin {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := d.Drain(ctx, s)
			mu.Lock()
			defer mu.Unlock()
			total.Delivered += r.Delivered
			total.Retrying += r.Retrying
			total.Failed += r.Failed
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return total, errors.Join(errs...)
}

// Run sweeps every interval until ctx ends: the local runner's delivery
// loop. Errors are logged and the loop goes on.
func (d *Dispatcher) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := d.Sweep(ctx); err != nil && ctx.Err() == nil {
			d.logger().LogAttrs(ctx, slog.LevelError, "delivery sweep failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
