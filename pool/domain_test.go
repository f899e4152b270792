package pool_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
)

func TestNormalizeHostname(t *testing.T) {
	platform := []string{"tenants.example.net", "example.com"}
	for _, tc := range []struct {
		in, want string
	}{
		{"ai.yourcompany.com", "ai.yourcompany.com"},
		{"  AI.YourCompany.COM.  ", "ai.yourcompany.com"},
		{"studio.bücher.de", "studio.xn--bcher-kva.de"},
		{"yourcompany.co.uk", "yourcompany.co.uk"},
		{"ai.example.community", "ai.example.community"}, // shares a prefix with a platform domain, not under it
	} {
		got, err := pool.NormalizeHostname(tc.in, platform...)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeHostname(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", "   ", "localhost", "203.0.113.7", "[2001:db8::1]", "2001:db8::1",
		"https://ai.yourcompany.com", "ai.yourcompany.com:443", "ai.yourcompany.com/x", "*.yourcompany.com",
		"client01.tenants.example.net", "tenants.example.net", "example.com", "shop.EXAMPLE.com",
		"co.uk", "com", "ai.yourcompany.invalidtld", "-ai.yourcompany.com", "ai_x.yourcompany.com",
		strings.Repeat("a", 64) + ".yourcompany.com",
		strings.Repeat(strings.Repeat("a", 60)+".", 5) + "com",
	} {
		got, err := pool.NormalizeHostname(in, platform...)
		if !errors.Is(err, pool.ErrInvalidHostname) {
			t.Errorf("NormalizeHostname(%q) = %q, %v; want ErrInvalidHostname", in, got, err)
		}
	}
}
