package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/coder/quartz"
	"golang.org/x/sync/errgroup"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
)

// RolloutStore is what the rolling upgrade driver needs from storage.
type RolloutStore interface {
	Get(ctx context.Context, id int64) (pool.Account, error)
	ActiveRollout(ctx context.Context) (int64, error)
	Rollout(ctx context.Context, id int64) (pool.Rollout, []pool.RolloutStep, error)
	InterruptedSteps(ctx context.Context) ([]pool.RolloutStep, error)
	BeginStep(ctx context.Context, rolloutID, accountID int64, fromGeneration, fromImage string) (bool, error)
	RetryStep(ctx context.Context, rolloutID, accountID int64) error
	RollingBack(ctx context.Context, rolloutID, accountID int64, reason string) error
	FinishStep(ctx context.Context, rolloutID, accountID int64, o store.StepOutcome) (bool, error)
	FinishRollout(ctx context.Context, id int64) (bool, error)
}

var _ RolloutStore = (*store.Store)(nil)

// RolloutConfig configures a Rollouts driver.
type RolloutConfig struct {
	Store   RolloutStore
	Tenants pool.Tenants
	// Leader reports whether this process may drive rollouts (the reconcile leader); nil means
	// always (SQLite: one process).
	Leader func(ctx context.Context) (bool, error)
	// Schedule is the robfig/cron schedule of passes (default every 15 s); passes also run on
	// every Trigger (a start or resume).
	Schedule string
	Clock    quartz.Clock
	Log      *slog.Logger
}

// Rollouts drives the active rolling upgrade: on the leader, every pass first finishes the steps
// a dead process left in flight, then — while the rollout runs and its window is open — starts
// the steps NextRolloutSteps plans and waits for them, batch after batch. A step reads the
// image the tenant runs, records it, re-images the tenant with the target (Reimage waits for
// the health gate and proves the login) and records the new generation with an audit event; a
// failed upgrade re-images the tenant back to what it ran and holds the rollout. Everything is
// in the store, so a restarted daemon carries on where the last one stopped.
type Rollouts struct {
	cfg    RolloutConfig
	loop   *Loop
	passes atomic.Int64
}

