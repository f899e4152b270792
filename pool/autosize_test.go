package pool

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestReadyTarget(t *testing.T) {
	auto := Tier{Name: "basic", MinReady: 2, MaxTotal: 20, MaxInFlight: 3, MemoryMB: 512, CPUs: 1, Ready: ReadyAuto, AutoReady: AutoReady{Margin: 2}}
	fixed := auto
	fixed.Ready, fixed.AutoReady = "", AutoReady{}
	h := time.Hour
	tests := []struct {
		name string
		tier Tier
		d    Demand
		want Target
	}{
		{"fixed is min_ready whatever the sales", fixed, Demand{Window: 6 * h, Sales: 600, LeadP95: h, LeadSamples: 9},
			Target{Ready: 2, Why: "target 2: min_ready (fixed)"}},
		{"auto without a measured provisioning time is min_ready", auto, Demand{Window: 6 * h, Sales: 60},
			Target{Ready: 2, Auto: true, Why: "target 2: min_ready (auto: no provisioning time measured yet)"}},
		// The example: 3.1 sales/h × 0.9 h = 2.79 → 3, + ⌈2 × √2.79⌉ = 4.
		{"rate × p95 + margin", auto, Demand{Window: 10 * h, BurstWindow: h, Sales: 31, BurstSales: 1, LeadP95: 54 * time.Minute, LeadSamples: 40},
			Target{Ready: 7, Auto: true, Rate: 3.1, Lead: 54 * time.Minute, Margin: 4, Why: "target 7: 3.1 sales/h (last 10h) × 0.9 h p95 + 4 margin"}},
		{"the burst window wins when its rate is higher", auto, Demand{Window: 6 * h, BurstWindow: 30 * time.Minute, Sales: 6, BurstSales: 4, LeadP95: 30 * time.Minute, LeadSamples: 5},
			Target{Ready: 8, Auto: true, Rate: 8, Lead: 30 * time.Minute, Margin: 4, Why: "target 8: 8.0 sales/h (last 30m) × 0.5 h p95 + 4 margin"}},
		{"no sales: raised to min_ready", auto, Demand{Window: 6 * h, BurstWindow: h, LeadP95: 10 * time.Minute, LeadSamples: 5},
			Target{Ready: 2, Auto: true, Lead: 10 * time.Minute, Why: "target 2: min_ready (auto 0: 0.0 sales/h (last 6h) × 0.17 h p95 + 0 margin)"}},
		{"capped at max_total", auto, Demand{Window: 6 * h, BurstWindow: h, Sales: 600, BurstSales: 100, LeadP95: h, LeadSamples: 5},
			Target{Ready: 20, Auto: true, Rate: 100, Lead: h, Margin: 20, Why: "target 20: max_total (auto 120: 100.0 sales/h (last 6h) × 1 h p95 + 20 margin)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ReadyTarget(tt.tier, tt.d)
			if got != tt.want {
				t.Fatalf("GIVEN %+v\nTHEN  %+v\nwant  %+v", tt.d, got, tt.want)
			}
		})
	}
	// A margin of -1 means none: 3.1 × 0.9 → 3.
	none := auto
	none.AutoReady.Margin = -1
	if got := ReadyTarget(none, Demand{Window: 10 * h, Sales: 31, LeadP95: 54 * time.Minute, LeadSamples: 1}); got.Ready != 3 || got.Margin != 0 {
		t.Fatalf("no margin: %+v", got)
	}
}

// The planner tops an auto tier up to its target, counting what is in flight, and refreshes
// stale accounts against it too.
func TestPlanAutoTarget(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tier := Tier{Name: "basic", MinReady: 1, MaxTotal: 10, MaxInFlight: 4, MemoryMB: 512, CPUs: 1, Ready: ReadyAuto}
	busy := Demand{Window: 6 * time.Hour, BurstWindow: time.Hour, Sales: 6, BurstSales: 6, LeadP95: 30 * time.Minute, LeadSamples: 10} // 6/h × 0.5 h = 3 + 4 = 7
	plans := Plan(Snapshot{"basic": {Ready: 1, Provisioning: 1, Demand: busy}}, Tiers{"basic": tier}, DefaultPlanConfig(), now)
	if plans[0].Create != 3 { // 7 − 1 − 1 = 5, within max_in_flight 4 − 1
		t.Fatalf("busy: %+v", plans[0])
	}
	plans = Plan(Snapshot{"basic": {Ready: 7, Demand: busy}}, Tiers{"basic": tier}, DefaultPlanConfig(), now)
	if !plans[0].Empty() {
		t.Fatalf("at target: %+v", plans[0])
	}
	quiet := Demand{Window: 6 * time.Hour, BurstWindow: time.Hour, LeadP95: 30 * time.Minute, LeadSamples: 10}
	// Quiet: the target is min_ready 1; 3 stale ready accounts: 2 are retired (above the
	// target), none created (the fresh one is enough).
	plans = Plan(Snapshot{"basic": {Ready: 4, StaleReady: 3, Demand: quiet}}, Tiers{"basic": tier}, DefaultPlanConfig(), now)
	if plans[0].Create != 0 || plans[0].RetireStale != 3 || plans[0].RefreshCreate != 0 {
		t.Fatalf("quiet refresh: %+v", plans[0])
	}
}

func TestAutoTierConfig(t *testing.T) {
	const doc = `
name: basic
min_ready: 1
max_total: 20
max_in_flight: 2
memory_mb: 1024
cpus: 1
ready: auto
auto:
  window: 12h
  burst_window: 20m
  margin: 1.5
refill_within: 45m
`
	var tier Tier
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&tier); err != nil {
		t.Fatal(err)
	}
	if err := tier.Validate(); err != nil {
		t.Fatal(err)
	}
	if !tier.Auto() || tier.AutoReady != (AutoReady{Window: 12 * time.Hour, BurstWindow: 20 * time.Minute, Margin: 1.5}) || tier.RefillTarget() != 45*time.Minute {
		t.Fatalf("decoded %+v", tier)
	}
	if d := (AutoReady{}).Effective(); d != (AutoReady{Window: DefaultAutoWindow, BurstWindow: DefaultAutoBurstWindow, Margin: DefaultAutoMargin}) {
		t.Fatalf("defaults %+v", d)
	}
	if (Tier{}).RefillTarget() != DefaultRefillWithin {
		t.Fatal("refill_within default")
	}
	bad := []struct {
		name   string
		mutate func(*Tier)
		want   string
	}{
		{"unknown mode", func(t *Tier) { t.Ready = "adaptive" }, `ready "adaptive" must be "fixed" or "auto"`},
		{"knobs without auto", func(t *Tier) { t.Ready = ReadyFixed }, "auto settings are given but ready is not \"auto\""},
		{"window too short", func(t *Tier) { t.AutoReady.Window = time.Second }, "auto.window 1s must be between 1m0s and 720h0m0s"},
		{"burst longer than window", func(t *Tier) { t.AutoReady.BurstWindow = 13 * time.Hour }, "auto.burst_window 13h0m0s must be between 1m0s and the window 12h0m0s"},
		{"margin too high", func(t *Tier) { t.AutoReady.Margin = 50 }, "auto.margin 50 must be at most 10"},
		{"refill negative", func(t *Tier) { t.RefillWithin = -time.Minute }, "refill_within -1m0s must be between 0"},
	}
	for _, c := range bad {
		tt := tier
		c.mutate(&tt)
		err := tt.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
