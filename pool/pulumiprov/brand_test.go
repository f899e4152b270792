package pulumiprov_test

import (
	"context"
	"sync"
	"testing"

	"github.com/axiestudio/tenantpool/infra/tenant"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow"
)

// The account's brand reaches the tenant spec of a tier with branding at provisioning and, once
// changed, at the next re-apply; a tier without branding never gets one.
func TestBrandReachesTheSpec(t *testing.T) {
	ts := newTenants(t)
	var mu sync.Mutex
	brands := map[int64]pool.Brand{
		1: {Name: "Acme Flows", Logo: "https://cdn.acme.example/l.svg", Color: "#ff6600"},
		2: {Name: "Sneaky Basic"},
	}
	p, _ := newProvisioner(t, ts, options{tiers: pool.Tiers{"basic": testTier(), "premium": pool.DefaultTiers()[1]}, brand: func(_ context.Context, id int64) (pool.Brand, error) {
		mu.Lock()
		defer mu.Unlock()
		return brands[id], nil
	}})
	premium := pool.DefaultTiers()[1]
	a := account(1, "client01")
	a.Tier = premium.Name
	ts.server(a)
	got, err := p.Provision(t.Context(), a, premium)
	if err != nil {
		t.Fatal(err)
	}
	spec := func(slug string) tenant.Spec {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return ts.specs[slug]
	}
	if b := spec("client01").Branding; b != (tenant.Branding{AppName: "Acme Flows", LogoURL: "https://cdn.acme.example/l.svg", PrimaryColor: "#ff6600"}) {
		t.Fatalf("premium spec branding %+v", b)
	}

	mu.Lock()
	brands[1] = pool.Brand{Name: "Acme Studio", Color: "#00aa00"}
	mu.Unlock()
	a.State, a.Host, a.URL, a.CustomerUserID = pool.StateDelivered, got.Host, got.URL, got.CustomerUserID
	if err := p.Reapply(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if b := spec("client01").Branding; b != (tenant.Branding{AppName: "Acme Studio", PrimaryColor: "#00aa00"}) {
		t.Fatalf("re-applied spec branding %+v", b)
	}

	basic := account(2, "client02")
	ts.server(basic)
	mustProvision(t, p, basic)
	if b := spec("client02").Branding; !b.IsZero() {
		t.Fatalf("basic tier got branding %+v", b)
	}
}

// The tier's starter flows are imported into a new studio as its customer before it is ready,
// and importing them again into the existing studio creates nothing.
func TestStarterFlowsDeliveredToTheCustomer(t *testing.T) {
	ts := newTenants(t)
	flows, err := langflow.LoadFlows("../langflow/testdata/flows")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newProvisioner(t, ts, options{flows: map[string][]langflow.Flow{"basic": flows}})
	a := account(1, "client01")
	srv := ts.server(a)
	got := mustProvision(t, p, a)
	names := func() []string {
		var out []string
		for _, f := range srv.Flows(a.CustomerUser) {
			out = append(out, f.Name)
		}
		return out
	}
	if n := names(); len(n) != 2 || n[0] != "Basic Prompting" || n[1] != "Vector Store RAG" {
		t.Fatalf("customer's flows after provisioning: %v", n)
	}
	if op := srv.Flows(a.OperatorUser); len(op) != 0 {
		t.Fatalf("the operator got the flows: %+v", op)
	}
	a.State, a.URL = pool.StateDelivered, got.URL
	gate := langflow.NewGate(langflow.GateOptions{})
	n, err := gate.ImportAccountFlows(t.Context(), a, flows)
	if err != nil || n != 0 || len(names()) != 2 {
		t.Fatalf("re-delivery: %d created, %v; flows %v", n, err, names())
	}
}
