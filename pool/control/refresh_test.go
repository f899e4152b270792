package control_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// TestReconcileRefreshesStaleReadyPool: after the image changes, the ready pool is replaced by
// accounts of the new generation — never fewer ready than min_ready once full — while a sold
// account and a reserved (exported) one are left alone, and the reserved one is listed.
func TestReconcileRefreshesStaleReadyPool(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		prov := &pooltest.Provisioner{}
		prov.SetImage("langflow@sha256:" + sixtyFour("a"))
		r, err := control.NewReconciler(control.ReconcilerConfig{
			Store: s, Tiers: testTiers, Plan: pool.DefaultPlanConfig(), Prefix: "client",
			StuckTimeout: 30 * time.Minute, Log: slog.New(slog.DiscardHandler), Build: prov.Build,
		})
		if err != nil {
			t.Fatal(err)
		}
		startJobs(t, s, prov, nil)
		full := func() bool {
			if _, err := r.ReconcileOnce(ctx); err != nil {
				t.Fatal(err)
			}
			return countState(t, s, "basic", pool.StateReady) == 3 && countState(t, s, "premium", pool.StateReady) == 1
		}
		waitFor(t, "pool at min_ready", full)
		sold, _, err := s.Claim(ctx, "basic", "order-1")
		if err != nil {
			t.Fatal(err)
		}
		reserved, err := s.Reserve(ctx, "premium", 1, func([]pool.Account) error { return nil })
		if err != nil || len(reserved) != 1 {
			t.Fatalf("reserve: %v %v", reserved, err)
		}
		waitFor(t, "pool at min_ready again", full)
		old := prov.Build(testTiers["basic"]).Generation

		prov.SetImage("langflow@sha256:" + sixtyFour("b"))
		current := map[string]string{}
		for name, tier := range testTiers {
			current[name] = prov.Build(tier).Generation
		}
		if current["basic"] == old {
			t.Fatal("a new image made no new generation")
		}
		waitFor(t, "ready pool refreshed", func() bool {
			plans, err := r.ReconcileOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n := countState(t, s, "basic", pool.StateReady); n < 3 {
				t.Fatalf("the refresh dipped below min_ready: %d ready (plans %+v)", n, plans)
			}
			stale, err := s.StaleReady(ctx, current)
			if err != nil {
				t.Fatal(err)
			}
			return len(stale) == 0 && full()
		})
		for _, p := range mustReconcile(t, r) {
			if !p.Empty() {
				t.Fatalf("refreshed pool planned %+v", p)
			}
		}
		if a, err := s.Get(ctx, sold.ID); err != nil || a.State != pool.StateClaimed || a.Generation != old {
			t.Fatalf("sold account %+v (%v): want claimed, untouched on %s", a.State, err, old)
		}
		list, err := s.StaleReserved(ctx, current)
		if err != nil || len(list) != 1 || list[0].ID != reserved[0].ID || list[0].State != pool.StateReserved {
			t.Fatalf("stale reserved = %v (%v), want the reserved account", list, err)
		}
		counts, err := s.GenerationCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[[3]string]int{}
		for _, c := range counts {
			got[[3]string{c.Tier, c.Generation, string(c.State)}] += c.Count
		}
		for key, want := range map[[3]string]int{
			{"basic", current["basic"], "ready"}:     3,
			{"basic", old, "claimed"}:                1,
			{"premium", current["premium"], "ready"}: 1,
		} {
			if got[key] != want {
				t.Errorf("generation counts %v: %d, want %d (all: %v)", key, got[key], want, got)
			}
		}
		if n := countState(t, s, "basic", pool.StateRetired); n != 3 {
			t.Errorf("retired basic = %d, want the 3 stale ones", n)
		}
	})
}

func mustReconcile(t *testing.T, r *control.Reconciler) []pool.TierPlan {
	t.Helper()
	plans, err := r.ReconcileOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return plans
}

func sixtyFour(c string) string {
	out := ""
	for range 64 {
		out += c
	}
	return out
}
