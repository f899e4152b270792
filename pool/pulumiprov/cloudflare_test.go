package pulumiprov_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/infra/tenant"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
)

const (
	cfZone  = "0123456789abcdef0123456789abcdef"
	cfToken = "cloudflare-token-do-not-log"
)

// twoHosts are the hosts of a real-domain platform: a, the wildcard target, and b.
func twoHosts() []platform.Host {
	a, b := host("a", 1), host("b", 5)
	a.Address, b.Address, b.WildcardTarget = "203.0.113.1", "203.0.113.2", false
	return []platform.Host{a, b}
}

// cfProvisioner is a provisioner on the real engine reading the platform stack in backend, with
// cf as its Cloudflare settings; host a is full (another tenant), so tenants go to b.
func cfProvisioner(t *testing.T, ts *tenants, dir, backend string, cf *platform.CloudflareConfig) *pulumiprov.Provisioner {
	t.Helper()
	p, err := pulumiprov.New(t.Context(), pulumiprov.Config{
		DataDir: dir, PulumiCLI: pooltest.PulumiCLI(t), BackendURL: backend, SecretKey: []byte("0123456789abcdef0123456789abcdef"),
		PlatformStack: "organization/tenantpool/dev", Cloudflare: cf,
		Place: func(_ context.Context, _ int64, _ string, hosts []pool.HostCapacity) (string, error) {
			for _, h := range hosts {
				if h.Name == "b" {
					return "b", nil
				}
			}
			return "", fmt.Errorf("host b not offered: %v", hosts)
		},
		Tiers: pool.Tiers{"basic": testTier()}, Image: testImage, Revision: "test", Program: ts.program,
		Gate:          langflow.NewGate(langflow.GateOptions{PollInterval: 10 * time.Millisecond}),
		HealthTimeout: time.Minute, Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// Two hosts on example.com from the platform stack: a tenant placed on b, which the wildcard
// does not cover, needs Cloudflare for its DNS record. Without Cloudflare settings CheckDNS
// refuses the configuration up front, naming host b (and the account would fail for good);
// with them the account's spec carries the zone and token, and it provisions on b.
func TestSecondHostNeedsCloudflare(t *testing.T) {
	ts := newTenants(t)
	dir := t.TempDir()
	backend := "file://" + dir + "/state"
	makePlatformStack(t, dir+"/platform", backend, "example.com", twoHosts())

	without := cfProvisioner(t, ts, dir+"/without", backend, nil)
	err := without.CheckDNS(t.Context())
	if !errors.Is(err, tenant.ErrNeedsCloudflare) || !strings.Contains(err.Error(), "host b is not the wildcard target") ||
		!strings.Contains(err.Error(), "organization/tenantpool/dev") || strings.Contains(err.Error(), "host a") {
		t.Fatalf("CheckDNS without Cloudflare = %v, want host b of the platform stack refused", err)
	}
	a := account(1, "client01")
	ts.server(a)
	if _, err := without.Provision(t.Context(), a, testTier()); !pool.IsPermanent(err) || !strings.Contains(err.Error(), "host b is not the wildcard target") {
		t.Fatalf("Provision without Cloudflare = %v, want the permanent failure CheckDNS foresaw", err)
	}

	cf := &platform.CloudflareConfig{ZoneID: cfZone, APIToken: cfToken}
	with := cfProvisioner(t, ts, dir+"/with", backend, cf)
	if err := with.CheckDNS(t.Context()); err != nil {
		t.Fatalf("CheckDNS with Cloudflare: %v", err)
	}
	b := account(2, "client02")
	ts.server(b)
	got, err := with.Provision(t.Context(), b, testTier())
	if err != nil {
		t.Fatalf("Provision with Cloudflare: %v", err)
	}
	spec := ts.specs[b.Slug]
	if got.Host != "b" || spec.Host.Name != "b" || spec.Domain != "example.com" {
		t.Fatalf("placed on %q (spec host %q, domain %q), want b of example.com", got.Host, spec.Host.Name, spec.Domain)
	}
	if !reflect.DeepEqual(spec.Cloudflare, cf) {
		t.Errorf("spec Cloudflare = %+v, want the configured zone and token", spec.Cloudflare)
	}
	if err := spec.Validate(); err != nil {
		t.Errorf("the spec the program got is invalid: %v", err)
	}
}

// Cloudflare settings are checked with the rest of the configuration: a bad zone, a missing
// token, Cloudflare on a local domain, a non-wildcard host of a real domain without Cloudflare.
func TestConfigRejectsBadCloudflare(t *testing.T) {
	for _, tc := range []struct {
		name   string
		domain string
		hosts  []platform.Host
		stack  string
		cf     *platform.CloudflareConfig
		want   string
	}{
		{"bad zone", "example.com", twoHosts(), "", &platform.CloudflareConfig{ZoneID: "zone", APIToken: cfToken}, "zone id"},
		{"bad zone with a platform stack", "", nil, "organization/tenantpool/prod", &platform.CloudflareConfig{ZoneID: "zone", APIToken: cfToken}, "zone id"},
		{"no token", "example.com", twoHosts(), "", &platform.CloudflareConfig{ZoneID: cfZone}, "API token"},
		{"local domain", "localhost", twoHosts()[:1], "", &platform.CloudflareConfig{ZoneID: cfZone, APIToken: cfToken}, "must not be configured"},
		{"second host without Cloudflare", "example.com", twoHosts(), "", nil, "host b is not the wildcard target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pulumiprov.New(t.Context(), pulumiprov.Config{
				DataDir: t.TempDir(), PulumiCLI: "/nonexistent/pulumi", SecretKey: make([]byte, 32),
				Hosts: tc.hosts, Domain: tc.domain, PlatformStack: tc.stack, Image: testImage, Cloudflare: tc.cf,
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, pulumiprov.ErrMissingCLI) {
				t.Fatalf("New = %v, want it refused for %q before the CLI is looked at", err, tc.want)
			}
			if strings.Contains(err.Error(), cfToken) {
				t.Error("the token is quoted")
			}
		})
	}
}
