package control_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// An operator retires two sold accounts with a grace period: both tenants are stopped (data
// kept), nothing is destroyed while the grace lasts; one is then retired at once (--now) and
// torn down once; when the grace is over the other is retired and torn down, and the first one's
// retirement job does nothing.
func TestRetireSoldAccountAfterGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		if _, err := s.CreateAccounts(ctx, "basic", "client", 2); err != nil {
			t.Fatal(err)
		}
		prov := &pooltest.Provisioner{}
		startJobs(t, s, prov, nil)
		waitFor(t, "accounts ready", func() bool { return countState(t, s, "basic", pool.StateReady) == 2 })
		var sold []pool.Account
		for _, order := range []string{"o1", "o2"} {
			a, _, err := s.Claim(ctx, "basic", order)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetState(ctx, a.ID, pool.StateDelivered); err != nil {
				t.Fatal(err)
			}
			a, _, err = s.RequestRetire(ctx, a.ID, store.RetireRequest{Force: true, Grace: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			sold = append(sold, a)
		}
		waitFor(t, "both tenants stopped", func() bool {
			return prov.Suspended(sold[0].Slug) == 1 && prov.Suspended(sold[1].Slug) == 1
		})
		for _, a := range sold {
			if got, _ := s.Get(ctx, a.ID); got.State != pool.StateSuspended || prov.Destroyed(a.Slug) != 0 {
				t.Fatalf("%s during the grace: %s, destroyed %d times", a.Slug, got.State, prov.Destroyed(a.Slug))
			}
		}
		if _, _, err := s.RequestRetire(ctx, sold[0].ID, store.RetireRequest{Force: true, Now: true, Grace: time.Hour}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the one retired now torn down", func() bool { return prov.Destroyed(sold[0].Slug) == 1 })

		// The grace is over: the scheduled retirements become due.
		q := `UPDATE river_job SET scheduled_at = ? WHERE kind = ?`
		if s.Postgres() {
			q = `UPDATE river_job SET scheduled_at = $1 WHERE kind = $2`
		}
		if _, err := s.DB().ExecContext(ctx, q, time.Now().Add(-time.Second).UTC(), jobs.RetireAccountArgs{}.Kind()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the other retired and torn down", func() bool {
			a, _ := s.Get(ctx, sold[1].ID)
			return a.State == pool.StateRetired && prov.Destroyed(sold[1].Slug) == 1
		})
		waitFor(t, "every job done", func() bool {
			var n int
			s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&n)
			return n == 0
		})
		if prov.Destroyed(sold[0].Slug) != 1 || prov.Suspended(sold[0].Slug) != 1 {
			t.Fatalf("%s: destroyed %d times, suspended %d times; want once each", sold[0].Slug, prov.Destroyed(sold[0].Slug), prov.Suspended(sold[0].Slug))
		}
	})
}