// NewRollouts validates the configuration and returns the driver.
func NewRollouts(cfg RolloutConfig) (*Rollouts, error) {
	if cfg.Store == nil || cfg.Tenants == nil {
		return nil, errors.New("rollouts: store and tenants are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = quartz.NewReal()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Schedule == "" {
		cfg.Schedule = "@every 15s"
	}
	loop, err := NewLoop("rollout", cfg.Schedule, cfg.Clock)
	if err != nil {
		return nil, err
	}
	return &Rollouts{cfg: cfg, loop: loop}, nil
}

// Trigger asks for a pass as soon as possible.
func (d *Rollouts) Trigger() { d.loop.Trigger() }

// Passes is how many passes have completed (tests wait on it).
func (d *Rollouts) Passes() int64 { return d.passes.Load() }

// Run drives rollouts until ctx ends, starting with a pass at once (a restarted daemon finishes
// what its predecessor left in flight).
func (d *Rollouts) Run(ctx context.Context) error {
	d.Trigger()
	d.loop.Run(ctx, func(ctx context.Context) {
		if err := d.Pass(ctx); err != nil && ctx.Err() == nil {
			d.cfg.Log.Error("rolling upgrade pass failed", "err", err)
		}
	})
	return nil
}

// Pass does what can be done now and returns: on a follower nothing.
func (d *Rollouts) Pass(ctx context.Context) error {
	defer d.passes.Add(1)
	if d.cfg.Leader != nil {
		ok, err := d.cfg.Leader(ctx)
		if err != nil || !ok {
			return err
		}
	}
	if err := d.finishInterrupted(ctx); err != nil {
		return err
	}
	id, err := d.cfg.Store.ActiveRollout(ctx)
	if err != nil || id == 0 {
		return err
	}
	for ctx.Err() == nil {
		r, steps, err := d.cfg.Store.Rollout(ctx, id)
		if err != nil {
			return err
		}
		if r.State != pool.RolloutRunning {
			return nil
		}
		w, err := pool.ParseWindow(r.Window)
		if err != nil {
			return fmt.Errorf("rolling upgrade %d: %w", r.ID, err)
		}
		if now := d.cfg.Clock.Now(); !w.Open(now) {
			d.cfg.Log.Debug("rolling upgrade waits for its window", "rollout", r.ID, "window", r.Window, "opens", w.NextOpen(now))
			return nil
		}
		next := pool.NextRolloutSteps(r, steps)
		if len(next) == 0 {
			if pool.RolloutFinished(steps) {
				if ok, err := d.cfg.Store.FinishRollout(ctx, r.ID); err != nil || !ok {
					return err
				}
				d.cfg.Log.Info("rolling upgrade done", "rollout", r.ID, "tier", r.Tier, "generation", r.Generation,
					"done", r.Done, "skipped", r.Skipped)
			}
			return nil
		}
		var began atomic.Int32
		g, gctx := errgroup.WithContext(ctx)
		for _, st := range next {
			g.Go(func() error { return d.step(gctx, r, st, &began) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
		if began.Load() == 0 {
			return nil // nothing could begin (paused or aborted meanwhile): the next pass looks again
		}
	}
	return ctx.Err()
}

// finishInterrupted finishes the steps a dead process left in flight: an upgrade is tried again
// (Reimage is idempotent; a failure rolls back as usual), a rollback is tried again — whatever
// state the rollout is in, since these tenants may be half-way.
func (d *Rollouts) finishInterrupted(ctx context.Context) error {
	steps, err := d.cfg.Store.InterruptedSteps(ctx)
	if err != nil {
		return err
	}
	for _, st := range steps {
		r, _, err := d.cfg.Store.Rollout(ctx, st.RolloutID)
		if err != nil {
			return err
		}
		a, err := d.cfg.Store.Get(ctx, st.AccountID)
		if errors.Is(err, pool.ErrNotFound) {
			if _, err := d.cfg.Store.FinishStep(ctx, r.ID, st.AccountID, store.StepOutcome{State: pool.StepSkipped, Reason: "the account is gone"}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		d.cfg.Log.Warn("finishing a rolling upgrade step a stopped process left in flight", "rollout", r.ID, "account", st.Slug, "state", st.State)
		if err := d.cfg.Store.RetryStep(ctx, r.ID, a.ID); err != nil {
			return err
		}
		if st.State == pool.StepRollingBack {
			err = d.rollBack(ctx, r, st, a, st.Error)
		} else {
			err = d.upgrade(ctx, r, st, a)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// step runs one pending step; its error is the store's or ctx's (a failed upgrade is an
// outcome, recorded, not an error); began counts the steps that reached an outcome or began.
func (d *Rollouts) step(ctx context.Context, r pool.Rollout, st pool.RolloutStep, began *atomic.Int32) error {
	ok, err := d.runStep(ctx, r, st)
	if ok {
		began.Add(1)
	}
	return err
}

func (d *Rollouts) runStep(ctx context.Context, r pool.Rollout, st pool.RolloutStep) (bool, error) {
	finish := func(id int64, o store.StepOutcome) (bool, error) {
		_, err := d.cfg.Store.FinishStep(ctx, r.ID, id, o)
		return err == nil, err
	}
	a, err := d.cfg.Store.Get(ctx, st.AccountID)
	if errors.Is(err, pool.ErrNotFound) {
		return finish(st.AccountID, store.StepOutcome{State: pool.StepSkipped, Reason: "the account is gone"})
	}
	if err != nil {
		return false, err
	}
	if a.State != pool.StateClaimed && a.State != pool.StateDelivered {
		return finish(a.ID, store.StepOutcome{State: pool.StepSkipped, Generation: a.Generation,
			Reason: fmt.Sprintf("the account is %s, no longer sold", a.State)})
	}
	if a.Generation == r.Generation {
		return finish(a.ID, store.StepOutcome{State: pool.StepSkipped, Generation: a.Generation, Reason: "already runs the target generation"})
	}
	from, err := d.cfg.Tenants.Image(ctx, a)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		// Nothing was changed: the tenant still runs what it ran. Hold on it.
		reason := fmt.Sprintf("reading the image it runs: %v", err)
		return finish(a.ID, store.StepOutcome{State: pool.StepFailed, Generation: a.Generation,
			Reason: reason, Event: fmt.Sprintf("upgrade to %s not started: %s", r.Generation, reason)})
	}
	ok, err := d.cfg.Store.BeginStep(ctx, r.ID, a.ID, a.Generation, from)
	if err != nil || !ok {
		return false, err // paused, held or aborted meanwhile: the step stays pending
	}
	st.FromGeneration, st.FromImage = a.Generation, from
	return true, d.upgrade(ctx, r, st, a)
}

// upgrade re-images the tenant with the rollout's image and records the outcome; a failure
// rolls it back.
func (d *Rollouts) upgrade(ctx context.Context, r pool.Rollout, st pool.RolloutStep, a pool.Account) error {
	log := d.cfg.Log.With("rollout", r.ID, "account", a.Slug, "tier", a.Tier)
	gen, err := d.cfg.Tenants.Reimage(ctx, a, r.Image)
	if ctx.Err() != nil {
		return ctx.Err() // stopped: the step stays in flight and is finished after the restart
	}
	if err == nil {
		log.Info("tenant upgraded", "from", st.FromGeneration, "to", gen)
		_, err = d.cfg.Store.FinishStep(ctx, r.ID, a.ID, store.StepOutcome{State: pool.StepDone, Generation: gen,
			Event: fmt.Sprintf("upgraded %s → %s (rolling upgrade %d)", st.FromGeneration, gen, r.ID)})
		return err
	}
	reason := err.Error()
	log.Warn("tenant upgrade failed; rolling it back", "err", err)
	if err := d.cfg.Store.RollingBack(ctx, r.ID, a.ID, reason); err != nil {
		return err
	}
	return d.rollBack(ctx, r, st, a, reason)
}

// rollBack re-images the tenant with the image it ran before the step and holds the rollout.
func (d *Rollouts) rollBack(ctx context.Context, r pool.Rollout, st pool.RolloutStep, a pool.Account, reason string) error {
	log := d.cfg.Log.With("rollout", r.ID, "account", a.Slug, "tier", a.Tier)
	out := store.StepOutcome{State: pool.StepFailed, Generation: st.FromGeneration, Reason: reason}
	var err error
	if st.FromImage == "" {
		err = errors.New("the image it ran is unknown")
	} else {
		_, err = d.cfg.Tenants.Reimage(ctx, a, st.FromImage)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		log.Error("rollback failed: the tenant needs the operator", "err", err)
		out.State = pool.StepRollbackFailed
		out.Reason = fmt.Sprintf("%s; rollback failed: %v", reason, err)
		out.Event = fmt.Sprintf("upgrade to %s failed: %s; rollback to %s failed: %v (rolling upgrade %d held)", r.Generation, reason, st.FromGeneration, err, r.ID)
	} else {
		log.Info("tenant rolled back", "generation", st.FromGeneration)
		out.Event = fmt.Sprintf("upgrade to %s failed: %s; rolled back to %s (rolling upgrade %d held)", r.Generation, reason, st.FromGeneration, r.ID)
	}
	_, err = d.cfg.Store.FinishStep(ctx, r.ID, a.ID, out)
	return err
}
