package pulumiprov_test

import (
	"errors"
	"testing"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// Two replicas' provisioners place through the store: while two tenants are still provisioning
// (their programs blocked), both hosts are taken — recorded on their rows — and a third account
// is refused by either replica with ErrNoCapacity.
func TestReplicasPlaceThroughTheStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		s := storetest.OpenSQLite(t, t.TempDir(), nil)
		placeThroughStores(t, s, s)
	})
	t.Run("postgres", func(t *testing.T) {
		u := storetest.SchemaURL(t, storetest.RequirePostgres(t))
		placeThroughStores(t, storetest.OpenPostgres(t, u, nil), storetest.OpenPostgres(t, u, nil))
	})
}

func placeThroughStores(t *testing.T, s1, s2 *store.Store) {
	ctx := t.Context()
	ts := newTenants(t)
	hosts := []platform.Host{host("edge1", 1), host("edge2", 1)}
	p1, _ := newProvisioner(t, ts, options{hosts: hosts, place: s1.PlaceAccount})
	p2, _ := newProvisioner(t, ts, options{hosts: hosts, place: s2.PlaceAccount})
	as, err := s1.CreateAccounts(ctx, "basic", "client", 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as[:2] {
		ts.server(a)
		ts.mu.Lock()
		ts.block[a.Slug] = make(chan struct{})
		ts.mu.Unlock()
	}
	errs := make(chan error, 2)
	go func() { _, err := p1.Provision(ctx, as[0], testTier()); errs <- err }()
	go func() { _, err := p2.Provision(ctx, as[1], testTier()); errs <- err }()
	<-ts.started
	<-ts.started

	hostsHeld := map[string]bool{}
	for _, a := range as[:2] {
		got, err := s2.Get(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != pool.StateProvisioning || got.Host == "" {
			t.Fatalf("%s is %s on %q while provisioning; want its host on the row", got.Slug, got.State, got.Host)
		}
		hostsHeld[got.Host] = true
	}
	if len(hostsHeld) != 2 {
		t.Fatalf("two provisioning tenants on %v: a host of capacity 1 was over-filled", hostsHeld)
	}
	for _, p := range []*pulumiprov.Provisioner{p1, p2} {
		if _, err := p.Provision(ctx, as[2], testTier()); !errors.Is(err, pulumiprov.ErrNoCapacity) || pool.IsPermanent(err) {
			t.Fatalf("third tenant on full hosts: %v; want a retryable ErrNoCapacity", err)
		}
	}
	ts.mu.Lock()
	for _, a := range as[:2] {
		close(ts.block[a.Slug])
	}
	ts.mu.Unlock()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
