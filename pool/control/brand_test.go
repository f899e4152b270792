package control_test

import (
	"context"
	"sync"
	"testing"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// Saving a sold account's brand re-applies its tenant through the durable job, and the outcome
// lands in its history; an unsold account's brand re-applies nothing.
func TestBrandSaveReappliesTheTenant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		if _, err := s.CreateAccounts(ctx, "basic", "client", 2); err != nil {
			t.Fatal(err)
		}
		prov := &pooltest.Provisioner{}
		startJobs(t, s, prov, func(c *control.WorkerConfig) { c.Record = s.AddEvent })
		waitFor(t, "accounts ready", func() bool { return countState(t, s, "basic", pool.StateReady) == 2 })
		sold, _, err := s.Claim(ctx, "basic", "o1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetBrand(ctx, sold.ID, pool.Brand{Name: "Acme"}, nil); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the sold tenant re-applied", func() bool { return prov.Reapplied(sold.Slug) == 1 })
		waitFor(t, "the re-apply in the history", func() bool {
			evs, _ := s.AccountEvents(ctx, sold.ID)
			return len(evs) == 2 && evs[1].Kind == pool.EventReapplied
		})
		all, err := s.List(ctx, store.Filter{State: pool.StateReady})
		if err != nil || len(all) != 1 {
			t.Fatalf("ready accounts %v, %v", all, err)
		}
		if _, err := s.SetBrand(ctx, all[0].ID, pool.Brand{Name: "Acme"}, nil); err != nil {
			t.Fatal(err)
		}
		if n := prov.Reapplied(all[0].Slug); n != 0 {
			t.Fatalf("an unsold tenant was re-applied %d times", n)
		}
	})
}

// `poold tenants flows` enqueues one import per studio of the tier; the worker imports into
// each, and enqueuing again imports again (the import itself skips what is there).
func TestFlowsJobsImportIntoEveryStudio(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		if _, err := s.CreateAccounts(ctx, "basic", "client", 3); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		imported := map[string]int{}
		startJobs(t, s, &pooltest.Provisioner{}, func(c *control.WorkerConfig) {
			c.ImportFlows = func(_ context.Context, a pool.Account) (int, error) {
				mu.Lock()
				defer mu.Unlock()
				imported[a.Slug]++
				return 2, nil
			}
		})
		waitFor(t, "accounts ready", func() bool { return countState(t, s, "basic", pool.StateReady) == 3 })
		n, err := s.EnqueueFlows(ctx, "basic")
		if err != nil || n != 3 {
			t.Fatalf("enqueued %d, %v", n, err)
		}
		waitFor(t, "every studio imported", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(imported) == 3 && imported["client01"] == 1 && imported["client02"] == 1 && imported["client03"] == 1
		})
	})
}
