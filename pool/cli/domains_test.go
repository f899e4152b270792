package cli_test

import (
	"context"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool/pooltest"
)

// config check warns, and does not refuse, when the tenants' domain and the company's share a
// registrable domain; it refuses a malformed company domain.
func TestConfigCheckCompanyDomain(t *testing.T) {
	for _, tc := range []struct {
		name, tenants, company string
		warn, fail             string
	}{
		{"separate sites", "axiestudio.app", "axiestudio.se", "", ""},
		{"tenants beside the shop", "apps.axiestudio.se", "axiestudio.se", "warning: tenant domain apps.axiestudio.se and company domain axiestudio.se are one site (axiestudio.se)", ""},
		{"shop on the tenants' apex", "axiestudio.com", "axiestudio.com", "are one site (axiestudio.com): a tenant can set cookies", ""},
		{"local development", "localhost", "shop.localhost", "", ""},
		{"malformed", "axiestudio.app", "Shop_Example", "", `--company-domain: domain "Shop_Example"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.env["POOL_DOMAIN"], h.env["POOL_COMPANY_DOMAIN"] = tc.tenants, tc.company
			out, err := h.run(context.Background(), "config", "check")
			switch {
			case tc.fail != "":
				if err == nil || !strings.Contains(err.Error(), tc.fail) {
					t.Fatalf("config check = %q, %v; want a problem saying %q", out, err, tc.fail)
				}
				return
			case err != nil:
				t.Fatalf("config check: %v\n%s", err, out)
			}
			if !strings.Contains(out, "configuration ok") {
				t.Errorf("output %q", out)
			}
			if tc.warn == "" && strings.Contains(out, "one site") || tc.warn != "" && !strings.Contains(out, tc.warn) {
				t.Errorf("output %q, want warning %q", out, tc.warn)
			}
		})
	}
}

// With provisioning configured a malformed company domain is one of validate's problems,
// reported once.
func TestConfigCheckCompanyDomainWithProvisioning(t *testing.T) {
	h := provisioningHarness(t)
	h.env["POOL_COMPANY_DOMAIN"] = "-bad-"
	_, err := h.run(context.Background(), "config", "check")
	if err == nil || strings.Count(err.Error(), "--company-domain") != 1 {
		t.Fatalf("config check: %v; want the company domain reported once", err)
	}
}

// serve warns at start, with both domains, and serves all the same.
func TestServeWarnsOfOneSite(t *testing.T) {
	h := provisioningHarness(t)
	h.env["TENANTPOOL_PULUMI"] = pooltest.PulumiCLI(t) // nothing is provisioned: min_ready 0
	h.env["POOL_DOMAIN"], h.env["POOL_COMPANY_DOMAIN"] = "apps.axiestudio.se", "axiestudio.se"
	h.env["POOL_CONFIG"] = writeFile(t, "pool.yaml", "tiers:\n  - {name: basic, min_ready: 0, max_total: 1, max_in_flight: 1, memory_mb: 512, cpus: 1}\n")
	_, stop := h.serve(nil)
	stop()
	logs := h.logs.String()
	if !strings.Contains(logs, "tenant domain apps.axiestudio.se and company domain axiestudio.se are one site (axiestudio.se)") ||
		!strings.Contains(logs, `"company_domain":"axiestudio.se"`) {
		t.Errorf("serve did not warn of one site:\n%s", logs)
	}
}
