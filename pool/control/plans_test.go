package control_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// fakeDomains stands in for the custom domains feature (built on another branch).
type fakeDomains struct {
	mu       sync.Mutex
	attached map[int64][]string
	detached []string
}

func (d *fakeDomains) Excess(_ context.Context, id int64, allowance int) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ds := d.attached[id]; len(ds) > allowance {
		return slices.Clone(ds[allowance:]), nil
	}
	return nil, nil
}

func (d *fakeDomains) Detach(_ context.Context, id int64, domain string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attached[id] = slices.DeleteFunc(d.attached[id], func(s string) bool { return s == domain })
	d.detached = append(d.detached, domain)
	return nil
}

func (d *fakeDomains) gone() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.detached)
}

// The plan workers' other paths, on a real store and job client: a re-apply that fails for good
// marks the change failed in the account's history (the tier stays changed, for the operator to
// re-apply); a suspended tenant's change waits for its next start; a manual sale's downgrade has
// no customer e-mail to notify — the history says so — and its excess domain is still detached
// after the notice period; a daemon without custom domains (NoDomains) detaches nothing.
func TestPlanWorkers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		if _, err := s.CreateAccounts(ctx, "premium", "client", 2); err != nil {
			t.Fatal(err)
		}
		failing := map[string]bool{}
		var mu sync.Mutex
		prov := &pooltest.Provisioner{ReapplyFail: func(a pool.Account, _ int) error {
			mu.Lock()
			defer mu.Unlock()
			if failing[a.Slug] {
				return pool.Permanent(errors.New("pulumi up: the program refused the spec"))
			}
			return nil
		}}
		ds := &fakeDomains{attached: map[int64][]string{}}
		startJobs(t, s, prov, func(c *control.WorkerConfig) {
			c.Plans = &control.PlanConfig{Store: s, Domains: ds}
			c.RetryPolicy = pooltest.FastRetry{}
		})
		waitFor(t, "accounts ready", func() bool { return countState(t, s, "premium", pool.StateReady) == 2 })
		var sold []pool.Account
		for _, o := range []string{"manual:a", "manual:b"} {
			a, _, err := s.Claim(ctx, "premium", o)
			if err != nil {
				t.Fatal(err)
			}
			sold = append(sold, a)
		}
		changes := func(id int64) []pool.PlanChange {
			cs, err := s.PlanChanges(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return cs
		}
		events := func(id int64, kind pool.EventKind) []string {
			evs, err := s.AccountEvents(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range evs {
				if e.Kind == kind {
					out = append(out, e.Detail)
				}
			}
			return out
		}

		// A downgrade whose re-apply fails for good; its excess domain goes after the notice.
		a := sold[0]
		ds.mu.Lock()
		ds.attached[a.ID] = []string{"studio.a.example"}
		ds.mu.Unlock()
		mu.Lock()
		failing[a.Slug] = true
		mu.Unlock()
		c, changed, err := s.ChangePlan(ctx, a.ID, store.PlanRequest{Source: pool.PlanByOperator, ToTier: "basic", Tiers: testTiers, Notice: time.Hour})
		if err != nil || !changed || c.DetachAt.IsZero() {
			t.Fatalf("ChangePlan: %+v %v %v", c, changed, err)
		}
		waitFor(t, "the change failed", func() bool { cs := changes(a.ID); return cs[0].State == pool.PlanFailed })
		if cs := changes(a.ID); !strings.Contains(cs[0].LastError, "refused the spec") || len(events(a.ID, pool.EventPlanApplyFailed)) != 1 {
			t.Fatalf("failed change %+v, events %v", cs[0], events(a.ID, pool.EventPlanApplyFailed))
		}
		if got, _ := s.Get(ctx, a.ID); got.Tier != "basic" {
			t.Fatalf("tier %s after a failed re-apply, want basic (the operator re-applies)", got.Tier)
		}
		waitFor(t, "the notice recorded", func() bool { return len(events(a.ID, pool.EventDowngradeNotice)) == 1 })
		if ev := events(a.ID, pool.EventDowngradeNotice)[0]; !strings.Contains(ev, "not e-mailed") || !strings.Contains(ev, "studio.a.example") {
			t.Fatalf("notice event %q", ev)
		}
		if len(ds.gone()) != 0 {
			t.Fatal("detached before the notice period")
		}
		q := `UPDATE river_job SET scheduled_at = ? WHERE kind = ?`
		if s.Postgres() {
			q = `UPDATE river_job SET scheduled_at = $1 WHERE kind = $2`
		}
		if _, err := s.DB().ExecContext(ctx, q, time.Now().Add(-time.Second).UTC(), jobs.PlanDetachArgs{}.Kind()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the excess domain detached", func() bool { return slices.Equal(ds.gone(), []string{"studio.a.example"}) })
		waitFor(t, "detach recorded", func() bool { return len(events(a.ID, pool.EventDomainsDetached)) == 1 })

		// A suspended tenant's change waits for its next start.
		b := sold[1]
		if err := s.SetState(ctx, b.ID, pool.StateSuspended); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ChangePlan(ctx, b.ID, store.PlanRequest{Source: pool.PlanByOperator, ToTier: "basic", Tiers: testTiers, Notice: time.Hour}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the change waits", func() bool { return changes(b.ID)[0].State == pool.PlanWaiting })
		if prov.Reapplied(b.Slug) != 0 {
			t.Fatal("a suspended tenant was re-applied (started)")
		}
		// Nothing attached: no notice, nothing detached.
		if _, err := s.DB().ExecContext(ctx, q, time.Now().Add(-time.Second).UTC(), jobs.PlanDetachArgs{}.Kind()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "every job done", func() bool {
			var n int
			s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&n)
			return n == 0
		})
		if len(events(b.ID, pool.EventDowngradeNotice)) != 0 || len(ds.gone()) != 1 {
			t.Fatalf("account without domains: notices %v, detached %v", events(b.ID, pool.EventDowngradeNotice), ds.gone())
		}
	})
}

func TestNoDomainsDetachesNothing(t *testing.T) {
	var d control.DomainDetacher = control.NoDomains{}
	if ds, err := d.Excess(context.Background(), 1, 0); err != nil || len(ds) != 0 {
		t.Fatalf("NoDomains.Excess = %v, %v", ds, err)
	}
}
