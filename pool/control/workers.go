package control

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
)

// WorkerConfig configures the durable job workers.
type WorkerConfig struct {
	Store   Store
	Tenants pool.Tenants
	Tiers   pool.Tiers
	Log     *slog.Logger
	// ProvisionConcurrency bounds concurrent provisioning jobs, and teardowns, in this process
	// (default 4).
	ProvisionConcurrency int
	// Registry holds every job kind's queue, timeout, attempts, backoff and rescue threshold
	// (default jobs.Default()). Tests shorten it; attempts can only be lowered here, since the
	// store inserts jobs with the default registry's.
	Registry jobs.Registry
	// RetryPolicy, if set, replaces the registry's retry delays (tests use a fast one).
	RetryPolicy river.ClientRetryPolicy
	// PollInterval is how often idle workers look for new jobs (default 50ms: it bounds how
	// soon a paid order's e-mail job starts; see BENCHMARKS.md).
	PollInterval time.Duration
	// ObserveProvision, if set, is told about every provisioning attempt (metrics).
	ObserveProvision func(tier string, d time.Duration, err error)
	// ClientID is the job client's id, unique per process (river records it in every job the
	// process attempts, which is how a dead process's running jobs are found); "" is river's
	// default (host and start time).
	ClientID string
	// Plans, if set, works the plan change jobs (re-apply on a new tier, downgrade notices,
	// detaching custom domains beyond the allowance).
	Plans *PlanConfig
	// Configure, if set, may add workers and queues (e.g. the orders') before the client is
	// built.
	Configure func(*river.Workers, map[string]river.QueueConfig)
}

