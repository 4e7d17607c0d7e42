// Command supabase-local runs the local Supabase stand-in (gateway, Auth,
// Management API with OAuth, on real PostgreSQL) until interrupted, and
// prints the KEY=value lines describing it once it is ready:
//
//	go run ./scripts/supabase-local                 # private PostgreSQL cluster, free ports
//	go run ./scripts/supabase-local -addr 127.0.0.1:54321 -oauth-auto-approve
//	SUPABASE_LOCAL_DB_URL=postgresql://postgres:postgres@127.0.0.1:5432/postgres go run ./scripts/supabase-local
//
// A private cluster is removed on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/supabridge/supabridge/shared/localsupabase"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "supabase-local:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("supabase-local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", os.Getenv("SUPABASE_LOCAL_DB_URL"), "superuser URL of an existing PostgreSQL database (default: $SUPABASE_LOCAL_DB_URL, else a private cluster)")
	addr := fs.String("addr", "", "host:port of the project API (default: a free loopback port)")
	mgmtAddr := fs.String("management-addr", "", "host:port of the Management API (default: the -addr port + 1, else a free port)")
	autoApprove := fs.Bool("oauth-auto-approve", false, "approve OAuth authorization requests without the consent page")
	redirect := fs.String("oauth-redirect-uri", "http://localhost:3000/callback", "redirect URI registered on the default OAuth client")
	readyDelay := fs.Duration("project-ready-delay", 0, "how long a project created through the API stays COMING_UP at least")
	verbose := fs.Bool("v", false, "log every request to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mgmtAddr == "" && *addr != "" {
		host, port, err := net.SplitHostPort(*addr)
		if err != nil {
			return fmt.Errorf("-addr: %w", err)
		}
		if n, err := strconv.Atoi(port); err == nil && n > 0 {
			*mgmtAddr = net.JoinHostPort(host, strconv.Itoa(n+1))
		}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	st, err := localsupabase.Start(ctx, localsupabase.Config{
		DBURL:             *db,
		Addr:              *addr,
		ManagementAddr:    *mgmtAddr,
		OAuthAutoApprove:  *autoApprove,
		OAuthRedirectURIs: []string{*redirect},
		ProjectReadyDelay: *readyDelay,
		Logger:            slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return err
	}
	for _, line := range st.Env() {
		fmt.Fprintln(stdout, line)
	}
	<-ctx.Done()
	stop()
	closed := make(chan error, 1)
	go func() { closed <- st.Close() }()
	select {
	case err := <-closed:
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("shutdown timed out")
	}
}
