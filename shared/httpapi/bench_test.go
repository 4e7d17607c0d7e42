package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"log/slog"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/httpapi"
)

// BenchmarkHTTPLayer measures what the operator API conventions cost per
// request (request ID, logging, body limit, routing, cached API key
// authentication, JSON envelope) against a bare handler writing the same
// response, in the same run. It reports the ratio as x-direct.
func BenchmarkHTTPLayer(b *testing.B) {
	k, secret, _ := bridge.NewAPIKey("production", "bench", time.Now())
	keys := &keyStore{keys: map[string]*bridge.APIKey{k.Hash: k}}
	auth := &httpapi.Authenticator{Keys: keys, TTL: time.Hour}
	payload := map[string]any{"result": []string{}, "next_cursor": nil, "result_count": 0}

	direct := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { httpapi.JSON(w, 200, payload) })
	rt := httpapi.NewRouter()
	rt.Handle("GET /integrated-accounts", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.JSON(w, 200, payload)
	})))
	full := httpapi.Serve(rt, httpapi.Options{Logger: slog.New(slog.NewJSONHandler(discard{}, nil))})

	req := httptest.NewRequest("GET", "/integrated-accounts", nil).WithContext(context.Background())
	req.Header.Set("Authorization", "Bearer "+secret.Reveal())
	serve := func(h http.Handler) { h.ServeHTTP(httptest.NewRecorder(), req.Clone(req.Context())) }
	directAllocs := testing.AllocsPerRun(100, func() { serve(direct) })
	fullAllocs := testing.AllocsPerRun(100, func() { serve(full) })

	// Both paths run alternately in one loop, so machine noise hits them
	// alike and the ratio is of the same run.
	var dt, ft time.Duration
	for b.Loop() {
		t0 := time.Now()
		serve(direct)
		t1 := time.Now()
		serve(full)
		ft += time.Since(t1)
		dt += t1.Sub(t0)
	}
	n := float64(b.N)
	b.ReportMetric(float64(ft.Nanoseconds())/n, "supabridge-ns/req")
	b.ReportMetric(float64(dt.Nanoseconds())/n, "direct-ns/req")
	b.ReportMetric(float64(ft)/float64(dt), "x-direct")
	b.ReportMetric(fullAllocs, "supabridge-allocs/req")
	b.ReportMetric(directAllocs, "direct-allocs/req")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
