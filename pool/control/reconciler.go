package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
)

// Store is what the reconciler and the job workers need from storage (package store implements
// it on SQLite and PostgreSQL).
type Store interface {
	Snapshot(ctx context.Context, stuckBefore time.Time, page int) (pool.Snapshot, error)
	CreateAccountsFrom(ctx context.Context, origin pool.Origin, tier, prefix string, n int) ([]pool.Account, error)
	FailStuck(ctx context.Context, ids []int64, reason string) (int, error)
	RetireReady(ctx context.Context, tier string, n int) ([]int64, error)
	Get(ctx context.Context, id int64) (pool.Account, error)
	StartAttempt(ctx context.Context, id int64) (pool.Account, error)
	RecordError(ctx context.Context, id int64, reason string) error
	MarkReady(ctx context.Context, id int64, p pool.Provisioned) error
	MarkFailed(ctx context.Context, id int64, reason string) error
	Retire(ctx context.Context, id int64) (pool.Account, error)
	StaleReady(ctx context.Context, current map[string]string) (map[string]int, error)
	RetireStale(ctx context.Context, tier, current string, n int) ([]int64, error)
	Demand(ctx context.Context, now time.Time, tiers pool.Tiers) (map[string]pool.Demand, error)
}

// ReconcilerConfig configures a Reconciler.
type ReconcilerConfig struct {
	Store  Store
	Tiers  pool.Tiers
	Plan   pool.PlanConfig
	Prefix string // slug prefix of new accounts, e.g. "client"
	// StuckTimeout fails accounts still provisioning this long after their provisioning job
	// first started (or, when it never started, this long after creation once the job is gone).
	StuckTimeout time.Duration
	// Leader reports whether this process may reconcile (PostgreSQL advisory lock); nil means
	// always (SQLite: one process holds the data dir).
	Leader func(ctx context.Context) (bool, error)
	// Maintain, if set, runs on the leader before every pass (e.g. rescuing jobs of dead
	// replicas); its error is logged, never fatal.
	Maintain func(ctx context.Context) error
	// Schedule is the robfig/cron schedule of passes (Run); passes also run on every Trigger.
	Schedule string
	Clock    quartz.Clock
	Log      *slog.Logger
	// Build, if set, is what provisioning builds for a tier now (pool.Tenants.Build): ready
	// accounts of another generation are then replaced (the ready pool refresh). Nil, or a
	// zero generation, refreshes nothing.
	Build func(pool.Tier) pool.Build
}

// Reconciler keeps every tier's pool at its targets: snapshot → pure Plan → execute.
type Reconciler struct {
	cfg      ReconcilerConfig
	loop     *Loop
	leading  atomic.Bool
	lastPass atomic.Int64 // unix ms of the last successful pass

	mu      sync.Mutex
	targets map[string]int // the auto tiers' last ready targets (logged when they change)
}

// Leading reports whether this process led the last reconcile tick.
func (r *Reconciler) Leading() bool { return r.leading.Load() }

// LastPass is when the last pass succeeded (zero before the first).
func (r *Reconciler) LastPass() time.Time {
	if ms := r.lastPass.Load(); ms != 0 {
		return time.UnixMilli(ms)
	}
	return time.Time{}
}

// stuckPage bounds how many stuck accounts one pass cleans.
const stuckPage = 100

