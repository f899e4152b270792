package platform

import (
	"errors"
	"strings"
	"testing"
)

// The tenants' domain and the company's are both checked; one registrable domain for both is
// refused, because tenants on sibling subdomains of the company's domain can set cookies for it.
func TestDomainsValidated(t *testing.T) {
	for _, tc := range []struct {
		name          string
		domain, shop  string
		want          string // "" = valid
		sameSite      bool
		registrableAs string
	}{
		{"recommended: two registrable domains", "axiestudio.app", "axiestudio.se", "", false, "axiestudio.app"},
		{"no company domain", "axiestudio.com", "", "", false, ""},
		{"company on the tenants' apex", "axiestudio.com", "axiestudio.com", "same site (axiestudio.com)", true, "axiestudio.com"},
		{"tenants on a sibling subdomain", "apps.axiestudio.se", "axiestudio.se", "same site (axiestudio.se)", true, "axiestudio.se"},
		{"shop under the tenants' domain", "axiestudio.app", "shop.axiestudio.app", "same site (axiestudio.app)", true, "axiestudio.app"},
		{"both under a multi-label suffix", "apps.example.co.uk", "www.example.co.uk", "same site (example.co.uk)", true, "example.co.uk"},
		{"two sites under one suffix", "tenants.co.uk", "shop.co.uk", "", false, "tenants.co.uk"},
		{"private suffix: two sites", "tenants.github.io", "shop.github.io", "", false, "tenants.github.io"},
		{"malformed company domain", "axiestudio.app", "Shop.Example", `company domain: domain "Shop.Example"`, false, ""},
		{"company domain with a trailing dot", "axiestudio.app", "axiestudio.se.", "company domain", false, ""},
		{"company domain a public suffix", "axiestudio.app", "co.uk", "company domain co.uk is a public suffix", false, ""},
		{"tenant domain a public suffix", "github.io", "axiestudio.se", "domain github.io is a public suffix", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := prodConfig()
			cfg.Domain, cfg.CompanyDomain = tc.domain, tc.shop
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != "" && (!errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if tc.shop != "" && tc.registrableAs != "" {
				same, site := SameSite(tc.domain, tc.shop)
				if same != tc.sameSite || same && site != tc.registrableAs {
					t.Errorf("SameSite = %v, %q", same, site)
				}
				if !same && Site(tc.domain) != tc.registrableAs {
					t.Errorf("Site(%s) = %q", tc.domain, Site(tc.domain))
				}
			}
		})
	}
	// Local development needs no registrable domain.
	dev := devConfig()
	dev.CompanyDomain = "shop.localhost"
	if err := dev.Validate(); err != nil {
		t.Errorf("local tenants and shop: %v", err)
	}
}

func TestEgressSettingsValidated(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"bridge name too long", func(c *Config) { c.Bridge = "tenantpool-tenants" }, "bridge name \"tenantpool-tenants\" must be a Linux interface name"},
		{"resolver not an address", func(c *Config) { c.TenantResolvers = []string{"dns.internal"} }, `resolver "dns.internal" is not an IP address`},
		{"resolver loopback", func(c *Config) { c.TenantResolvers = []string{"127.0.0.53"} }, "resolver 127.0.0.53: not a unicast address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := prodConfig()
			tc.mutate(&cfg)
			if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}
