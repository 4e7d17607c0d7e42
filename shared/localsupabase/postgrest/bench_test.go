package postgrest_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/supabridge/supabridge/shared/localsupabase/postgrest"
)

// BenchmarkList10k lists 10,000 rows through the handler and, in the same
// run, with the equivalent direct query; it reports handler/direct.
func BenchmarkList10k(b *testing.B) {
	ctx := context.Background()
	execSQL(b, `CREATE TABLE IF NOT EXISTS bench10k (id int PRIMARY KEY, name text NOT NULL, n bigint, at timestamptz DEFAULT now());
		INSERT INTO bench10k SELECT g, 'name ' || g, g * 7 FROM generate_series(1, 10000) g ON CONFLICT DO NOTHING`)
	h, err := postgrest.New(ctx, postgrest.Config{DatabaseURL: dbURL, JWTSecret: []byte(secret), MaxRows: 10000})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()

	var direct, viaAPI time.Duration
	var body []byte
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := pool.QueryRow(ctx, "SELECT coalesce(json_agg(t), '[]')::text FROM (SELECT * FROM bench10k) t").Scan(&body); err != nil {
			b.Fatal(err)
		}
		direct += time.Since(start)

		start = time.Now()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/bench10k", nil))
		viaAPI += time.Since(start)
		if w.Code != 200 || w.Body.Len() < len(body)/2 {
			b.Fatalf("status %d, %d bytes", w.Code, w.Body.Len())
		}
	}
	b.ReportMetric(float64(viaAPI)/float64(direct), "handler/direct")
}
