package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// Demand: sales are the claims within each window ending now; the p95 provisioning time is
// created → ready of the pool's and orders' accounts, an operator batch's queue wait left out;
// a tier without ready accounts has no samples. HostLoads counts live accounts per host, the
// unplaced ones under "", and neither failed nor retired ones.
func TestDemandAndHostLoads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger)
		start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		clock.Set(start)
		s := open(clock)
		tiers, err := pool.NewTiers([]pool.Tier{
			{Name: "basic", MinReady: 1, MaxTotal: 50, MaxInFlight: 5, MemoryMB: 512, CPUs: 1, Ready: pool.ReadyAuto,
				AutoReady: pool.AutoReady{Window: 4 * time.Hour, BurstWindow: 30 * time.Minute}},
			{Name: "premium", MinReady: 1, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 512, CPUs: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		// 20 pool accounts created at 08:00, ready after 1, 2, … 20 minutes: p95 (nearest rank,
		// 19th of 20) is 19 minutes.
		as, err := s.CreateAccountsFrom(ctx, pool.OriginPool, "basic", "client", 20)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range as {
			clock.Set(start.Add(time.Duration(i+1) * time.Minute))
			if err := s.MarkReady(ctx, a.ID, pool.Provisioned{Host: []string{"h1", "h2"}[i%2], URL: "https://x.example.test"}); err != nil {
				t.Fatal(err)
			}
		}
		// A batch account that waited 5 hours in its queue does not count.
		clock.Set(start)
		b, err := s.CreateAccountsFrom(ctx, pool.OriginBatch, "basic", "batch", 1)
		if err != nil {
			t.Fatal(err)
		}
		clock.Set(start.Add(5 * time.Hour))
		if err := s.MarkReady(ctx, b[0].ID, pool.Provisioned{Host: "h1", URL: "https://x.example.test"}); err != nil {
			t.Fatal(err)
		}
		// Claims: 3 at 09:00 (outside the 4 h window at 13:10), 4 at 10:00, 2 at 12:50.
		claim := func(at time.Time, n int, key string) {
			clock.Set(at)
			for i := range n {
				if _, _, err := s.Claim(ctx, "basic", key+string(rune('a'+i))); err != nil {
					t.Fatal(err)
				}
			}
		}
		claim(start.Add(time.Hour), 3, "early-")
		claim(start.Add(2*time.Hour), 4, "mid-")
		claim(start.Add(4*time.Hour+50*time.Minute), 2, "late-")
		// One provisioning account not placed yet, one failed (it holds nothing).
		if _, err := s.CreateAccountsFrom(ctx, pool.OriginPool, "premium", "prem", 2); err != nil {
			t.Fatal(err)
		}
		ps, _ := s.List(ctx, store.Filter{Tier: "premium"})
		if err := s.MarkFailed(ctx, ps[0].ID, "boom"); err != nil {
			t.Fatal(err)
		}

		now := start.Add(5*time.Hour + 10*time.Minute)
		d, err := s.Demand(ctx, now, tiers)
		if err != nil {
			t.Fatal(err)
		}
		want := pool.Demand{Window: 4 * time.Hour, BurstWindow: 30 * time.Minute, Sales: 6, BurstSales: 2,
			LeadMean: 10*time.Minute + 30*time.Second, LeadP95: 19 * time.Minute, LeadSamples: 20}
		if d["basic"] != want {
			t.Fatalf("basic demand %+v, want %+v", d["basic"], want)
		}
		// A month later the provisioning times are past the horizon: nothing measured.
		if late, err := s.Demand(ctx, now.Add(store.LeadHorizon), tiers); err != nil || late["basic"].LeadSamples != 0 || late["basic"].Sales != 0 {
			t.Fatalf("demand a month later %+v %v", late["basic"], err)
		}
		if p := d["premium"]; p.Sales != 0 || p.LeadSamples != 0 || p.Window != pool.DefaultAutoWindow || p.BurstWindow != pool.DefaultAutoBurstWindow {
			t.Fatalf("premium demand %+v", p)
		}
		// The target that follows: max(6/4h, 2/0.5h) = 4 sales/h × 10.5 min = 0.7 in the making;
		// P(N ≥ 5) = 0.08 % ≤ 0.1 % < P(N ≥ 4) = 0.58 %: 5.
		if got := pool.ReadyTarget(tiers["basic"], d["basic"]); got.Ready != 5 {
			t.Fatalf("target %+v", got)
		}

		loads, err := s.HostLoads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// h1: 10 pool + 1 batch, h2: 10 (claimed ones included), "": the premium provisioning one.
		if len(loads) != 3 || loads["h1"] != 11 || loads["h2"] != 10 || loads[""] != 1 {
			t.Fatalf("host loads %v", loads)
		}
		tl, err := s.TierLoads(ctx, now, tiers)
		if err != nil {
			t.Fatal(err)
		}
		// basic: 20 + 1 batch ready, 9 sold; premium: one in flight, one failed.
		if tl["basic"].Ready != 12 || tl["basic"].InFlight != 0 || tl["basic"].Demand != want || tl["premium"].Ready != 0 || tl["premium"].InFlight != 1 {
			t.Fatalf("tier loads %+v", tl)
		}
		c, err := s.Capacity(ctx, now, tiers, []pool.HostCapacity{{Name: "h1", Capacity: 12}, {Name: "h2", Capacity: 20}})
		if err != nil {
			t.Fatal(err)
		}
		// free: (12 − 11) + (20 − 10) − 1 unplaced = 10 of 32.
		if c.Free != 10 || c.Total != 32 || c.Exhausted || len(c.Tiers) != 2 || c.Tiers[0].Target.Ready != 5 {
			t.Fatalf("capacity %+v", c)
		}
	})
}
