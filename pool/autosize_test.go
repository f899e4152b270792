package pool

import (
	"math"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestReadyTarget(t *testing.T) {
	auto := Tier{Name: "basic", MinReady: 2, MaxTotal: 20, MaxInFlight: 3, MemoryMB: 512, CPUs: 1, Ready: ReadyAuto, AutoReady: AutoReady{Stockout: 0.05}}
	fixed := auto
	fixed.Ready, fixed.AutoReady = "", AutoReady{}
	h := time.Hour
	tests := []struct {
		name string
		tier Tier
		d    Demand
		want Target
	}{
		{"fixed is min_ready whatever the sales", fixed, Demand{Window: 6 * h, Sales: 600, LeadMean: h, LeadP95: h, LeadSamples: 9},
			Target{Ready: 2, Why: "target 2: min_ready (fixed)"}},
		{"auto without a measured provisioning time is min_ready", auto, Demand{Window: 6 * h, Sales: 60},
			Target{Ready: 2, Auto: true, Why: "target 2: min_ready (auto: no provisioning time measured yet)"}},
		// 3.1 sales/h × 0.9 h = 2.79 in the making (Poisson): P(N ≥ 7) = 3.1 % ≤ 5 % < P(N ≥ 6) = 7.9 %.
		{"the smallest stock within the stock-out risk", auto, Demand{Window: 10 * h, BurstWindow: h, Sales: 31, BurstSales: 1, LeadMean: 54 * time.Minute, LeadP95: 2 * h, LeadSamples: 40},
			Target{Ready: 7, Auto: true, Rate: 3.1, Lead: 54 * time.Minute, Margin: 4, Why: "target 7: 3.1 sales/h (last 10h) × 0.9 h mean provisioning = 2.8 + 4 margin (stock-outs ≤ 5 %)"}},
		// 8/h × 0.5 h = 4: P(N ≥ 8) = 5.1 %, P(N ≥ 9) = 2.1 %.
		{"the burst window wins when its rate is higher", auto, Demand{Window: 6 * h, BurstWindow: 30 * time.Minute, Sales: 6, BurstSales: 4, LeadMean: 30 * time.Minute, LeadP95: h, LeadSamples: 5},
			Target{Ready: 9, Auto: true, Rate: 8, Lead: 30 * time.Minute, Margin: 5, Why: "target 9: 8.0 sales/h (last 30m) × 0.5 h mean provisioning = 4.0 + 5 margin (stock-outs ≤ 5 %)"}},
		{"no sales: raised to min_ready", auto, Demand{Window: 6 * h, BurstWindow: h, LeadMean: 10 * time.Minute, LeadP95: 10 * time.Minute, LeadSamples: 5},
			Target{Ready: 2, Auto: true, Lead: 10 * time.Minute, Why: "target 2: min_ready (auto 0: 0.0 sales/h (last 6h) × 0.17 h mean provisioning = 0.0 + 0 margin (stock-outs ≤ 5 %))"}},
		// 100 × 1 = 100: P(N ≥ 117) = 5.1 %, P(N ≥ 118) = 4.2 %.
		{"capped at max_total", auto, Demand{Window: 6 * h, BurstWindow: h, Sales: 600, BurstSales: 100, LeadMean: h, LeadP95: h, LeadSamples: 5},
			Target{Ready: 20, Auto: true, Rate: 100, Lead: h, Margin: 18, Why: "target 20: max_total (auto 118: 100.0 sales/h (last 6h) × 1 h mean provisioning = 100.0 + 18 margin (stock-outs ≤ 5 %))"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ReadyTarget(tt.tier, tt.d)
			if got != tt.want {
				t.Fatalf("GIVEN %+v\nTHEN  %+v\nwant  %+v", tt.d, got, tt.want)
			}
		})
	}
	// The default risk, one buyer in a thousand: 2 sales/h × 18 min = 0.6 → 5 (P(N ≥ 5) = 0.04 %,
	// P(N ≥ 4) = 0.34 %).
	def := auto
	def.AutoReady = AutoReady{}
	if got := ReadyTarget(def, Demand{Window: 3 * h, BurstWindow: h, Sales: 6, BurstSales: 2, LeadMean: 18 * time.Minute, LeadSamples: 100}); got.Ready != 5 ||
		got.Why != "target 5: 2.0 sales/h (last 3h) × 0.3 h mean provisioning = 0.6 + 4 margin (stock-outs ≤ 0.1 %)" {
		t.Fatalf("default risk: %+v", got)
	}
}

// stockFor is the Poisson quantile: exact sums up to λ = 1000 (checked against worked figures),
// the approximation above it (checked against the tail summed here term by term, which the
// exact branch also does: a comparison at λ ≤ 1000 would test that code against itself).
func TestStockFor(t *testing.T) {
	exact := func(lambda, risk float64) int {
		tail := 1.0
		for s := 0; ; s++ {
			if tail <= risk {
				return s
			}
			lg, _ := math.Lgamma(float64(s + 1))
			tail -= math.Exp(float64(s)*math.Log(lambda) - lambda - lg)
		}
	}
	for _, c := range []struct {
		lambda, risk float64
		want         int
	}{{0, 0.001, 0}, {0.6, 0.001, 5}, {0.6, 0.05, 3}, {2.79, 0.001, 10}, {100, 0.001, 133}} {
		if got := stockFor(c.lambda, c.risk); got != c.want {
			t.Errorf("stockFor(%g, %g) = %d, want %d", c.lambda, c.risk, got, c.want)
		}
	}
	for _, lambda := range []float64{1000.5, 1001, 2000, 5000, 20000} {
		for _, risk := range []float64{1e-6, 0.001, 0.01, 0.1, 0.5} {
			if got, want := stockFor(lambda, risk), exact(lambda, risk); got != want {
				t.Errorf("stockFor(%g, %g) = %d, the exact sum %d", lambda, risk, got, want)
			}
		}
	}
}

// The planner tops an auto tier up to its target, counting what is in flight, and refreshes
// stale accounts against it too.
func TestPlanAutoTarget(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tier := Tier{Name: "basic", MinReady: 1, MaxTotal: 10, MaxInFlight: 4, MemoryMB: 512, CPUs: 1, Ready: ReadyAuto}
	// 6/h × 20 min = 2 in the making: 9 keeps stock-outs ≤ 0.1 % (P(N ≥ 9) = 0.02 %, P(N ≥ 8) = 0.11 %).
	busy := Demand{Window: 6 * time.Hour, BurstWindow: time.Hour, Sales: 6, BurstSales: 6, LeadMean: 20 * time.Minute, LeadP95: 30 * time.Minute, LeadSamples: 10}
	plans := Plan(Snapshot{"basic": {Ready: 1, Provisioning: 1, Demand: busy}}, Tiers{"basic": tier}, DefaultPlanConfig(), now)
	if plans[0].Create != 3 { // 9 − 1 − 1 = 7, within max_in_flight 4 − 1
		t.Fatalf("busy: %+v", plans[0])
	}
	plans = Plan(Snapshot{"basic": {Ready: 9, Demand: busy}}, Tiers{"basic": tier}, DefaultPlanConfig(), now)
	if !plans[0].Empty() {
		t.Fatalf("at target: %+v", plans[0])
	}
	quiet := Demand{Window: 6 * time.Hour, BurstWindow: time.Hour, LeadMean: 20 * time.Minute, LeadP95: 30 * time.Minute, LeadSamples: 10}
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
  stockout: 0.01
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
	if !tier.Auto() || tier.AutoReady != (AutoReady{Window: 12 * time.Hour, BurstWindow: 20 * time.Minute, Stockout: 0.01}) || tier.RefillTarget() != 45*time.Minute {
		t.Fatalf("decoded %+v", tier)
	}
	if d := (AutoReady{}).Effective(); d != (AutoReady{Window: DefaultAutoWindow, BurstWindow: DefaultAutoBurstWindow, Stockout: DefaultAutoStockout}) {
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
		{"stock-out risk too high", func(t *Tier) { t.AutoReady.Stockout = 0.9 }, "auto.stockout 0.9 must be between 1e-06 and 0.5"},
		{"stock-out risk negative", func(t *Tier) { t.AutoReady.Stockout = -0.01 }, "auto.stockout -0.01 must be between"},
		{"stock-out risk NaN", func(t *Tier) { t.AutoReady.Stockout = math.NaN() }, "auto.stockout NaN must be between"},
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
