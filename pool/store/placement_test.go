package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// liveLoads counts, per host, the accounts that hold it and are neither failed nor retired.
func liveLoads(t *testing.T, s *store.Store) map[string]int {
	t.Helper()
	as, err := s.List(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, a := range as {
		if a.Host != "" && a.State != pool.StateFailed && a.State != pool.StateRetired {
			out[a.Host]++
		}
	}
	return out
}

// placeAll places every account at once, round-robin over the given stores (replicas), and
// returns how many were refused for want of capacity.
func placeAll(t *testing.T, stores []*store.Store, as []pool.Account, hosts []pool.HostCapacity) int {
	t.Helper()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		refused int
	)
	start := make(chan struct{})
	for i, a := range as {
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			_, err := s.PlaceAccount(context.Background(), a.ID, "", hosts)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, pool.ErrNoCapacity):
				refused++
			case err != nil:
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	return refused
}

// GIVEN hosts partly taken by live tenants (a failed and a retired one free their place) WHEN
// many provisioning accounts are placed at once THEN every host is filled to its capacity and
// never beyond, the rest are refused, and the placements are on the account rows at once.
func TestConcurrentPlacementsNeverOverfill(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		placeOnHostsInParallel(t, []*store.Store{s}, s)
	})
}

// The same with two replicas: two stores on one PostgreSQL database place concurrently.
func TestTwoReplicasNeverOverfillAHost(t *testing.T) {
	u := storetest.SchemaURL(t, storetest.RequirePostgres(t))
	a, b := storetest.OpenPostgres(t, u, nil), storetest.OpenPostgres(t, u, nil)
	placeOnHostsInParallel(t, []*store.Store{a, b}, a)
}

func placeOnHostsInParallel(t *testing.T, stores []*store.Store, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	hosts := []pool.HostCapacity{{Name: "a", Capacity: 6}, {Name: "b", Capacity: 5}, {Name: "c", Capacity: 0}}
	old := seedReady(t, s, "basic", 2) // seedReady marks them ready on h1
	for _, o := range old {
		if _, err := s.PlaceAccount(ctx, o.ID, "a", hosts); err != nil { // a ready tenant on a
			t.Fatal(err)
		}
	}
	if _, err := s.Retire(ctx, old[1].ID); err != nil { // retired: its place is free again
		t.Fatal(err)
	}
	gone, err := s.CreateAccounts(ctx, "basic", "client", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PlaceAccount(ctx, gone[0].ID, "", hosts); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, gone[0].ID, "boom"); err != nil { // failed: free again
		t.Fatal(err)
	}
	as, err := s.CreateAccounts(ctx, "basic", "client", 30)
	if err != nil {
		t.Fatal(err)
	}
	refused := placeAll(t, stores, as, hosts)
	loads := liveLoads(t, s)
	if loads["a"] != 6 || loads["b"] != 5 || loads["c"] != 0 || refused != 20 {
		t.Fatalf("loads %v, %d refused; want a 6 (one ready + 5 new), b 5, c 0, 20 refused", loads, refused)
	}
	// A retry (a restarted job, another replica) keeps its host even though it is full; a
	// refused account is still refused.
	placed, unplaced := pool.Account{}, pool.Account{}
	for _, a := range as {
		got, err := stores[len(stores)-1].Get(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Host != "" && placed.ID == 0 {
			placed = got
		}
		if got.Host == "" && unplaced.ID == 0 {
			unplaced = got
		}
	}
	for _, st := range stores {
		if h, err := st.PlaceAccount(ctx, placed.ID, "", hosts); err != nil || h != placed.Host {
			t.Fatalf("retry of %s: %q, %v; want its host %s", placed.Slug, h, err, placed.Host)
		}
		if _, err := st.PlaceAccount(ctx, unplaced.ID, "", hosts); !errors.Is(err, pool.ErrNoCapacity) {
			t.Fatalf("placing %s on full hosts: %v", unplaced.Slug, err)
		}
	}
	if _, err := s.PlaceAccount(ctx, 999999, "", hosts); !errors.Is(err, pool.ErrNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
}

// Where an earlier attempt put a stack (prefer) wins and is recorded; a host that is no longer
// listed is not kept; a restarted store reads the placement back from the row.
func TestPlacementPreferAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := storetest.OpenSQLite(t, dir, nil)
	ctx := context.Background()
	as, err := s.CreateAccounts(ctx, "basic", "client", 2)
	if err != nil {
		t.Fatal(err)
	}
	hosts := []pool.HostCapacity{{Name: "a", Capacity: 1}, {Name: "b", Capacity: 5}}
	if h, err := s.PlaceAccount(ctx, as[0].ID, "a", hosts); err != nil || h != "a" {
		t.Fatalf("prefer a: %q, %v", h, err)
	}
	if h, err := s.PlaceAccount(ctx, as[1].ID, "gone", hosts); err != nil || h != "b" {
		t.Fatalf("prefer a host that is gone: %q, %v; want b", h, err)
	}
	s.Close()
	s = storetest.OpenSQLite(t, dir, nil)
	if a, _ := s.Get(ctx, as[0].ID); a.Host != "a" || a.State != pool.StateProvisioning {
		t.Fatalf("after restart %s is %s on %q, want provisioning on a", a.Slug, a.State, a.Host)
	}
	if h, err := s.PlaceAccount(ctx, as[0].ID, "", hosts); err != nil || h != "a" {
		t.Fatalf("after restart: %q, %v; want a", h, err)
	}
	// Its host left the platform: the account moves to one with room.
	if h, err := s.PlaceAccount(ctx, as[0].ID, "", hosts[1:]); err != nil || h != "b" {
		t.Fatalf("host gone: %q, %v; want b", h, err)
	}
}
