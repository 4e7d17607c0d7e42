package realtime_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/supabridge/supabridge/shared/localsupabase/realtime"
)

// A project's listener serves the Realtime endpoint on both paths and the
// fault switches under an admin prefix.
func ExampleNew() {
	ctx := context.Background()
	srv, err := realtime.New(ctx, realtime.Config{
		DatabaseURL: "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
		JWTSecret:   []byte("super-secret-jwt-token-with-at-least-32-characters-long"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	mux := http.NewServeMux()
	mux.Handle(realtime.PublicPath, srv)
	mux.Handle(realtime.DirectPath, srv)
	mux.Handle("/admin/realtime/", http.StripPrefix("/admin/realtime", srv.Faults()))

	// In a test: make the next joins fail, then slow every frame down.
	srv.Faults().RefuseJoins(true, "")
	srv.Faults().DelayFrames(200 * time.Millisecond)
	_ = http.ListenAndServe("127.0.0.1:54321", mux)
}
