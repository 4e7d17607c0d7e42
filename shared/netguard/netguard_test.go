package netguard

import (
	"net/netip"
	"testing"
)

func TestPublicAddr(t *testing.T) {
	cases := []struct {
		ip     string
		public bool
	}{
		{"93.184.216.34", true},
		{"104.18.38.12", true},
		{"2606:4700::6812:260c", true},
		{"127.0.0.1", false},
		{"127.255.0.9", false},
		{"::1", false},
		{"10.0.0.5", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"fd00:ec2::254", false},   // EC2 metadata over IPv6
		{"fe80::1", false},
		{"100.64.0.1", false}, // CGNAT
		{"100.100.100.200", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"255.255.255.255", false},
		{"198.18.0.1", false},
		{"240.0.0.1", false},
		{"::ffff:127.0.0.1", false},    // IPv4-mapped loopback
		{"::ffff:93.184.216.34", true}, // IPv4-mapped public
		{"64:ff9b::a00:1", false},      // NAT64 of 10.0.0.1
		{"64:ff9b::5db8:d822", true},   // NAT64 of 93.184.216.34
		{"172.32.0.1", true},
		{"192.0.2.10", false},  // documentation
		{"2001:db8::1", false}, // documentation
		{"::ffff:10.0.0.1", false},
		{"8.8.8.8", true},
	}
	for _, tc := range cases {
		if got := PublicAddr(netip.MustParseAddr(tc.ip)); got != tc.public {
			t.Errorf("PublicAddr(%s) = %v, want %v", tc.ip, got, tc.public)
		}
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "app.localhost": true, "127.0.0.1": true, "[::1]": true,
		"::ffff:127.0.0.1": true, "example.com": false, "10.0.0.1": false, "localhost.example.com": false,
	} {
		if got := LoopbackHost(host); got != want {
			t.Errorf("LoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
