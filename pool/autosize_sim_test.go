package pool

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The simulation behind ready: auto. Deterministic sales traces (seeded Poisson arrivals) are
// replayed minute by minute on a fake clock against the real planner (Plan, ReadyTarget): each
// minute accounts whose provisioning ended become ready (or go to a buyer who waits), buyers
// arrive and take a ready account or — a stock-out — wait for an on-demand account made for
// them at once (as the daemon's pending orders do), and the planner tops the pool up. The same
// arrivals and the same provisioning times (a seeded 10 min + exponential, mean 8 min, tail cut
// at 60 min: mean ≈ 18 min, p95 ≈ 34 min) are replayed for every fixed min_ready and for auto
// (default knobs, min_ready 1), which measures its demand as the store does (claims in the
// windows, mean and p95 of the last 100 created → ready times).
//
// Idle container-hours are the time integral of unsold containers (ready + provisioning).
// auto must dominate the fixed size with the same idle cost. Fixed sizes are whole numbers, so
// that size is the interpolation of the two fixed sizes whose idle container-hours bracket
// auto's (holding one for part of the time and the other for the rest spends exactly auto's
// idle). On the daily cycle and the launch day auto must have strictly fewer stock-outs than it
// on every seed. On the steady trace a fixed size is the optimum (a stationary Poisson demand
// has nothing to adapt to) and both have a stock-out or none in thousands of sales, so auto
// must have no more than it on seed 0, at most one more on any seed, and at most one more over
// all seeds together (a rate estimate that dips, as the first version's did, fails that).
// TENANTPOOL_SIM_SEEDS replays more seeds (default 8).
//
//	go test ./pool/ -run TestAutoSizeSimulation -v
func TestAutoSizeSimulation(t *testing.T) {
	seeds := 8
	if v := os.Getenv("TENANTPOOL_SIM_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("TENANTPOOL_SIM_SEEDS=%q: want a positive number of seeds", v)
		}
		seeds = n
	}
	type row struct {
		auto     simResult
		equal    float64 // stock-outs of the fixed size with auto's idle cost
		lo       int     // the fixed sizes lo and lo+1 bracket auto's idle cost
		needed   int     // the smallest fixed size with no more stock-outs than auto
		neededIH float64
	}
	traces := simTraces()
	rows := make([][]row, seeds) // seed → trace
	for seed := range seeds {
		rows[seed] = make([]row, len(traces))
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			for i, tr := range traces {
				tr.seed += uint64(seed) * 10
				auto := simulate(tr, Tier{Name: "t", MinReady: 1, MaxTotal: 60, MaxInFlight: 20, MemoryMB: 512, CPUs: 1, Ready: ReadyAuto})
				var fixed []simResult
				for s := 0; s <= 40; s++ {
					r := simulate(tr, Tier{Name: "t", MinReady: s, MaxTotal: 60, MaxInFlight: 20, MemoryMB: 512, CPUs: 1})
					fixed = append(fixed, r)
					if r.stockouts <= auto.stockouts && r.idleHours >= auto.idleHours {
						break
					}
				}
				same := slices.IndexFunc(fixed, func(r simResult) bool { return r.idleHours >= auto.idleHours })
				if same < 1 {
					t.Fatalf("%s: no fixed sizes bracket auto's idle cost %.1f", tr.name, auto.idleHours)
				}
				lo, hi := fixed[same-1], fixed[same]
				f := (auto.idleHours - lo.idleHours) / (hi.idleHours - lo.idleHours)
				equal := float64(lo.stockouts) + f*float64(hi.stockouts-lo.stockouts)
				needed := slices.IndexFunc(fixed, func(r simResult) bool { return r.stockouts <= auto.stockouts })
				rows[seed][i] = row{auto: auto, equal: equal, lo: same - 1, needed: needed, neededIH: fixed[needed].idleHours}
				switch out := float64(auto.stockouts); {
				case tr.strict && out >= equal:
					t.Errorf("%s: auto (%d stock-outs) is not strictly better than the fixed size of its idle cost (%.1f)", tr.name, auto.stockouts, equal)
				case out > equal+1, seed == 0 && out > equal:
					t.Errorf("%s: auto has %d stock-outs at %.1f idle h, the fixed size of that idle cost %.1f", tr.name, auto.stockouts, auto.idleHours, equal)
				}
			}
		})
	}
	t.Cleanup(func() {
		var b strings.Builder
		fmt.Fprintf(&b, "seed 0:\n\n| trace | sales | auto: stock-outs | auto: idle container-h | fixed at auto's idle cost: stock-outs (between min_ready) | fixed min_ready needed for auto's stock-outs | its idle container-h |\n|---|---|---|---|---|---|---|\n")
		for i, tr := range traces {
			r := rows[0][i]
			fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %.1f (%d and %d) | %d | %.0f |\n", tr.name, r.auto.sales, r.auto.stockouts, r.auto.idleHours,
				r.equal, r.lo, r.lo+1, r.needed, r.neededIH)
		}
		fmt.Fprintf(&b, "\nall %d seeds:\n\n| trace | sales | auto: stock-outs | auto: idle container-h | fixed at auto's idle cost: stock-outs | seeds where auto has more stock-outs than it |\n|---|---|---|---|---|---|\n", seeds)
		for i, tr := range traces {
			var sales, outs, worse int
			var idle, equal float64
			for seed := range seeds {
				r := rows[seed][i]
				sales, outs, idle, equal = sales+r.auto.sales, outs+r.auto.stockouts, idle+r.auto.idleHours, equal+r.equal
				if float64(r.auto.stockouts) > r.equal {
					worse++
				}
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %.1f | %d of %d |\n", tr.name, sales, outs, idle, equal, worse, seeds)
			if float64(outs) > equal+1 {
				t.Errorf("%s: over %d seeds auto has %d stock-outs, the fixed size of its idle cost %.1f", tr.name, seeds, outs, equal)
			}
		}
		t.Logf("\n%s", b.String())
	})
}

