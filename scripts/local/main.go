// Command local serves the whole Supabridge bundle from one process on one
// port, with the same handlers and routes as the SAM template, scheduled
// functions on an in-process scheduler, and embedded storage under
// ./.supabridge (no AWS account needed).
//
//	go run ./scripts/local [-addr 127.0.0.1:8080] [-data ./.supabridge]
//
// When ready it prints SUPABRIDGE_URL=<base url> and SUPABRIDGE_API_KEY=<key>
// (the local environment's key) on stdout; logs go to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/app/embedded"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/bundle"
	"github.com/supabridge/supabridge/shared/httpapi"
)

// localEnvironment is the environment of the key the runner mints.
const localEnvironment = "local"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", envOr("SUPABRIDGE_ADDR", "127.0.0.1:8080"), "listen address (env SUPABRIDGE_ADDR)")
	data := flag.String("data", envOr("SUPABRIDGE_DATA_DIR", ".supabridge"), "data directory for the embedded backend (env SUPABRIDGE_DATA_DIR)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := os.MkdirAll(*data, 0o700); err != nil {
		return err
	}
	cfg, err := app.ConfigFromEnv("local", func(k string) string {
		switch k {
		case "SUPABRIDGE_BACKEND":
			return envOr(k, app.BackendEmbedded)
		case "SUPABRIDGE_DATA_DIR":
			return *data
		}
		return os.Getenv(k)
	})
	if err != nil {
		return err
	}
	a, err := embedded.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	baseURL := "http://" + ln.Addr().String()

	fromEnv, printed, err := localKey(ctx, a, *data)
	if err != nil {
		return err
	}

	rt := httpapi.NewRouter()
	for _, f := range bundle.Functions() {
		if f.Mount != nil {
			f.Mount(rt, a)
		}
	}
	srv := &http.Server{Handler: a.Serve(rt), ReadHeaderTimeout: 10 * time.Second}
	go schedule(ctx, a)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	fmt.Printf("SUPABRIDGE_URL=%s\n", baseURL)
	if printed != "" {
		fmt.Printf("SUPABRIDGE_API_KEY=%s\n", printed)
	}
	a.Logger.Info("serving", slog.String("url", baseURL), slog.String("data_dir", *data), slog.Bool("key_from_env", fromEnv))

	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// localKey makes sure the local environment has a key the developer knows:
// SUPABRIDGE_API_KEY when set (stored if new), otherwise the key kept in the
// data directory, otherwise a new one written there (mode 0600). It returns
// the key to print ("" when the developer supplied it through the
// environment).
func localKey(ctx context.Context, a *app.App, dataDir string) (fromEnv bool, printed string, err error) {
	if k := strings.TrimSpace(os.Getenv("SUPABRIDGE_API_KEY")); k != "" {
		return true, "", ensureKey(ctx, a, k)
	}
	path := filepath.Join(dataDir, "local-api-key")
	if b, err := os.ReadFile(path); err == nil {
		k := strings.TrimSpace(string(b))
		if _, err := a.Store.APIKeyByHash(ctx, bridge.HashAPIKey(k)); err == nil {
			return false, k, nil
		}
	}
	rec, secret, err := bridge.NewAPIKey(localEnvironment, "local runner", time.Now())
	if err != nil {
		return false, "", err
	}
	if err := a.Store.CreateAPIKey(ctx, rec); err != nil {
		return false, "", err
	}
	if err := os.WriteFile(path, []byte(secret.Reveal()+"\n"), 0o600); err != nil {
		return false, "", err
	}
	return false, secret.Reveal(), nil
}

// ensureKey stores a developer-chosen key for the local environment.
func ensureKey(ctx context.Context, a *app.App, key string) error {
	if !strings.HasPrefix(key, bridge.APIKeyPrefix) || len(key) < len(bridge.APIKeyPrefix)+32 {
		return fmt.Errorf("SUPABRIDGE_API_KEY must start with %q and carry at least 32 random characters", bridge.APIKeyPrefix)
	}
	hash := bridge.HashAPIKey(key)
	if _, err := a.Store.APIKeyByHash(ctx, hash); err == nil {
		return nil
	} else if !bridge.IsCode(err, bridge.ENOTFOUND) {
		return err
	}
	err := a.Store.CreateAPIKey(ctx, &bridge.APIKey{
		ID: bridge.NewID(), Environment: localEnvironment, Name: "SUPABRIDGE_API_KEY",
		Hash: hash, Hint: key[:len(bridge.APIKeyPrefix)+4] + "…" + key[len(key)-4:],
	})
	if bridge.IsCode(err, bridge.ECONFLICT) {
		return nil
	}
	return err
}

// schedule runs every scheduled function on its period until ctx ends, as
// EventBridge Scheduler does on AWS.
func schedule(ctx context.Context, a *app.App) {
	for _, f := range bundle.Functions() {
		if f.Job == nil {
			continue
		}
		go func() {
			t := time.NewTicker(f.Every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := f.Job(ctx, a); err != nil && !errors.Is(err, context.Canceled) {
						a.Logger.Error("scheduled run failed", slog.String("job", f.Name), slog.String("error", err.Error()))
					}
				}
			}
		}()
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
