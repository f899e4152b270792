package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool/admin"
)

// poold domains attach / list / detach on the store; bad input changes nothing; without
// Cloudflare and a target, attach refuses and says what to set.
func TestDomainsCommands(t *testing.T) {
	h := newHarness(t)
	h.env["POOL_DOMAIN"] = "tenants.example.net"
	h.mustRun("batch", "create", "--count", "2", "--tier", "premium")
	var slug string
	for _, line := range strings.Split(h.mustRun("claim", "--order", "manual-1", "--tier", "premium"), "\n") {
		if s, ok := strings.CutPrefix(line, "account:"); ok {
			slug = strings.TrimSpace(s)
		}
	}

	_, err := h.run(context.Background(), "domains", "attach", slug, "ai.acme.com")
	if err == nil || !strings.Contains(err.Error(), "POOL_CUSTOM_DOMAIN_TARGET") {
		t.Fatalf("attach without custom domains configured: %v", err)
	}

	h.env["POOL_CUSTOM_DOMAIN_TARGET"] = "customers.tenants.example.net"
	h.env["POOL_CLOUDFLARE_ZONE_ID"] = "0123456789abcdef0123456789abcdef"
	h.env["POOL_CLOUDFLARE_API_TOKEN"] = "cf-token-0123456789abcdefghijklmnop"
	for _, tc := range []struct{ host, want string }{
		{"198.51.100.4", "IP address"},
		{"x.tenants.example.net", "platform"},
		{"nodot", "needs a dot"},
	} {
		if _, err := h.run(context.Background(), "domains", "attach", slug, tc.host); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("attach %s: %v, want %q", tc.host, err, tc.want)
		}
	}
	if out := h.mustRun("domains", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("refusals left rows: %s", out)
	}
	out := h.mustRun("domains", "attach", slug, "AI.Acme.com")
	if !strings.Contains(out, "ai.acme.com attached to "+slug) {
		t.Fatalf("attach: %s", out)
	}
	if _, err := h.run(context.Background(), "domains", "attach", slug, "two.acme.com"); err == nil || !strings.Contains(err.Error(), "allowance") {
		t.Fatalf("second domain on premium: %v", err)
	}
	var views []admin.DomainView
	if err := json.Unmarshal([]byte(h.mustRun("domains", "list", slug, "--json")), &views); err != nil {
		t.Fatal(err)
	}
	if len(views) != 1 || views[0].Hostname != "ai.acme.com" || views[0].State != "requested" {
		t.Fatalf("list %+v", views)
	}
	if out := h.mustRun("domains", "detach", slug, "ai.acme.com"); !strings.Contains(out, "detaching") {
		t.Fatalf("detach: %s", out)
	}
	if table := h.mustRun("domains", "list"); !strings.Contains(table, "detaching") {
		t.Fatalf("table: %s", table)
	}
}

// config check reports custom-domain settings that cannot work, and notes when they are off.
func TestConfigCheckCustomDomains(t *testing.T) {
	h := newHarness(t)
	out, err := h.run(context.Background(), "config", "check")
	if !strings.Contains(out, "custom domains disabled") {
		t.Fatalf("off: %s (%v)", out, err)
	}
	h.env["POOL_CUSTOM_DOMAIN_TARGET"] = "customers.example.net"
	h.env["POOL_CUSTOM_DOMAIN_EXPIRY"] = "5m"
	_, err = h.run(context.Background(), "config", "check")
	if err == nil || !strings.Contains(err.Error(), "custom domains need Cloudflare") || !strings.Contains(err.Error(), "POOL_CUSTOM_DOMAIN_EXPIRY") {
		t.Fatalf("bad settings: %v", err)
	}
}
