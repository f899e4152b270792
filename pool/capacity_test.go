package pool

import (
	"math"
	"testing"
	"time"
)

func TestPlanCapacity(t *testing.T) {
	tiers := Tiers{
		"basic":   {Name: "basic", MinReady: 4, MaxTotal: 20, MaxInFlight: 2, MemoryMB: 512, CPUs: 1},
		"premium": {Name: "premium", MinReady: 1, MaxTotal: 20, MaxInFlight: 1, MemoryMB: 512, CPUs: 1, Ready: ReadyAuto, RefillWithin: 2 * time.Hour},
	}
	hosts := []HostCapacity{{Name: "h1", Capacity: 10}, {Name: "h2", Capacity: 10}}
	// premium sells 6/h (6 in its 1 h burst window), takes 10 min on average (30 min p95): 1 in
	// the making, target 6 (P(N ≥ 6) = 0.06 % ≤ 0.1 % < P(N ≥ 5) = 0.37 %).
	premium := Demand{Window: 3 * time.Hour, BurstWindow: time.Hour, Sales: 6, BurstSales: 6, LeadMean: 10 * time.Minute, LeadP95: 30 * time.Minute, LeadSamples: 20}
	// basic sells 2/h (6 in 3 h), takes 20 min.
	basic := Demand{Window: 3 * time.Hour, BurstWindow: time.Hour, Sales: 6, BurstSales: 1, LeadMean: 12 * time.Minute, LeadP95: 20 * time.Minute, LeadSamples: 20}

	t.Run("room and time enough", func(t *testing.T) {
		c := PlanCapacity(tiers, map[string]TierLoad{"basic": {Ready: 2, InFlight: 2, Demand: basic}, "premium": {Ready: 5, InFlight: 0, Demand: premium}},
			hosts, map[string]int{"h1": 8, "h2": 3, "": 1})
		// free: (10−8) + (10−3) − 1 unplaced = 8 of 20.
		if c.Free != 8 || c.Total != 20 || c.Exhausted || !c.HostsKnown {
			t.Fatalf("%+v", c)
		}
		b, p := c.Tiers[0], c.Tiers[1]
		if b.Tier != "basic" || b.Need != 0 || b.Estimate != 20*time.Minute || b.Short || b.Why != "refill in ~20m (2 missing)" {
			t.Fatalf("basic %+v", b)
		}
		if p.Target.Ready != 6 || p.Need != 1 || p.Estimate != 30*time.Minute || p.Short {
			t.Fatalf("premium %+v", p)
		}
		// 8 free − 1 needed = 7 places at 2 + 6 sales/h: 0.875 h.
		if c.Rate != 8 || c.FullIn != 52*time.Minute+30*time.Second {
			t.Fatalf("forecast %v at %g/h", c.FullIn, c.Rate)
		}
		if got := c.Forecast(); got != "hosts: 8 of 20 places free; full in ~0.9 h at 8.0 sales/h" {
			t.Fatal(got)
		}
	})
	t.Run("the hosts lack room", func(t *testing.T) {
		c := PlanCapacity(tiers, map[string]TierLoad{"basic": {Ready: 0, Demand: basic}, "premium": {Ready: 0, Demand: premium}},
			hosts, map[string]int{"h1": 10, "h2": 7})
		// basic needs 4, premium 6; 3 free.
		if !c.Exhausted || c.FullIn != 0 || c.FullInHours() != 0 {
			t.Fatalf("%+v", c)
		}
		for _, r := range c.Tiers {
			if !r.Short {
				t.Fatalf("%s not short: %+v", r.Tier, r)
			}
		}
		if c.Tiers[1].Why != "hosts have room for 3 of the 6 accounts the pool needs" {
			t.Fatal(c.Tiers[1].Why)
		}
		if got := c.Forecast(); got != "hosts: 3 of 20 places free: not enough for the pools' refill" {
			t.Fatal(got)
		}
	})
	t.Run("max_in_flight too low for refill_within", func(t *testing.T) {
		slow := basic
		slow.LeadP95 = 40 * time.Minute
		c := PlanCapacity(tiers, map[string]TierLoad{"basic": {Ready: 0, InFlight: 0, Demand: slow}, "premium": {Ready: 6, Demand: premium}},
			hosts, map[string]int{})
		// 4 missing, 2 at a time: 2 waves × 40 min = 80 min > 1 h.
		if b := c.Tiers[0]; !b.Short || b.Estimate != 80*time.Minute || b.Why != "refill takes ~1h20m (4 missing, 2 at a time, 40m p95 each) > refill_within 1h" {
			t.Fatalf("%+v", b)
		}
		if c.Exhausted {
			t.Fatal("exhausted with 20 free")
		}
	})
	t.Run("no hosts known, no sales", func(t *testing.T) {
		c := PlanCapacity(tiers, map[string]TierLoad{"basic": {Ready: 4}}, nil, nil)
		if c.HostsKnown || c.Exhausted || c.Tiers[0].Short || c.Tiers[1].Why != "1 missing; no provisioning time measured yet" {
			t.Fatalf("%+v", c)
		}
		if got := c.Forecast(); got != "hosts: capacity unknown (no host list)" {
			t.Fatal(got)
		}
		c = PlanCapacity(tiers, map[string]TierLoad{"basic": {Ready: 4}, "premium": {Ready: 1}}, hosts, nil)
		if !math.IsInf(c.FullInHours(), 1) || c.Forecast() != "hosts: 20 of 20 places free; no sales in the windows, no forecast" {
			t.Fatalf("%+v %s", c, c.Forecast())
		}
	})
}
