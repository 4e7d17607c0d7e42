package link_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Nothing an end customer's browser sends makes the connect routes answer
// 5xx.
func FuzzConnectRoutes(f *testing.F) {
	e := newEnv(f, "sqlite", envOptions{})
	paths := []string{"/connect/api-key", "/connect/access-token", "/connect/oauth"}
	f.Add(uint8(0), "", "", "", "", "link_token=x")
	f.Add(uint8(1), "slt_"+strings.Repeat("0", 32)+"_"+strings.Repeat("A", 43), "csrf", "https://abcdefghijklmnopqrst.supabase.co", "sb_secret_x", "mode=popup&origin=https://evil.test")
	f.Add(uint8(2), "slt_zz", "", "sbp_0", "", "state=a.b.c&code=x")
	f.Add(uint8(3), "", "", "", "", "state=0193a8f27c4e7d109b2a5f1e3c8d9aff.QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ&error=access_denied")
	f.Add(uint8(4), "\x00", "%", "%zz", "", "%zz=%")
	f.Fuzz(func(t *testing.T, which uint8, tok, csrf, a, b, rawQuery string) {
		var resp *http.Response
		var err error
		switch which % 5 {
		case 0:
			resp, err = noRedirects.Get(e.srv.URL + "/connect?" + rawQuery)
		case 1:
			resp, err = noRedirects.Get(e.srv.URL + "/connect/oauth/callback?" + rawQuery)
		default:
			form := url.Values{"link_token": {tok}, "csrf_token": {csrf}, "project_url": {a}, "api_key": {b}, "access_token": {a}, "origin": {b}}
			resp, err = noRedirects.PostForm(e.srv.URL+paths[int(which)%len(paths)], form)
		}
		if err != nil {
			return // a request Go's client refuses to send
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("answered %d", resp.StatusCode)
		}
	})
}
