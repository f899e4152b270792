package pool

import (
	"sort"
	"time"
)

// TierSnapshot is what the planner knows about one tier: live counts and failure history, read
// in one go by the store.
type TierSnapshot struct {
	Provisioning int
	Ready        int
	// Stuck are provisioning accounts created before the stuck cutoff (at most a bounded page).
	Stuck               []int64
	Paused              bool
	ConsecutiveFailures int
	LastFailureAt       time.Time
}

// Snapshot is the state of every tier at one instant.
type Snapshot map[string]TierSnapshot

// PlanConfig holds the planner's knobs.
type PlanConfig struct {
	// BackoffBase is the wait after the first consecutive failure; it doubles with every
	// further one, up to BackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// HardFailureLimit stops creation for a tier after this many consecutive failures, until an
	// operator resumes it (or a provisioning succeeds).
	HardFailureLimit int
}

// DefaultPlanConfig is what poold runs with unless told otherwise.
func DefaultPlanConfig() PlanConfig {
	return PlanConfig{BackoffBase: 30 * time.Second, BackoffMax: 15 * time.Minute, HardFailureLimit: 10}
}

// TierPlan is what to do for one tier.
type TierPlan struct {
	Tier   string
	Create int
	// CleanStuck are provisioning accounts to fail (and tear down).
	CleanStuck []int64
	// Retire is how many of the oldest ready accounts to retire (inventory above max_total).
	Retire int
	// BackoffUntil is set when creation waits after recent failures.
	BackoffUntil time.Time
	HardLimited  bool
	Paused       bool
}

// Empty reports whether the plan changes nothing.
func (p TierPlan) Empty() bool { return p.Create == 0 && p.Retire == 0 && len(p.CleanStuck) == 0 }

// Plan is the pure reconcile decision: snapshot + targets + clock → actions, one TierPlan per
// configured tier, sorted by tier name. It never plans more creations than the deficit, more
// in-flight provisioning than max_in_flight, or more inventory than max_total.
func Plan(snap Snapshot, tiers Tiers, cfg PlanConfig, now time.Time) []TierPlan {
	out := make([]TierPlan, 0, len(tiers))
	for _, name := range tiers.Names() {
		t := tiers[name]
		s := snap[name]
		p := TierPlan{Tier: name, Paused: s.Paused, CleanStuck: s.Stuck}
		inFlight := max(s.Provisioning-len(s.Stuck), 0)
		if s.Paused {
			out = append(out, p)
			continue
		}
		if over := s.Ready + inFlight - t.MaxTotal; over > 0 {
			p.Retire = min(over, s.Ready)
		}
		p.HardLimited = cfg.HardFailureLimit > 0 && s.ConsecutiveFailures >= cfg.HardFailureLimit
		create := min(t.MinReady-s.Ready-inFlight, t.MaxInFlight-inFlight, t.MaxTotal-s.Ready-inFlight)
		switch {
		case create <= 0, p.HardLimited:
		case s.ConsecutiveFailures > 0 && now.Before(s.LastFailureAt.Add(backoff(cfg, s.ConsecutiveFailures))):
			p.BackoffUntil = s.LastFailureAt.Add(backoff(cfg, s.ConsecutiveFailures))
		default:
			p.Create = create
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tier < out[j].Tier })
	return out
}

func backoff(cfg PlanConfig, failures int) time.Duration {
	d := cfg.BackoffBase
	for i := 1; i < failures && d < cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, cfg.BackoffMax)
}
