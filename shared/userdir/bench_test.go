package userdir_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/supabase"
)

// BenchmarkListTenThousandUsers lists 10,000 users, 100 a page, through
// the unified API (over HTTP, as a caller would) with each paging strategy
// (keyset, the default, and windows over Auth's admin list) and reads the
// same pages directly from the local Supabase (Auth's admin list plus the
// directory tables in one Data API read, as a caller without Supabridge
// would), alternating the three page by page in one loop so that all meet
// the same machine. It reports each path's median page latency, the ratios
// to the direct path (x-direct-p50, goal ≤ 1.05; x-direct-p50-windows), the
// whole listing's ratio, bytes allocated per page (the local Supabase runs
// in this process, so every path includes its share), and the process's
// peak heap.
//
//	go test ./shared/userdir -run '^$' -bench ListTenThousandUsers -benchtime 3x
func BenchmarkListTenThousandUsers(b *testing.B) {
	p := newProject(b, "bench")
	seedUsers(b, p, 10_000)
	f := newFixture(b)
	acct := f.projectAccount(b, p)
	windows := f.projectAccountWith(b, p, windowsSettings)
	srv := httptest.NewServer(f.handler)
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	direct, err := supabase.NewProjectClient(p.APIURL, p.SecretKey)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const limit = 100
	embed := "*,sb_assignments:user_roles(*,sb_role:roles(id,name),sb_organization:organizations(id,name))"

	unifiedPage := func(account, cursor string) (next string, n int) {
		qv := url.Values{"integrated_account_id": {account}, "limit": {strconv.Itoa(limit)}}
		if cursor != "" {
			qv.Set("next_cursor", cursor)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+base+"/users?"+qv.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+f.key)
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var page struct {
			NextCursor  *string `json:"next_cursor"`
			ResultCount int     `json:"result_count"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &page) != nil {
			b.Fatalf("unified page: %d %.200s", resp.StatusCode, body)
		}
		if page.NextCursor != nil {
			next = *page.NextCursor
		}
		return next, page.ResultCount
	}
	directPage := func(page int) (more bool, n int) {
		users, resp, err := direct.Auth.ListUsers(ctx, &supabase.ListUsersOptions{Page: page, PerPage: limit, Sort: "created_at asc"})
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]string, len(users))
		for i, u := range users {
			ids[i] = u.ID
		}
		var buf bytes.Buffer
		if len(ids) > 0 {
			if _, err := direct.REST.Select(ctx, "profiles", &supabase.SelectOptions{
				Columns: []string{embed}, Filters: []supabase.Filter{supabase.In("id", ids...)}, Limit: len(ids),
			}, &buf); err != nil {
				b.Fatal(err)
			}
			var rows []map[string]json.RawMessage
			if err := json.Unmarshal(buf.Bytes(), &rows); err != nil {
				b.Fatal(err)
			}
		}
		return resp.NextPage > page, len(users)
	}
	// One listing of each path first: connections, caches and the
	// database's buffers are warm before anything is timed.
	for _, id := range []string{acct.ID, windows.ID} {
		for c, _ := unifiedPage(id, ""); c != ""; c, _ = unifiedPage(id, c) {
		}
	}
	for p, more := 1, true; more; p++ {
		more, _ = directPage(p)
	}

	var uLat, wLat, dLat []time.Duration
	var uTotal, dTotal time.Duration
	var uAlloc, dAlloc, peak uint64
	var ms runtime.MemStats
	// measure times fn and the bytes allocated meanwhile.
	measure := func(fn func()) (time.Duration, uint64) {
		runtime.ReadMemStats(&ms)
		a0 := ms.TotalAlloc
		t0 := time.Now()
		fn()
		d := time.Since(t0)
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		return d, ms.TotalAlloc - a0
	}
	for b.Loop() {
		cursor, wCursor, page := "", "", 1
		uDone, wDone, dDone := false, false, false
		var uSeen, wSeen, dSeen int
		for !uDone || !wDone || !dDone {
			if !uDone {
				var n int
				d, a := measure(func() { cursor, n = unifiedPage(acct.ID, cursor) })
				uLat, uTotal, uAlloc, uSeen = append(uLat, d), uTotal+d, uAlloc+a, uSeen+n
				uDone = cursor == ""
			}
			if !wDone {
				var n int
				d, _ := measure(func() { wCursor, n = unifiedPage(windows.ID, wCursor) })
				wLat, wSeen = append(wLat, d), wSeen+n
				wDone = wCursor == ""
			}
			if !dDone {
				var n int
				var more bool
				d, a := measure(func() { more, n = directPage(page) })
				dLat, dTotal, dAlloc, dSeen = append(dLat, d), dTotal+d, dAlloc+a, dSeen+n
				dDone, page = !more, page+1
			}
		}
		if uSeen != 10_000 || wSeen != 10_000 || dSeen != 10_000 {
			b.Fatalf("listed %d users (keyset), %d (windows) and %d directly, want 10000 each", uSeen, wSeen, dSeen)
		}
	}
	slices.Sort(uLat)
	slices.Sort(wLat)
	slices.Sort(dLat)
	p50 := func(d []time.Duration) float64 { return float64(d[len(d)/2].Microseconds()) / 1000 }
	b.ReportMetric(p50(uLat), "unified-p50-ms/page")
	b.ReportMetric(p50(dLat), "direct-p50-ms/page")
	b.ReportMetric(p50(wLat), "windows-p50-ms/page")
	b.ReportMetric(p50(uLat)/p50(dLat), "x-direct-p50")
	b.ReportMetric(p50(wLat)/p50(dLat), "x-direct-p50-windows")
	b.ReportMetric(float64(uTotal)/float64(dTotal), "x-direct-total")
	b.ReportMetric(float64(uAlloc)/float64(len(uLat))/1024, "unified-KB-alloc/page")
	b.ReportMetric(float64(dAlloc)/float64(len(dLat))/1024, "direct-KB-alloc/page")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(0, "ns/op")
}
