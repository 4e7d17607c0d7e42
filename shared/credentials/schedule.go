package credentials

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/store"
)

// DefaultRunBudget bounds a scheduled run whose context has no deadline
// (the local runner); on Lambda the invocation's deadline does.
const DefaultRunBudget = 4 * time.Minute

// RunResult says what a scheduled run did.
type RunResult struct {
	Due         int  `json:"due"`          // accounts found due
	Refreshed   int  `json:"refreshed"`    // tokens rotated by this run
	Unchanged   int  `json:"unchanged"`    // due, but already fresh
	Failed      int  `json:"failed"`       // transient failures (backing off)
	NeedsReauth int  `json:"needs_reauth"` // grants found revoked
	Truncated   bool `json:"truncated"`    // the budget ran out first
}

// RefreshDue runs one scheduled refresh: every account whose next refresh
// is due, at most Concurrency at a time, starting none once the budget
// (ctx's deadline less a token request's timeout, or DefaultRunBudget) is
// spent. Running it twice, or in two processes at once, refreshes each
// account once: the second finds it not due, or waits on its lease and
// finds it rotated. Only a store failure is returned as an error.
func (m *Manager) RefreshDue(ctx context.Context) (RunResult, error) {
	var res RunResult
	budget := time.Now().Add(DefaultRunBudget)
	if dl, ok := ctx.Deadline(); ok {
		budget = dl.Add(-orDefault(m.TokenTimeout, 15*time.Second) - 2*time.Second)
	}
	limit := m.Concurrency
	if limit <= 0 {
		limit = 4
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, limit)
	)
	now := m.now()
	err := func() error {
		after := ""
		for {
			due, err := m.Store.AccountsDueForRefresh(ctx, now, after, 100)
			if err != nil {
				return err
			}
			for _, a := range due {
				if time.Now().After(budget) || ctx.Err() != nil {
					res.Truncated = true
					return nil
				}
				sem <- struct{}{}
				res.Due++
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					_, rotated, err := m.refresh(ctx, a, false)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil && rotated:
						res.Refreshed++
					case err == nil:
						res.Unchanged++
					case bridge.IsCode(err, bridge.ENEEDSREAUTH):
						res.NeedsReauth++
					default:
						res.Failed++
						m.logger().LogAttrs(ctx, slog.LevelWarn, "scheduled refresh failed",
							slog.String("account_id", a.ID), slog.String("error", err.Error()))
					}
				}()
			}
			if len(due) < 100 {
				return nil
			}
			after = store.RefreshKey(due[len(due)-1])
		}
	}()
	wg.Wait()
	return res, err
}

// ScheduledRun is the Input of the refresh schedule. Time and ExecutionID
// carry EventBridge Scheduler's placeholders, for the logs.
type ScheduledRun struct {
	Job         string `json:"job"`
	Time        string `json:"time,omitempty"`
	ExecutionID string `json:"execution_id,omitempty"`
}

// HandleSchedule is the refresh function's scheduled handler.
func (m *Manager) HandleSchedule(ctx context.Context, payload json.RawMessage) (any, error) {
	var run ScheduledRun
	_ = json.Unmarshal(payload, &run)
	start := time.Now()
	res, err := m.RefreshDue(ctx)
	m.logger().LogAttrs(ctx, slog.LevelInfo, "scheduled refresh",
		slog.String("execution_id", run.ExecutionID), slog.Int("due", res.Due),
		slog.Int("refreshed", res.Refreshed), slog.Int("failed", res.Failed),
		slog.Int("needs_reauth", res.NeedsReauth), slog.Bool("truncated", res.Truncated),
		slog.Duration("took", time.Since(start)))
	return res, err
}

// Job is the refresh function's scheduled work for the bundle (the local
// runner calls it every five minutes).
func Job(ctx context.Context, a *app.App) error {
	_, err := New(a, events.New(a)).RefreshDue(ctx)
	return err
}