// NewReconciler validates the configuration and returns a Reconciler.
func NewReconciler(cfg ReconcilerConfig) (*Reconciler, error) {
	if cfg.Store == nil || len(cfg.Tiers) == 0 {
		return nil, errors.New("reconciler: store and tiers are required")
	}
	if err := pool.ValidatePrefix(cfg.Prefix); err != nil {
		return nil, err
	}
	if cfg.StuckTimeout <= 0 {
		return nil, errors.New("reconciler: stuck timeout must be > 0")
	}
	if cfg.Clock == nil {
		cfg.Clock = quartz.NewReal()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Schedule == "" {
		cfg.Schedule = "@every 30s"
	}
	loop, err := NewLoop("reconcile", cfg.Schedule, cfg.Clock)
	if err != nil {
		return nil, err
	}
	return &Reconciler{cfg: cfg, loop: loop}, nil
}

// ReconcileOnce runs one pass and returns the plan it executed. Executing clamps nothing the
// plan already bounds; errors of one tier do not stop the others.
func (r *Reconciler) ReconcileOnce(ctx context.Context) ([]pool.TierPlan, error) {
	now := r.cfg.Clock.Now()
	snap, err := r.cfg.Store.Snapshot(ctx, now.Add(-r.cfg.StuckTimeout), stuckPage)
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	current, err := r.stale(ctx, snap)
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	if err := r.demand(ctx, snap, now); err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	plans := pool.Plan(snap, r.cfg.Tiers, r.cfg.Plan, now)
	var errs []error
	for _, p := range plans {
		log := r.cfg.Log.With("tier", p.Tier)
		if len(p.CleanStuck) > 0 {
			n, err := r.cfg.Store.FailStuck(ctx, p.CleanStuck, fmt.Sprintf("stuck: provisioning started more than %s ago, or its job is gone", r.cfg.StuckTimeout))
			if err != nil {
				errs = append(errs, fmt.Errorf("tier %s: clean stuck: %w", p.Tier, err))
			} else if n > 0 {
				log.Warn("failed stuck provisioning accounts", "count", n)
			}
		}
		if p.Retire > 0 {
			ids, err := r.cfg.Store.RetireReady(ctx, p.Tier, p.Retire)
			if err != nil {
				errs = append(errs, fmt.Errorf("tier %s: retire: %w", p.Tier, err))
			} else {
				log.Info("retired ready accounts above max_total", "count", len(ids))
			}
		}
		if p.RetireStale > 0 {
			ids, err := r.cfg.Store.RetireStale(ctx, p.Tier, current[p.Tier], p.RetireStale)
			if err != nil {
				errs = append(errs, fmt.Errorf("tier %s: retire stale: %w", p.Tier, err))
			} else if len(ids) > 0 {
				log.Info("refresh: retired ready accounts of an older generation", "count", len(ids), "generation", current[p.Tier])
			}
		}
		if n := p.Create + p.RefreshCreate; n > 0 {
			as, err := r.cfg.Store.CreateAccountsFrom(ctx, pool.OriginPool, p.Tier, r.cfg.Prefix, n)
			if err != nil {
				errs = append(errs, fmt.Errorf("tier %s: create: %w", p.Tier, err))
			} else {
				log.Info("provisioning new accounts", "count", len(as), "first", as[0].Slug, "refresh", p.RefreshCreate)
			}
		}
		if p.HardLimited {
			log.Error("tier hard-limited: too many consecutive provisioning failures; fix the cause, then resume the tier")
		}
	}
	return plans, errors.Join(errs...)
}

// stale fills the snapshot's StaleReady counts from the tiers' current generations, which it
// returns (tier → generation; empty without Build).
func (r *Reconciler) stale(ctx context.Context, snap pool.Snapshot) (map[string]string, error) {
	current := map[string]string{}
	if r.cfg.Build == nil {
		return current, nil
	}
	for name, t := range r.cfg.Tiers {
		current[name] = r.cfg.Build(t).Generation
	}
	counts, err := r.cfg.Store.StaleReady(ctx, current)
	if err != nil {
		return nil, err
	}
	for tier, n := range counts {
		if s, ok := snap[tier]; ok {
			s.StaleReady = n
			snap[tier] = s
		}
	}
	return current, nil
}

// demand fills the snapshot's Demand of the tiers in auto mode (the only ones whose target
// follows it) and logs their target when it changes.
func (r *Reconciler) demand(ctx context.Context, snap pool.Snapshot, now time.Time) error {
	auto := pool.Tiers{}
	for name, t := range r.cfg.Tiers {
		if t.Auto() {
			auto[name] = t
		}
	}
	if len(auto) == 0 {
		return nil
	}
	ds, err := r.cfg.Store.Demand(ctx, now, auto)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.targets == nil {
		r.targets = map[string]int{}
	}
	for name, d := range ds {
		s := snap[name]
		s.Demand = d
		snap[name] = s
		target := pool.ReadyTarget(auto[name], d)
		if last, ok := r.targets[name]; !ok || last != target.Ready {
			r.cfg.Log.Info("auto ready target", "tier", name, "target", target.Ready, "why", target.Why)
			r.targets[name] = target.Ready
		}
	}
	return nil
}

// Trigger asks for a pass as soon as possible (after a claim); it never blocks.
func (r *Reconciler) Trigger() { r.loop.Trigger() }

// Run reconciles on the schedule and on every Trigger until ctx ends, starting with a pass at
// once. Only the leader reconciles; a follower tries to take over on every tick.
func (r *Reconciler) Run(ctx context.Context) error {
	r.Trigger()
	r.loop.Run(ctx, r.tick)
	return nil
}

func (r *Reconciler) tick(ctx context.Context) {
	if r.cfg.Leader != nil {
		ok, err := r.cfg.Leader(ctx)
		if err != nil {
			r.cfg.Log.Error("leader election", "err", err)
			return
		}
		if r.leading.Swap(ok) != ok {
			r.cfg.Log.Info("reconcile leadership changed", "leader", ok)
		}
		if !ok {
			return
		}
	}
	if r.cfg.Maintain != nil {
		if err := r.cfg.Maintain(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Log.Error("maintenance", "err", err)
		}
	}
	r.leading.Store(true)
	if _, err := r.ReconcileOnce(ctx); err != nil {
		if ctx.Err() == nil {
			r.cfg.Log.Error("reconcile", "err", err)
		}
	} else {
		r.lastPass.Store(r.cfg.Clock.Now().UnixMilli())
	}
}
