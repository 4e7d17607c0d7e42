package link

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/netguard"
)

// fakeResolver answers each lookup with the next answer for the host.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][][]string
	calls   map[string]int
}

func (f *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	list := f.answers[host]
	if len(list) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	i := min(f.calls[host], len(list)-1)
	f.calls[host]++
	var out []net.IPAddr
	for _, s := range list[i] {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

func TestCheckURL(t *testing.T) {
	res := &fakeResolver{answers: map[string][][]string{
		"abcdefghijklmnopqrst.supabase.co": {{"104.18.38.12"}},
		"internal.example":                 {{"10.0.0.7"}},
		"mixed.example":                    {{"104.18.38.12", "192.168.0.3"}},
	}}
	cases := []struct {
		raw          string
		allowPrivate bool
		want         string // canonical URL, or the error's text
		ok           bool
	}{
		{"https://abcdefghijklmnopqrst.supabase.co", false, "https://abcdefghijklmnopqrst.supabase.co", true},
		{" HTTPS://ABCDEFGHIJKLMNOPQRST.supabase.co/ ", false, "https://abcdefghijklmnopqrst.supabase.co", true},
		{"https://internal.example", false, "private or reserved", false},
		{"https://mixed.example", false, "private or reserved", false},
		{"https://unknown.example", false, "could not be found", false},
		{"https://[::1]:8443", false, "private or reserved", false},
		{"https://169.254.169.254", false, "private or reserved", false},
		{"http://abcdefghijklmnopqrst.supabase.co", false, "must start with https://", false},
		{"ftp://abcdefghijklmnopqrst.supabase.co", false, "must start with https://", false},
		{"https://user:secret@abcdefghijklmnopqrst.supabase.co", false, "user name or password", false},
		{"https://abcdefghijklmnopqrst.supabase.co/rest/v1", false, "without a path", false},
		{"https://abcdefghijklmnopqrst.supabase.co?apikey=x", false, "without a path or query", false},
		{"https://abcdefghijklmnopqrst.supabase.co:99999", false, "invalid port", false},
		{"abcdefghijklmnopqrst.supabase.co", false, "full address", false},
		{"", false, "Enter the project URL", false},
		{"http://127.0.0.1:54321", true, "http://127.0.0.1:54321", true},
		{"http://internal.example", true, "http://internal.example", true},
	}
	for _, tc := range cases {
		u := &Upstreams{AllowPrivate: tc.allowPrivate, Resolver: res}
		got, err := u.CheckURL(context.Background(), tc.raw)
		switch {
		case tc.ok && err != nil:
			t.Errorf("CheckURL(%q): %v", tc.raw, err)
		case tc.ok && got.String() != tc.want:
			t.Errorf("CheckURL(%q) = %s, want %s", tc.raw, got, tc.want)
		case !tc.ok && err == nil:
			t.Errorf("CheckURL(%q) = %s, want an error", tc.raw, got)
		case !tc.ok && (!bridge.IsCode(err, bridge.EVALIDATION) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckURL(%q): %v, want a validation error about %q", tc.raw, err, tc.want)
		}
		if err != nil && strings.Contains(tc.raw, "secret") && strings.Contains(err.Error(), "secret") {
			t.Errorf("CheckURL(%q) echoes the credentials: %v", tc.raw, err)
		}
	}
}

// A host that resolves to a public address when checked and to loopback
// when connected to (DNS rebinding) never reaches the loopback listener.
func TestDialRechecksAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	res := &fakeResolver{answers: map[string][][]string{"rebind.example": {{"93.184.216.34"}, {"127.0.0.1"}}}}
	u := &Upstreams{Resolver: res}
	raw := "https://rebind.example:" + strconv.Itoa(port)
	if _, err := u.CheckURL(context.Background(), raw); err != nil {
		t.Fatalf("the first answer is public, so the check passes: %v", err)
	}
	c := u.Client(5 * time.Second)
	resp, err := c.Get(raw + "/auth/v1/settings")
	if err == nil {
		resp.Body.Close()
		t.Fatal("connected after the host rebound to loopback")
	}
	if !errors.Is(err, netguard.ErrNotPublic) {
		t.Errorf("error %v does not say the address was refused", err)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the loopback listener accepted %d connections", n)
	}

	// With AllowPrivate the same dial goes through.
	conn, err := (&Upstreams{AllowPrivate: true}).DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://abcdefghijklmnopqrst.supabase.co", "http://127.0.0.1:54321/", "https://u:p@h", "https://h/%zz", "https://[::1", "//x", "https://h:0"} {
		f.Add(s)
	}
	u := &Upstreams{AllowPrivate: true}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := u.CheckURL(context.Background(), raw)
		if err != nil {
			if !bridge.IsCode(err, bridge.EVALIDATION) {
				t.Fatalf("CheckURL(%q): %v is not a validation error", raw, err)
			}
			return
		}
		if got.User != nil || got.RawQuery != "" || got.Fragment != "" || got.Path != "" || (got.Scheme != "http" && got.Scheme != "https") || got.Host == "" {
			t.Fatalf("CheckURL(%q) = %q is not a bare origin", raw, got)
		}
	})
}
