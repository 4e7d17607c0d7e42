package postgrest_test

import (
	"context"
	"log"
	"net/http"

	"github.com/supabridge/supabridge/shared/localsupabase/postgrest"
)

// The handler serves paths relative to /rest/v1; the gateway in front strips
// the prefix and forwards Authorization: Bearer <jwt>.
func ExampleNew() {
	ctx := context.Background()
	h, err := postgrest.New(ctx, postgrest.Config{
		DatabaseURL: "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
		JWTSecret:   []byte("super-secret-jwt-token-with-at-least-32-characters-long"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	mux := http.NewServeMux()
	mux.Handle("/rest/v1/", http.StripPrefix("/rest/v1", h))
	log.Fatal(http.ListenAndServe("127.0.0.1:54321", mux))
}