// NewJobClient returns a river client that works provisioning and teardown jobs, an operator's
// retirements of sold accounts (and whatever Configure adds) on driver's database, under the registry's policies. Start it with Start(ctx);
// stop it with Stop(ctx).
func NewJobClient(driver riverdriver.Driver[*sql.Tx], cfg WorkerConfig) (*river.Client[*sql.Tx], error) {
	if cfg.Store == nil || cfg.Tenants == nil || len(cfg.Tiers) == 0 {
		return nil, errors.New("jobs: store, tenants and tiers are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ProvisionConcurrency <= 0 {
		cfg.ProvisionConcurrency = 4
	}
	if cfg.Registry == nil {
		cfg.Registry = jobs.Default()
	}
	if cfg.RetryPolicy == nil {
		cfg.RetryPolicy = cfg.Registry.RetryPolicy()
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &ProvisionWorker{cfg: cfg})
	river.AddWorker(workers, &DestroyWorker{cfg: cfg})
	river.AddWorker(workers, &SuspendWorker{cfg: cfg})
	river.AddWorker(workers, &RetireAfterGraceWorker{cfg: cfg})
	if cfg.Plans != nil {
		river.AddWorker(workers, &PlanApplyWorker{cfg: cfg})
		river.AddWorker(workers, &PlanNoticeWorker{cfg: cfg})
		river.AddWorker(workers, &PlanDetachWorker{cfg: cfg})
	}
	queues := map[string]river.QueueConfig{
		jobs.QueueTeardown:  {MaxWorkers: cfg.ProvisionConcurrency},
		jobs.QueueProvision: {MaxWorkers: cfg.ProvisionConcurrency},
	}
	if cfg.Configure != nil {
		cfg.Configure(workers, queues)
	}
	return river.NewClient(driver, &river.Config{
		ID:                   cfg.ClientID,
		Workers:              workers,
		Queues:               queues,
		Logger:               cfg.Log.With("component", "jobs"),
		JobTimeout:           cfg.Registry.MaxTimeout(), // workers shorten it per kind (jobs.WorkerDefaults)
		RescueStuckJobsAfter: cfg.Registry.MaxRescueAfter(),
		RetryPolicy:          cfg.RetryPolicy,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(cfg.PollInterval, 100*time.Millisecond),
		PollOnly:             true, // neither driver here listens; polling is the contract
	})
}

// ProvisionWorker turns a provisioning account into a ready one through the tenants.
type ProvisionWorker struct {
	jobs.WorkerDefaults[jobs.ProvisionArgs]
	cfg WorkerConfig
}

// Work provisions one account. A retryable failure is recorded and retried with backoff; a
// permanent one, or the last attempt, fails the account and tears down what was built.
func (w *ProvisionWorker) Work(ctx context.Context, job *river.Job[jobs.ProvisionArgs]) error {
	a, err := w.cfg.Store.StartAttempt(ctx, job.Args.AccountID)
	if errors.Is(err, pool.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	log := w.cfg.Log.With("account", a.Slug, "tier", a.Tier, "attempt", job.Attempt)
	if a.State != pool.StateProvisioning {
		log.Info("provisioning skipped: account is no longer provisioning", "state", a.State)
		return nil
	}
	tier, err := w.cfg.Tiers.Get(a.Tier)
	if err != nil {
		return w.fail(ctx, log, a, err, true)
	}
	start := time.Now()
	p, err := w.cfg.Tenants.Provision(ctx, a, tier)
	if w.cfg.ObserveProvision != nil && ctx.Err() == nil {
		w.cfg.ObserveProvision(a.Tier, time.Since(start), err)
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// Shutdown: the account stays provisioning and the job is retried after restart.
			return err
		}
		final := pool.IsPermanent(err) || job.Attempt >= min(job.MaxAttempts, w.cfg.Registry.Of(job.Kind).MaxAttempts)
		return w.fail(ctx, log, a, err, final)
	}
	if err := w.cfg.Store.MarkReady(ctx, a.ID, p); err != nil {
		if errors.Is(err, pool.ErrIllegalTransition) {
			// Cleaned as stuck or retired while we worked: what we built must go.
			log.Warn("account left provisioning meanwhile; tearing down what was built")
			if derr := w.cfg.Tenants.Destroy(ctx, a); derr != nil {
				return fmt.Errorf("teardown after late provisioning: %w", derr)
			}
			return nil
		}
		return err
	}
	log.Info("account ready", "url", p.URL, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (w *ProvisionWorker) fail(ctx context.Context, log *slog.Logger, a pool.Account, cause error, final bool) error {
	reason := cause.Error()
	if !final {
		log.Warn("provisioning attempt failed; will retry", "err", reason)
		if err := w.cfg.Store.RecordError(ctx, a.ID, reason); err != nil {
			return errors.Join(cause, err)
		}
		return cause
	}
	log.Error("provisioning failed", "err", reason)
	if err := w.cfg.Store.MarkFailed(ctx, a.ID, reason); err != nil && !errors.Is(err, pool.ErrIllegalTransition) {
		return errors.Join(cause, err)
	}
	return river.JobCancel(cause)
}

// DestroyWorker tears down an account's infrastructure (retired or failed accounts).
type DestroyWorker struct {
	jobs.WorkerDefaults[jobs.DestroyArgs]
	cfg WorkerConfig
}

// Work destroys one account's tenant. Destroy is idempotent, so retries are safe.
func (w *DestroyWorker) Work(ctx context.Context, job *river.Job[jobs.DestroyArgs]) error {
	a, err := jobAccount(ctx, w.cfg.Store, job.Args.AccountID)
	if err != nil {
		return err
	}
	if err := w.cfg.Tenants.Destroy(ctx, a); err != nil {
		w.cfg.Log.Warn("teardown failed; will retry", "account", a.Slug, "err", err)
		return err
	}
	w.cfg.Log.Info("tenant torn down", "account", a.Slug, "state", a.State)
	return nil
}

// SuspendWorker stops the tenant of a sold account the operator retired with a grace period
// (store.RequestRetire): the container goes, the data stays until RetireAfterGraceWorker.
type SuspendWorker struct {
	jobs.WorkerDefaults[jobs.SuspendAccountArgs]
	cfg WorkerConfig
}

// Work suspends the tenant of an account still waiting for its retirement. Suspend is
// idempotent, so retries are safe; an account retired at once meanwhile is left to its teardown.
func (w *SuspendWorker) Work(ctx context.Context, job *river.Job[jobs.SuspendAccountArgs]) error {
	a, err := jobAccount(ctx, w.cfg.Store, job.Args.AccountID)
	if err != nil {
		return err
	}
	log := w.cfg.Log.With("account", a.Slug, "tier", a.Tier)
	if a.State != pool.StateSuspended || a.RetireAt.IsZero() {
		log.Info("suspension skipped: the account is no longer waiting for its retirement", "state", a.State)
		return nil
	}
	if err := w.cfg.Tenants.Suspend(ctx, a); err != nil {
		log.Warn("suspending a retired tenant failed; will retry", "err", err)
		return err
	}
	log.Info("tenant stopped, data kept until its retirement", "destroy_after", a.RetireAt.Format(time.RFC3339))
	return nil
}

// RetireAfterGraceWorker retires — and so tears down, through DestroyWorker — a sold account the
// operator retired with a grace period, once the grace is over.
type RetireAfterGraceWorker struct {
	jobs.WorkerDefaults[jobs.RetireAccountArgs]
	cfg WorkerConfig
}

// Work retires the account if it is still suspended for the retirement this job was scheduled
// for; otherwise (retired at once meanwhile) it does nothing.
func (w *RetireAfterGraceWorker) Work(ctx context.Context, job *river.Job[jobs.RetireAccountArgs]) error {
	a, err := jobAccount(ctx, w.cfg.Store, job.Args.AccountID)
	if err != nil {
		return err
	}
	if a.State != pool.StateSuspended || a.RetireAt.UnixMilli() != job.Args.RetireAt {
		return nil
	}
	if _, err := w.cfg.Store.Retire(ctx, a.ID); err != nil && !errors.Is(err, pool.ErrIllegalTransition) {
		return err
	}
	w.cfg.Log.Info("grace period over: retired account's tenant is torn down", "account", a.Slug, "tier", a.Tier)
	return nil
}

// jobAccount loads a job's account; a job whose account does not exist is cancelled (retrying
// cannot make it appear).
func jobAccount(ctx context.Context, s Store, id int64) (pool.Account, error) {
	a, err := s.Get(ctx, id)
	if errors.Is(err, pool.ErrNotFound) {
		return a, river.JobCancel(err)
	}
	return a, err
}