type simTrace struct {
	name   string
	days   int
	rate   func(h float64) float64 // sales per hour at hour h of the trace
	seed   uint64
	strict bool // auto must have strictly fewer stock-outs than the same-idle fixed size
}

func simTraces() []simTrace {
	return []simTrace{
		{name: "steady", days: 8, seed: 1, rate: func(float64) float64 { return 2 }},
		// Business hours: 0.5/h at night, rising from 08:00 to 12.5/h at 14:00 and back by 20:00.
		{name: "daily", days: 8, seed: 2, strict: true, rate: func(h float64) float64 {
			h = math.Mod(h, 24)
			if h < 8 || h > 20 {
				return 0.5
			}
			s := math.Sin(math.Pi * (h - 8) / 12)
			return 0.5 + 12*s*s
		}},
		// 1/h for four days (the first is the warm-up); launch on day 5 at 08:00: 40/h for two hours, 8/h until midnight;
		// 3/h afterwards.
		{name: "launch", days: 8, seed: 3, strict: true, rate: func(h float64) float64 {
			switch {
			case h < 4*24+8:
				return 1
			case h < 4*24+10:
				return 40
			case h < 5*24:
				return 8
			default:
				return 3
			}
		}},
	}
}

type simResult struct {
	sales, stockouts int
	idleHours        float64
}

// arrivals draws the trace's sales times (minutes from the start) by thinning a Poisson
// process of the trace's peak rate.
func (tr simTrace) arrivals() []float64 {
	rng := rand.New(rand.NewPCG(tr.seed, 0x5a1e))
	end := float64(tr.days * 24 * 60)
	peak := 0.0
	for m := 0.0; m < end; m++ {
		peak = max(peak, tr.rate(m/60))
	}
	var out []float64
	for at := 0.0; ; {
		at += rng.ExpFloat64() / (peak / 60)
		if at >= end {
			return out
		}
		if rng.Float64() < tr.rate(at/60)/peak {
			out = append(out, at)
		}
	}
}

