package tenant

import (
	"errors"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/infra/internal/pulumitest"
	"github.com/axiestudio/tenantpool/infra/platform"
)

// twoHostPlatform is a real-domain platform with two Docker hosts, a and b.
func twoHostPlatform(cf *platform.CloudflareConfig) platform.Config {
	return platform.Config{
		Domain: "example.com",
		Hosts: []platform.HostConfig{
			{Name: "a", DockerURL: "ssh://deploy@203.0.113.1", Address: "203.0.113.1", Capacity: 10},
			{Name: "b", DockerURL: "ssh://deploy@203.0.113.2", Address: "203.0.113.2", Capacity: 10},
		},
		ProxyImage: "traefik:v3.5@sha256:" + strings.Repeat("2", 64),
		PooldImage: "tenantpool/poold:1@sha256:" + strings.Repeat("3", 64),
		TLS: platform.TLSConfig{Mode: platform.TLSCloudflareOrigin,
			OriginCertificate: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
			OriginPrivateKey:  "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"},
		Cloudflare: cf,
	}
}

// Two hosts on a real domain: the platform points *.example.com at its first host, a. A tenant
// placed on the second host, b, as the platform's hosts output describes it, gets a DNS record of
// its own (proxied, at b's address, in the zone), which takes precedence over the wildcard; a
// tenant on a needs none. Without Cloudflare the rule refuses b for every tenant at once, and
// names b only.
func TestTenantOnTheSecondHostOfARealDomainGetsItsOwnRecord(t *testing.T) {
	cf := &CloudflareConfig{ZoneID: zoneID, APIToken: cfToken}
	pcfg := twoHostPlatform(cf)
	pm, err := pulumitest.Run("prod", platform.Program(pcfg))
	if err != nil {
		t.Fatalf("platform program: %v", err)
	}
	if w := pm.Get(t, tRecord, "wildcard"); w.String("name") != "*.example.com" || w.String("content") != "203.0.113.1" {
		t.Fatalf("wildcard record = %v, want *.example.com → host a", w.Inputs)
	}

	hosts := pcfg.OutputHosts()
	if len(hosts) != 2 || !hosts[0].WildcardTarget || hosts[1].WildcardTarget || hosts[1].Name != "b" {
		t.Fatalf("hosts output = %+v, want a (wildcard target) and b", hosts)
	}
	if err := ValidateDNS("example.com", cf, hosts...); err != nil {
		t.Fatalf("with Cloudflare: %v", err)
	}
	err = ValidateDNS("example.com", nil, hosts...)
	if !errors.Is(err, ErrNeedsCloudflare) || !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "host b is not the wildcard target") ||
		strings.Contains(err.Error(), "host a") {
		t.Fatalf("without Cloudflare: %v, want host b (only) refused for want of Cloudflare", err)
	}

	for _, h := range hosts {
		t.Run("on "+h.Name, func(t *testing.T) {
			spec := prodSpec(t, "basic")
			spec.Domain, spec.Host, spec.Cloudflare = "example.com", h, cf
			if err := spec.Validate(); err != nil {
				t.Fatalf("spec: %v", err)
			}
			m := run(t, spec)
			records := m.OfType(tRecord)
			if h.WildcardTarget {
				if len(records) != 0 || len(m.OfType(tCFProvider)) != 0 {
					t.Fatalf("a tenant on the wildcard host registered %d records: %s", len(records), m.List())
				}
				return
			}
			if len(records) != 1 {
				t.Fatalf("records = %d, want 1:\n%s", len(records), m.List())
			}
			r := records[0]
			for key, want := range map[string]any{"name": "client07.example.com", "type": "A", "content": "203.0.113.2",
				"zoneId": zoneID, "proxied": true, "ttl": 1.0} {
				if got, _ := r.Input(key); got != want {
					t.Errorf("record %s = %v, want %v", key, got, want)
				}
			}
			providers := m.OfType(tCFProvider)
			if len(providers) != 1 || !strings.Contains(r.Provider, providers[0].Name) {
				t.Fatalf("the record's provider %q is not the tenant's Cloudflare provider (%d providers)", r.Provider, len(providers))
			}
			if token, secret := providers[0].Input("apiToken"); token != cfToken || !secret {
				t.Error("the provider's API token is not the configured one, as a secret")
			}
		})
	}
}

// ValidateDNS is Validate's DNS rule for many hosts: each problem once, every host named.
func TestValidateDNS(t *testing.T) {
	cf := &CloudflareConfig{ZoneID: zoneID, APIToken: cfToken}
	local := devSpec(t).Host
	a, b, c := Host{Name: "a", WildcardTarget: true, Address: "203.0.113.1"}, Host{Name: "b", Address: "203.0.113.2"}, Host{Name: "c"}
	for _, tc := range []struct {
		name   string
		domain string
		cf     *CloudflareConfig
		hosts  []Host
		want   []string // substrings; none: valid
		unwant string
	}{
		{"dev", "localhost", nil, []Host{local}, nil, ""},
		{"local domain, hosts not wildcard targets", "localhost", nil, []Host{b, c}, nil, ""},
		{"one wildcard host", "example.com", nil, []Host{a}, nil, ""},
		{"two hosts with Cloudflare", "example.com", cf, []Host{a, b}, nil, ""},
		{"two hosts without Cloudflare", "example.com", nil, []Host{a, b, c}, []string{"host b is not the wildcard target", "host c is not the wildcard target"}, "host a"},
		{"no address for the record", "example.com", cf, []Host{a, c}, []string{"host c has no address"}, "host a"},
		{"Cloudflare on a local domain, said once", "localhost", cf, []Host{local, b}, []string{"domain localhost is local"}, ""},
		{"bad zone, said once", "example.com", &CloudflareConfig{ZoneID: "zone", APIToken: cfToken}, []Host{a, b}, []string{`zone id "zone"`}, ""},
		{"no hosts: the zone still counts", "example.com", &CloudflareConfig{ZoneID: zoneID}, nil, []string{"API token"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateDNS(tc.domain, tc.cf, tc.hosts...)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("ValidateDNS: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("ValidateDNS = %v, want an invalid spec", err)
			}
			for _, w := range tc.want {
				if n := strings.Count(err.Error(), w); n != 1 {
					t.Errorf("%q said %d times in %v", w, n, err)
				}
			}
			if tc.unwant != "" && strings.Contains(err.Error(), tc.unwant) {
				t.Errorf("%q named in %v", tc.unwant, err)
			}
			if strings.Contains(err.Error(), cfToken) {
				t.Error("the token is quoted")
			}
		})
	}
}
