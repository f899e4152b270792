package pulumiprov_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
)

// Every update of a tenant's stack (here a re-apply, on the real engine) carries the account's
// custom domains as they are stored: every one not detaching as a Cloudflare custom hostname,
// only the active ones routed.
func TestReapplyCarriesTheAccountsDomains(t *testing.T) {
	ts := newTenants(t)
	premium := pool.DefaultTiers()[1]
	premium.CustomDomains = 3
	var mu sync.Mutex
	domains := []pool.CustomDomain{
		{Hostname: "a.acme.com", State: pool.DomainActive},
		{Hostname: "b.acme.com", State: pool.DomainPending},
		{Hostname: "c.acme.com", State: pool.DomainDetaching},
	}
	p, _ := newProvisioner(t, ts, options{
		domain: "tenants.example.net", tiers: pool.Tiers{premium.Name: premium},
		cloudflare: &platform.CloudflareConfig{ZoneID: "0123456789abcdef0123456789abcdef", APIToken: "cf-token-0123456789abcdefgh"},
		domains: func(context.Context, int64) ([]pool.CustomDomain, error) {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(domains), nil
		},
	})
	a := account(1, "client01")
	a.Tier = premium.Name
	ts.server(a)
	got, err := p.Provision(t.Context(), a, premium)
	if err != nil {
		t.Fatal(err)
	}
	a.State, a.Host, a.URL, a.CustomerUserID = pool.StateDelivered, got.Host, got.URL, got.CustomerUserID
	spec := func() ([]string, []string) {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		s := ts.specs[a.Slug]
		return s.CustomDomains, s.ActiveDomains
	}
	if c, r := spec(); !slices.Equal(c, []string{"a.acme.com", "b.acme.com"}) || !slices.Equal(r, []string{"a.acme.com"}) {
		t.Fatalf("provision: custom %v, routed %v", c, r)
	}
	mu.Lock()
	domains[1].State = pool.DomainActive
	domains = domains[:2]
	mu.Unlock()
	if err := p.Reapply(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if c, r := spec(); !slices.Equal(c, []string{"a.acme.com", "b.acme.com"}) || !slices.Equal(r, []string{"a.acme.com", "b.acme.com"}) {
		t.Fatalf("re-apply: custom %v, routed %v", c, r)
	}
}