func simulate(tr simTrace, tier Tier) simResult {
	const step, warmup = time.Minute, 24 * time.Hour
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	tiers := Tiers{tier.Name: tier}
	arrivals := tr.arrivals()
	leads := rand.New(rand.NewPCG(tr.seed, 0x1ead))
	lead := func() time.Duration {
		return 10*time.Minute + min(time.Duration(leads.ExpFloat64()*float64(8*time.Minute)), 50*time.Minute)
	}
	type building struct{ created, ready time.Time }
	var (
		inFlight   []building // the pool's and on-demand accounts being provisioned
		ready      int
		waiting    int         // buyers waiting for an on-demand account
		claims     []time.Time // when each sale was claimed
		leadTimes  []time.Duration
		res        simResult
		next       int
		idleMinute float64
		cfg        = DefaultPlanConfig()
		measured   int           // len(leadTimes) when p95 was computed
		p95, mean  time.Duration // of the last 100 lead times
		last       TierSnapshot  // the last snapshot planned
		idle       bool          // its plan changed nothing
	)
	for now := start; now.Before(start.Add(time.Duration(tr.days) * 24 * time.Hour)); now = now.Add(step) {
		// Provisioning that ended by now: to a waiting buyer first, else to the pool.
		kept := inFlight[:0]
		for _, b := range inFlight {
			if b.ready.After(now) {
				kept = append(kept, b)
				continue
			}
			leadTimes = append(leadTimes, b.ready.Sub(b.created))
			if waiting > 0 {
				waiting--
				claims = append(claims, now)
			} else {
				ready++
			}
		}
		inFlight = kept
		// Buyers of this minute.
		for next < len(arrivals) && arrivals[next] < float64(now.Sub(start)/time.Minute)+1 {
			next++
			counted := now.Sub(start) >= warmup
			if counted {
				res.sales++
			}
			if ready > 0 {
				ready--
				claims = append(claims, now)
				continue
			}
			if counted {
				res.stockouts++
			}
			waiting++
			inFlight = append(inFlight, building{now, now.Add(lead())})
		}
		// Reconcile. Only an auto tier reads the demand (as the reconciler does); the p95 is
		// recomputed when a provisioning ended. Plan is pure: on the same snapshot as the last
		// minute's, whose plan changed nothing, it is not run again.
		d := Demand{}
		if tier.Auto() {
			a := tier.AutoReady.Effective()
			d.Window, d.BurstWindow = a.Window, a.BurstWindow
			for i := len(claims) - 1; i >= 0 && claims[i].After(now.Add(-a.Window)); i-- {
				d.Sales++
				if claims[i].After(now.Add(-a.BurstWindow)) {
					d.BurstSales++
				}
			}
			if n := len(leadTimes); n != measured {
				recent := slices.Clone(leadTimes[max(0, n-100):])
				slices.Sort(recent)
				var sum time.Duration
				for _, l := range recent {
					sum += l
				}
				p95, mean, measured = recent[int(math.Ceil(float64(len(recent))*0.95))-1], sum/time.Duration(len(recent)), n
			}
			d.LeadP95, d.LeadMean, d.LeadSamples = p95, mean, min(len(leadTimes), 100)
		}
		snap := TierSnapshot{Ready: ready, Provisioning: len(inFlight), Demand: d}
		if !idle || snap.Ready != last.Ready || snap.Provisioning != last.Provisioning || snap.Demand != last.Demand {
			idle, last = true, snap
			for _, p := range Plan(Snapshot{tier.Name: snap}, tiers, cfg, now) {
				for range p.Create {
					inFlight = append(inFlight, building{now, now.Add(lead())})
				}
				ready -= p.Retire
				idle = idle && p.Empty()
			}
		}
		if now.Sub(start) >= warmup {
			idleMinute += float64(ready + max(len(inFlight)-waiting, 0))
		}
	}
	res.idleHours = idleMinute / 60
	return res
}
