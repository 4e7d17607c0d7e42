// Command local serves the whole Supabridge bundle from one process on one
// port, with the same handlers and routes as the SAM template, scheduled
// functions on an in-process scheduler, and embedded storage under
// ./.supabridge (no AWS account needed).
//
//	go run ./scripts/local [-addr 127.0.0.1:8080] [-data ./.supabridge] [-sandbox]
//
// When ready it prints SUPABRIDGE_URL=<base url> and SUPABRIDGE_API_KEY=<key>
// (the local environment's key) on stdout; logs go to stderr.
//
// With -sandbox it also starts the local Supabase (a private PostgreSQL
// cluster, a project, the Management API and its OAuth server), registers
// this runner's OAuth callback with the stand-in's OAuth app, points the
// Management API at it, allows its loopback project URLs, keeps its state
// under <data>/sandbox, and prints SUPABRIDGE_LINK_URL (a link for tenant
// "sandbox", valid 30 minutes) followed by the stand-in's own KEY=value
// lines (API_URL, SERVICE_ROLE_KEY, SECRET_KEY, ACCESS_TOKEN, DB_URL, …).
package main

import (
	"context"
	"encoding/json"
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
	"github.com/supabridge/supabridge/shared/events"
	"github.com/supabridge/supabridge/shared/httpapi"
	"github.com/supabridge/supabridge/shared/localsupabase"
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
	sandbox := flag.Bool("sandbox", false, "also start the local Supabase and wire linking to it")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	baseURL := "http://" + ln.Addr().String()

	overrides := map[string]string{}
	var stack *localsupabase.Stack
	if *sandbox {
		// Every sandbox start gets new projects and keys: its accounts
		// live apart from the plain runner's.
		*data = filepath.Join(*data, "sandbox")
		stack, err = localsupabase.Start(ctx, localsupabase.Config{
			OAuthRedirectURIs: []string{baseURL + "/connect/oauth/callback"},
		})
		if err != nil {
			return fmt.Errorf("start the local Supabase: %w", err)
		}
		defer stack.Close()
		oc := stack.OAuthClient()
		overrides = map[string]string{
			"SUPABRIDGE_MANAGEMENT_API_URL":      stack.ManagementURL(),
			"SUPABRIDGE_OAUTH_CLIENT_ID":         oc.ID,
			"SUPABRIDGE_OAUTH_CLIENT_SECRET":     oc.Secret,
			"SUPABRIDGE_ALLOW_PRIVATE_UPSTREAMS": "true",
		}
	}

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
		if v, ok := overrides[k]; ok {
			return v
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

	fromEnv, printed, err := localKey(ctx, a, *data)
	if err != nil {
		return err
	}

	srv := &http.Server{Handler: bundleHandler(a), ReadHeaderTimeout: 10 * time.Second}
	go schedule(ctx, a)
	// Webhook deliveries: what SQS and the delivery function do on AWS.
	go events.NewDispatcher(a).Run(ctx, time.Second)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	fmt.Printf("SUPABRIDGE_URL=%s\n", baseURL)
	if printed != "" {
		fmt.Printf("SUPABRIDGE_API_KEY=%s\n", printed)
	}
	if stack != nil {
		key := printed
		if fromEnv {
			key = strings.TrimSpace(os.Getenv("SUPABRIDGE_API_KEY"))
		}
		linkURL, err := sandboxLink(ctx, baseURL, key)
		if err != nil {
			return err
		}
		fmt.Printf("SUPABRIDGE_LINK_URL=%s\n", linkURL)
		for _, line := range stack.Env() {
			fmt.Println(line)
		}
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

// sandboxLink asks the running server for a link token, as an operator's
// backend would, so the sandbox prints a link to open right away.
func sandboxLink(ctx context.Context, baseURL, key string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/link-tokens", strings.NewReader(`{"tenant_id":"sandbox"}`))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("create the sandbox link: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		LinkURL string `json:"link_url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated || out.LinkURL == "" {
		return "", fmt.Errorf("create the sandbox link: status %d", resp.StatusCode)
	}
	return out.LinkURL, nil
}

// bundleHandler serves every function's routes as API Gateway and Lambda
// do: each route goes to its function's own router, behind that function's
// body limit; request IDs, logs and panic recovery wrap them all once.
func bundleHandler(a *app.App) http.Handler {
	top := httpapi.NewRouter()
	for _, f := range bundle.Functions() {
		if f.Mount == nil {
			continue
		}
		fr := httpapi.NewRouter()
		f.Mount(fr, a)
		limit := f.MaxBody
		if limit == 0 {
			limit = httpapi.DefaultMaxBody
		}
		h := httpapi.LimitBody(fr, limit)
		for _, p := range fr.Patterns() {
			top.Handle(p, h)
		}
	}
	return httpapi.Serve(top, httpapi.Options{Logger: a.Logger, MaxBody: -1})
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
