package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/localsupabase/faults"
	"github.com/supabridge/supabridge/shared/proxy"
)

// BenchmarkProxy sends the same requests, interleaved in one loop so that
// all three paths share the machine's noise, (a) straight to the local
// Supabase, (b) through a bare httputil.ReverseProxy hop (the floor of any
// proxy) and (c) through Supabridge's proxy, and reports p50 and p99 per
// path, their ratios, and heap allocations per request (the local Supabase
// and the client run in this process too, so (c)−(a) is the proxy's own
// share).
//
// It runs once against the stand-in as it is (loopback, a small read
// answered in about half a millisecond) and then with the stand-in's
// latency fault adding a fixed delay to every project request, as the
// network between a function and Supabase does; each path pays the delay
// once, so the sub-benchmarks show how the proxy's fixed cost weighs
// against an upstream farther away. Run it with a fixed count, for
// example:
//
//	go test ./shared/proxy -run '^$' -bench BenchmarkProxy -benchtime 400x
func BenchmarkProxy(b *testing.B) {
	for _, delay := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond} {
		name := "upstream=loopback"
		if delay > 0 {
			name = fmt.Sprintf("upstream=+%v", delay)
		}
		b.Run(name, func(b *testing.B) { benchProxy(b, delay) })
	}
}

func benchProxy(b *testing.B, delay time.Duration) {
	w := newWorld(b)
	p := stack.Project()
	key := p.ServiceRoleKey
	acct := w.keyAccount(p, key)
	target, _ := url.Parse(p.APIURL)
	hop := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = "" },
		Transport: proxy.NewTransport(true),
	})
	defer hop.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	if delay > 0 {
		id := stack.Faults().AddLatency(faults.Match{Server: p.ServerName()}, delay, 0)
		defer stack.Faults().Remove(id)
	}

	type path struct {
		name string
		base string
		set  func(http.Header)
	}
	direct := func(h http.Header) { h.Set("apikey", key); h.Set("Authorization", "Bearer "+key) }
	paths := []path{
		{"a", p.APIURL, direct},
		{"b", hop.URL, direct},
		{"c", w.srv.URL + "/proxy", func(h http.Header) {
			h.Set("apikey", w.key)
			h.Set("Authorization", "Bearer "+w.key)
			h.Set(proxy.HeaderAccount, acct.ID)
		}},
	}
	big := `{"payload":"` + strings.Repeat("x", 1<<20) + `"}`
	type shape struct {
		name, method, path, body, want string
	}
	shapes := []shape{
		{"get", http.MethodGet, "/rest/v1/px_bench?select=id,payload&order=id", "", `"payload":"jjjj`},
		{"post", http.MethodPost, "/rest/v1/rpc/px_len", big, "1048576"},
	}
	send := func(pa path, s shape) {
		var body io.Reader
		if s.body != "" {
			body = strings.NewReader(s.body)
		}
		req, _ := http.NewRequest(s.method, pa.base+s.path, body)
		pa.set(req.Header)
		if s.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(out), s.want) {
			b.Fatalf("%s %s via %s: %d %.200s", s.method, s.path, pa.name, resp.StatusCode, out)
		}
	}
	for range 20 {
		for _, s := range shapes {
			for _, pa := range paths {
				send(pa, s)
			}
		}
	}
	var ms runtime.MemStats
	readAllocs := func() uint64 { runtime.ReadMemStats(&ms); return ms.Mallocs }
	lat := map[string][]time.Duration{}
	objs := map[string]uint64{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, s := range shapes {
			for j := range paths {
				pa := paths[(i+j)%len(paths)] // rotate the order: no path always goes first
				k := pa.name + "-" + s.name
				a0 := readAllocs()
				start := time.Now()
				send(pa, s)
				lat[k] = append(lat[k], time.Since(start))
				objs[k] += readAllocs() - a0
			}
			// Collect one shape's garbage between rounds, outside the
			// measured requests: a megabyte POST's collection would
			// otherwise land on whichever path happens to run next.
			runtime.GC()
		}
	}
	b.StopTimer()
	pct := func(k string, q float64) float64 {
		d := slices.Clone(lat[k])
		slices.Sort(d)
		return float64(d[min(len(d)-1, int(q*float64(len(d))))].Microseconds())
	}
	var report strings.Builder
	for _, s := range shapes {
		for _, pa := range paths {
			k := pa.name + "-" + s.name
			b.ReportMetric(pct(k, 0.50), k+"-p50-µs")
			b.ReportMetric(pct(k, 0.99), k+"-p99-µs")
			b.ReportMetric(float64(objs[k])/float64(b.N), k+"-allocs/req")
			fmt.Fprintf(&report, "%-5s %s  p50 %7.0f µs  p99 %7.0f µs  %6.0f allocs/req\n", s.name, pa.name, pct(k, 0.5), pct(k, 0.99), float64(objs[k])/float64(b.N))
		}
		ratio := func(x, y string, q float64) float64 { return pct(x+"-"+s.name, q) / pct(y+"-"+s.name, q) }
		b.ReportMetric(ratio("c", "a", 0.5), "c/a-"+s.name+"-p50")
		b.ReportMetric(ratio("c", "b", 0.5), "c/b-"+s.name+"-p50")
		b.ReportMetric(ratio("c", "b", 0.99), "c/b-"+s.name+"-p99")
		fmt.Fprintf(&report, "%-5s c/a p50 %.3f  c/b p50 %.3f  c/b p99 %.3f  (c-a) %.0f allocs/req, (b-a) %.0f\n", s.name,
			ratio("c", "a", 0.5), ratio("c", "b", 0.5), ratio("c", "b", 0.99),
			(float64(objs["c-"+s.name])-float64(objs["a-"+s.name]))/float64(b.N), (float64(objs["b-"+s.name])-float64(objs["a-"+s.name]))/float64(b.N))
	}
	b.Logf("%d requests per path and shape:\n%s", b.N, report.String())
}

