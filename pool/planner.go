package pool

import (
	"sort"
	"time"
)

// TierSnapshot is what the planner knows about one tier: live counts and failure history, read
// in one go by the store.
type TierSnapshot struct {
	// Provisioning and Ready count the pool's own accounts (origins pool and order).
	Provisioning int
	Ready        int
	// BatchReady counts the ready accounts of operator batches: they are sold like the pool's,
	// so they count toward min_ready, but never toward max_total (an operator's batch may be
	// larger than it), and max_total never retires them.
	BatchReady int
	// Stuck are the pool's provisioning accounts found stuck (at most a bounded page): their
	// provisioning job first started before the stuck cutoff, or it never started, the account
	// is older than the cutoff and its job is gone.
	Stuck []int64
	// BatchStuck are operator batches' stuck accounts: cleaned like the pool's, counted nowhere.
	BatchStuck []int64
	// StaleReady counts the ready accounts of every origin (within Ready and BatchReady) built by
	// another generation than the tier's current one: the ready pool refresh replaces them.
	StaleReady int
	// Demand is the tier's recent sales and provisioning time: the ready target of a tier in
	// auto mode follows it (ReadyTarget). Unused in fixed mode.
	Demand              Demand
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
	// HardFailureLimit stops creation for a tier after this many consecutive failures of the
	// pool's own accounts (an operator batch's failures do not count), until an operator resumes
	// it (or a provisioning succeeds).
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
	// Retire is how many of the pool's oldest ready accounts to retire (inventory above
	// max_total; operator batches are never retired by it).
	Retire int
	// BackoffUntil is set when creation waits after recent failures.
	BackoffUntil time.Time
	HardLimited  bool
	Paused       bool
	// Refresh replaces stale ready accounts (see planRefresh): RefreshCreate more accounts are
	// created for them (within Create's own bounds, on top of it) and RetireStale of them are
	// retired now, oldest first.
	RefreshCreate int
	RetireStale   int
}

// Empty reports whether the plan changes nothing.
func (p TierPlan) Empty() bool {
	return p.Create == 0 && p.Retire == 0 && len(p.CleanStuck) == 0 && p.RefreshCreate == 0 && p.RetireStale == 0
}

// Plan is the pure reconcile decision: snapshot + targets + clock → actions, one TierPlan per
// configured tier, sorted by tier name. It never plans more creations than the deficit, more
// in-flight provisioning than max_in_flight, or more inventory than max_total.
//
// The deficit is the ready target (min_ready, or in auto mode ReadyTarget's) minus every ready account (the pool's and operator batches': all are
// for sale) minus the pool's in-flight ones. max_total and max_in_flight bound the pool's own
// inventory only: operator batches neither count toward them nor are retired by them.
func Plan(snap Snapshot, tiers Tiers, cfg PlanConfig, now time.Time) []TierPlan {
	out := make([]TierPlan, 0, len(tiers))
	for _, name := range tiers.Names() {
		t := tiers[name]
		s := snap[name]
		t.MinReady = ReadyTarget(t, s.Demand).Ready // the planner's target, fixed or auto
		p := TierPlan{Tier: name, Paused: s.Paused}
		if len(s.Stuck)+len(s.BatchStuck) > 0 {
			p.CleanStuck = append(append([]int64{}, s.Stuck...), s.BatchStuck...)
		}
		inFlight := max(s.Provisioning-len(s.Stuck), 0)
		if s.Paused {
			out = append(out, p)
			continue
		}
		if over := s.Ready + inFlight - t.MaxTotal - replacing(s, inFlight); over > 0 {
			p.Retire = min(over, s.Ready)
		}
		p.HardLimited = cfg.HardFailureLimit > 0 && s.ConsecutiveFailures >= cfg.HardFailureLimit
		create := min(t.MinReady-s.Ready-s.BatchReady-inFlight, t.MaxInFlight-inFlight, t.MaxTotal-s.Ready-inFlight)
		switch {
		case create <= 0, p.HardLimited:
		case s.ConsecutiveFailures > 0 && now.Before(s.LastFailureAt.Add(backoff(cfg, s.ConsecutiveFailures))):
			p.BackoffUntil = s.LastFailureAt.Add(backoff(cfg, s.ConsecutiveFailures))
		default:
			p.Create = create
		}
		p.RefreshCreate, p.RetireStale = planRefresh(s, t, inFlight+p.Create)
		if until := s.LastFailureAt.Add(backoff(cfg, s.ConsecutiveFailures)); p.RefreshCreate > 0 && s.ConsecutiveFailures > 0 && now.Before(until) {
			p.RefreshCreate, p.BackoffUntil = 0, until
		}
		if p.HardLimited {
			p.RefreshCreate = 0
		}
		p.Retire = max(p.Retire-p.RetireStale, 0)
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tier < out[j].Tier })
	return out
}

// planRefresh is the ready pool refresh: stale ready accounts (another generation than the
// tier's current one) are replaced, new ones first, and never at the cost of the ready count.
// create: enough to bring the fresh ready accounts plus everything in flight (inFlight, this
// pass's creations included) up to min_ready, at most one per stale account, within
// max_in_flight. retire: stale ready accounts beyond min_ready, so the ready count never dips
// below min_ready for it (a fresh account replaces a stale one once it is ready).
func planRefresh(s TierSnapshot, t Tier, inFlight int) (create, retire int) {
	if s.StaleReady <= 0 {
		return 0, 0
	}
	ready := s.Ready + s.BatchReady
	fresh := ready - s.StaleReady
	retire = min(s.StaleReady, max(ready-t.MinReady, 0))
	create = min(t.MinReady-fresh-inFlight, s.StaleReady-retire, t.MaxInFlight-inFlight)
	return max(create, 0), retire
}

// replacing is how many of the pool's in-flight accounts replace stale ready ones: they do not
// count toward max_total, so a full pool is not retired below min_ready while it is refreshed.
func replacing(s TierSnapshot, inFlight int) int { return min(s.StaleReady, inFlight) }

func backoff(cfg PlanConfig, failures int) time.Duration {
	d := cfg.BackoffBase
	for i := 1; i < failures && d < cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, cfg.BackoffMax)
}
