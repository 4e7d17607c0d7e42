// Package apptest gives tests an App on a fresh embedded backend in a
// temporary directory.
package apptest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/app/embedded"
)

// New opens an App named function on a fresh embedded backend in a
// temporary directory of tb, closed when tb ends. env overrides
// configuration variables (SUPABRIDGE_…); logs go to logger, or nowhere
// when it is nil.
func New(tb testing.TB, function string, env map[string]string, logger *slog.Logger) *app.App {
	tb.Helper()
	dir := tb.TempDir()
	cfg, err := app.ConfigFromEnv(function, func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		if k == "SUPABRIDGE_DATA_DIR" {
			return dir
		}
		return ""
	})
	if err != nil {
		tb.Fatal(err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a, err := embedded.OpenWithLogger(context.Background(), cfg, logger)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = a.Close() })
	return a
}
