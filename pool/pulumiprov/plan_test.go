package pulumiprov_test

import (
	"testing"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
)

// A plan change re-applies the same stack with the account's new tier, on the real Pulumi
// engine: the same host and data volume, the new tier's memory, CPUs and branding, a new
// restart token (the container is re-created with the new limits), and what the tenant wrote
// before — the operator's password, set through Langflow's API and kept only in the tenant's
// database, and the customer's login — is read after. The generation the tenant then runs is
// the new tier's build. Back down to basic works the same way.
func TestReapplyOnAnotherTierKeepsTheVolume(t *testing.T) {
	basic, premium := pool.DefaultTiers()[0], pool.DefaultTiers()[1]
	ts := newTenants(t)
	p, logs := newProvisioner(t, ts, options{tiers: pool.Tiers{"basic": basic, "premium": premium}})
	a := account(1, "client01")
	srv := ts.server(a)
	got := mustProvision(t, p, a)
	a.State, a.Host, a.URL, a.CustomerUserID = pool.StateDelivered, got.Host, got.URL, got.CustomerUserID
	ts.mu.Lock()
	before := ts.specs[a.Slug]
	ts.mu.Unlock()
	if before.Tier.Name != "basic" || got.Generation != p.Build(basic).Generation {
		t.Fatalf("provisioned %s, generation %s", before.Tier.Name, got.Generation)
	}
	creates := srv.Requests(langflowtest.RouteCreateUser)

	a.Tier = "premium" // what store.ChangePlan wrote
	if err := p.Reapply(t.Context(), a); err != nil {
		t.Fatalf("Reapply on premium: %v", err)
	}
	ts.mu.Lock()
	after, runs := ts.specs[a.Slug], ts.runs[a.Slug]
	ts.mu.Unlock()
	if runs != 2 {
		t.Fatalf("program ran %d times, want 2", runs)
	}
	if after.Tier.Name != "premium" || after.Tier.MemoryMB != premium.MemoryMB || after.Tier.CPUs != premium.CPUs || !after.Tier.Branding ||
		after.Tier.CustomDomains != premium.CustomDomains {
		t.Fatalf("re-applied tier %+v, want premium's settings", after.Tier)
	}
	if after.VolumeName() != before.VolumeName() || after.Host.Name != before.Host.Name || after.Slug != before.Slug || after.Restart == before.Restart {
		t.Fatalf("volume %s on %s (restart %q) → %s on %s (restart %q): want the same volume and host, a re-created container",
			before.VolumeName(), before.Host.Name, before.Restart, after.VolumeName(), after.Host.Name, after.Restart)
	}
	if gen := p.Build(premium).Generation; gen == got.Generation {
		t.Fatalf("premium's generation %s equals basic's", gen)
	}
	// The data written before is read after.
	gate := langflow.NewGate(langflow.GateOptions{})
	c, err := gate.Client(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(t.Context(), a.OperatorUser, a.OperatorPassword); err != nil {
		t.Fatalf("operator login after the plan change: %v", err)
	}
	if _, err := c.Login(t.Context(), a.CustomerUser, a.CustomerPassword); err != nil {
		t.Fatalf("customer login after the plan change: %v", err)
	}
	if srv.Requests(langflowtest.RouteCreateUser) != creates {
		t.Fatal("the plan change created a user again: a new account, not the same one")
	}

	a.Tier = "basic"
	if err := p.Reapply(t.Context(), a); err != nil {
		t.Fatalf("Reapply back on basic: %v", err)
	}
	ts.mu.Lock()
	back := ts.specs[a.Slug]
	ts.mu.Unlock()
	if back.Tier.Name != "basic" || back.Tier.MemoryMB != basic.MemoryMB || back.VolumeName() != before.VolumeName() {
		t.Fatalf("back on %s with %d MB on %s", back.Tier.Name, back.Tier.MemoryMB, back.VolumeName())
	}
	if _, err := c.Login(t.Context(), a.OperatorUser, a.OperatorPassword); err != nil {
		t.Fatalf("operator login after the downgrade: %v", err)
	}
	noSecrets(t, logs.String(), a)
}