// fakeSupabase answers every request at once with a 1 KB JSON body, so
// BenchmarkOverhead measures the proxies' own work and nothing else.
type fakeSupabase struct{ body []byte }

func (f fakeSupabase) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: r, ContentLength: int64(len(f.body)),
		Header: http.Header{"Content-Type": {"application/json"}, "Content-Length": {fmt.Sprint(len(f.body))}},
		Body:   io.NopCloser(strings.NewReader(string(f.body)))}, nil
}

// BenchmarkOverhead compares, in one loop and without a network, the CPU
// time and allocations of one 1 KB GET through (b) a bare
// httputil.ReverseProxy and (c) Supabridge's proxy behind the function's
// API conventions (request ID, log line, body limit), both in front of an
// upstream that answers at once:
//
//	go test ./shared/proxy -run '^$' -bench BenchmarkOverhead -benchtime 20000x
func BenchmarkOverhead(b *testing.B) {
	up := fakeSupabase{body: []byte(`[` + strings.Repeat(`{"id":1,"payload":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},`, 10) + `{}]`)}
	w := newWorld(b)
	w.h.Transport = up
	p := stack.Project()
	acct := w.keyAccount(p, p.ServiceRoleKey)
	target, _ := url.Parse(p.APIURL)
	bare := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = "" }, Transport: up}
	ours := w.srv.Config.Handler
	const path = "/rest/v1/px_bench?select=id,payload&order=id"
	run := func(h http.Handler, url string, hdr map[string]string) {
		req := httptest.NewRequest(http.MethodGet, url, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Body.Len() != len(up.body) {
			b.Fatalf("%s: %d %s", url, rec.Code, rec.Body.String())
		}
	}
	bareHdr := map[string]string{"apikey": p.ServiceRoleKey, "Authorization": "Bearer " + p.ServiceRoleKey}
	oursHdr := map[string]string{"apikey": w.key, "Authorization": "Bearer " + w.key, proxy.HeaderAccount: acct.ID}
	run(ours, "http://bridge.example.com/proxy"+path, oursHdr) // warm: key, account, credential
	var ms runtime.MemStats
	var took [2]time.Duration
	var objs [2]uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range 2 {
			k := (i + j) % 2
			runtime.ReadMemStats(&ms)
			a0 := ms.Mallocs
			start := time.Now()
			if k == 0 {
				run(bare, "http://hop.example.com"+path, bareHdr)
			} else {
				run(ours, "http://bridge.example.com/proxy"+path, oursHdr)
			}
			took[k] += time.Since(start)
			runtime.ReadMemStats(&ms)
			objs[k] += ms.Mallocs - a0
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(took[0].Nanoseconds())/n, "b-ns/req")
	b.ReportMetric(float64(took[1].Nanoseconds())/n, "c-ns/req")
	b.ReportMetric(float64(took[1])/float64(took[0]), "c/b")
	b.ReportMetric(float64(objs[0])/n, "b-allocs/req")
	b.ReportMetric(float64(objs[1])/n, "c-allocs/req")
}
