package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
)

// ProbeStore is what the prober needs from storage (package store implements it).
type ProbeStore interface {
	// ProbeTargets returns up to limit sold tenants (claimed or delivered, with a URL), the
	// least recently probed first.
	ProbeTargets(ctx context.Context, limit int) ([]pool.Account, error)
	// RecordProbe stores one probe's outcome and returns the failure streak (0 after a success)
	// and whether a success ended a streak or cleared a flag.
	RecordProbe(ctx context.Context, id int64, ok bool, detail string) (failures int, recovered bool, err error)
	// Flag marks the account for the operator, once: false when it already was.
	Flag(ctx context.Context, id int64, reason string) (bool, error)
	AddEvent(ctx context.Context, id int64, kind pool.EventKind, detail string) error
	Get(ctx context.Context, id int64) (pool.Account, error)
}

// ProberConfig configures a Prober.
type ProberConfig struct {
	Store ProbeStore
	// Check probes one tenant's health (GET <url>/health_check, nil when ok).
	Check func(ctx context.Context, url string) error
	// Tenants re-applies a failing tenant's stack (Reapply).
	Tenants pool.Tenants
	// Threshold is how many consecutive failed probes trigger the re-apply (default 3); the
	// account is flagged at 2×Threshold, or at once when the re-apply fails.
	Threshold int
	// Concurrency bounds the probes and re-applies running at once in this process, across
	// overlapping passes (default 8).
	Concurrency int
	// Timeout bounds one probe (default 10s).
	Timeout time.Duration
	// Limit bounds the tenants one pass probes, least recently probed first (default 10000).
	Limit int
	// Alert, if set, tells the operator about a newly flagged account (e.g. enqueues an
	// operator_alert e-mail). It is called once per flag, after the flag is stored; its error
	// is logged, not retried, so it should hand over to something durable. Nil: log and metric
	// only.
	Alert func(ctx context.Context, a pool.Account, f pool.FlagNotice) error
	// Observe, if set, is told about every event this process records (metrics).
	Observe func(a pool.Account, kind pool.EventKind)
	// Leader reports whether this process may probe (Run only); nil means always. Share the
	// reconciler's leadership so that replicas do not re-apply the same tenant twice.
	Leader func(ctx context.Context) (bool, error)
	// Schedule is the robfig/cron schedule of passes (Run; default every minute).
	Schedule string
	Clock    quartz.Clock
	Log      *slog.Logger
}

// ProbeReport counts what one pass did.
type ProbeReport struct {
	Targets       int // tenants listed
	Skipped       int // still being probed or re-applied by an earlier pass
	Probed        int
	Failed        int // probes that failed
	Reapplied     int
	ReapplyFailed int
	Flagged       int // newly flagged
	Recovered     int
}

// Prober probes every sold tenant's health on a schedule, re-applies the stack of a tenant that
// keeps failing and flags it for the operator when that does not help. A tenant is never probed
// twice at once: a probe or re-apply still running from an earlier pass makes later passes skip
// the tenant.
type Prober struct {
	cfg   ProberConfig
	slots chan struct{} // process-wide bound on running probes and re-applies
	loop  *Loop

	mu       sync.Mutex
	inFlight map[int64]bool
}

// NewProber validates the configuration and returns a Prober.
func NewProber(cfg ProberConfig) (*Prober, error) {
	if cfg.Store == nil || cfg.Check == nil || cfg.Tenants == nil {
		return nil, errors.New("prober: store, check and tenants are required")
	}
	if cfg.Threshold <= 0 {
		cfg.Threshold = 3
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Limit <= 0 {
		cfg.Limit = 10000
	}
	if cfg.Clock == nil {
		cfg.Clock = quartz.NewReal()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Schedule == "" {
		cfg.Schedule = "@every 1m"
	}
	loop, err := NewLoop("probe", cfg.Schedule, cfg.Clock)
	if err != nil {
		return nil, err
	}
	return &Prober{cfg: cfg, slots: make(chan struct{}, cfg.Concurrency), loop: loop, inFlight: map[int64]bool{}}, nil
}

// pass is one probing pass: its probes run on after dispatch returns.
type pass struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	rep  ProbeReport
	errs []error
}

func (ps *pass) add(f func(*ProbeReport), err error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if f != nil {
		f(&ps.rep)
	}
	if err != nil {
		ps.errs = append(ps.errs, err)
	}
}

func (ps *pass) wait() (ProbeReport, error) {
	ps.wg.Wait()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.rep, errors.Join(ps.errs...)
}

// RunOnce runs one pass and waits for its probes (and re-applies). Unhealthy tenants are not
// errors; storage errors are, joined.
func (p *Prober) RunOnce(ctx context.Context) (ProbeReport, error) {
	ps, err := p.dispatch(ctx)
	if err != nil {
		return ProbeReport{}, err
	}
	return ps.wait()
}

// dispatch lists the targets and starts a probe for each one not in flight as soon as a slot is
// free; it returns once every probe has started.
func (p *Prober) dispatch(ctx context.Context) (*pass, error) {
	targets, err := p.cfg.Store.ProbeTargets(ctx, p.cfg.Limit)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	ps := &pass{rep: ProbeReport{Targets: len(targets)}}
	for _, a := range targets {
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return ps, nil // the probes already started end with ctx
		}
		if !p.claim(a.ID) {
			<-p.slots
			ps.add(func(r *ProbeReport) { r.Skipped++ }, nil)
			continue
		}
		ps.wg.Go(func() {
			defer func() { <-p.slots }()
			defer p.release(a.ID)
			ps.add(nil, p.probe(ctx, ps, a))
		})
	}
	return ps, nil
}

func (p *Prober) claim(id int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inFlight[id] {
		return false
	}
	p.inFlight[id] = true
	return true
}

func (p *Prober) release(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.inFlight, id)
}

// probe checks one tenant and acts on the outcome.
func (p *Prober) probe(ctx context.Context, ps *pass, a pool.Account) error {
	cctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	checkErr := p.cfg.Check(cctx, a.URL)
	cancel()
	if ctx.Err() != nil {
		return nil // shutdown: this probe says nothing about the tenant
	}
	detail := ""
	if checkErr != nil {
		detail = checkErr.Error()
	}
	failures, recovered, err := p.cfg.Store.RecordProbe(ctx, a.ID, checkErr == nil, detail)
	if err != nil {
		return fmt.Errorf("probe %s: %w", a.Slug, err)
	}
	log := p.cfg.Log.With("account", a.Slug, "tier", a.Tier)
	ps.add(func(r *ProbeReport) {
		r.Probed++
		if checkErr != nil {
			r.Failed++
		}
		if recovered {
			r.Recovered++
		}
	}, nil)
	switch {
	case recovered:
		log.Info("tenant healthy again")
		p.observe(a, pool.EventRecovered)
	case failures == 1:
		log.Warn("tenant health probe failed", "err", detail)
		p.observe(a, pool.EventProbeFailed)
	}

	switch pool.DecideProbe(checkErr == nil, failures, p.cfg.Threshold) {
	case pool.ProbeReapply:
		return p.reapply(ctx, ps, log, a, failures, detail)
	case pool.ProbeFlag:
		return p.flag(ctx, ps, log, a, failures, detail,
			fmt.Sprintf("%d consecutive failed health probes, still failing after a re-apply: %s", failures, pool.Describe(checkErr)))
	}
	return nil
}

// reapply re-applies the tenant's stack; a failed re-apply flags the account at once (waiting
// for more failed probes would not change anything).
func (p *Prober) reapply(ctx context.Context, ps *pass, log *slog.Logger, a pool.Account, failures int, detail string) error {
	// Re-read: the account may have been suspended or retired since it was listed, and
	// re-applying a stale one would bring a stopped tenant back.
	cur, err := p.cfg.Store.Get(ctx, a.ID)
	if err != nil {
		return fmt.Errorf("reapply %s: %w", a.Slug, err)
	}
	if cur.State != pool.StateClaimed && cur.State != pool.StateDelivered {
		log.Info("re-apply skipped: the account is no longer sold", "state", cur.State)
		return nil
	}
	log.Warn("re-applying the tenant's stack after failed health probes", "failures", failures, "err", detail)
	start := p.cfg.Clock.Now()
	rerr := p.cfg.Tenants.Reapply(ctx, cur)
	if ctx.Err() != nil {
		return nil // shutdown: the next streak decides again
	}
	took := p.cfg.Clock.Since(start).Round(time.Millisecond)
	if errors.Is(rerr, pool.ErrNotSold) {
		// Suspended or retired while it waited for the tenant's lock: nothing to repair, and
		// nothing for the operator.
		log.Info("re-apply skipped: the account is no longer sold", "err", rerr)
		return nil
	}
	if rerr == nil {
		log.Info("tenant stack re-applied and healthy", "took", took)
		ps.add(func(r *ProbeReport) { r.Reapplied++ }, nil)
		p.observe(cur, pool.EventReapplied)
		return p.event(ctx, cur, pool.EventReapplied, fmt.Sprintf("after %d failed probes; healthy after %s", failures, took))
	}
	ps.add(func(r *ProbeReport) { r.ReapplyFailed++ }, nil)
	p.observe(cur, pool.EventReapplyFailed)
	if err := p.event(ctx, cur, pool.EventReapplyFailed, rerr.Error()); err != nil {
		return err
	}
	return p.flag(ctx, ps, log, cur, failures, rerr.Error(),
		fmt.Sprintf("%d consecutive failed health probes and the re-apply failed: %s", failures, pool.Describe(rerr)))
}

// flag flags the account for the operator. reason is what leaves the daemon (the stored flag
// and the alert e-mail): it is built with pool.Describe, never from a tenant's words, since a
// hostile tenant controls its health check's body and its Langflow's error details. detail,
// the full error, goes to the log only.
func (p *Prober) flag(ctx context.Context, ps *pass, log *slog.Logger, a pool.Account, failures int, detail, reason string) error {
	newly, err := p.cfg.Store.Flag(ctx, a.ID, reason)
	if err != nil || !newly {
		return err
	}
	log.Error("tenant flagged for the operator", "reason", reason, "err", detail, "url", a.URL)
	ps.add(func(r *ProbeReport) { r.Flagged++ }, nil)
	p.observe(a, pool.EventFlagged)
	if p.cfg.Alert != nil {
		if err := p.cfg.Alert(ctx, a, pool.FlagNotice{Failures: failures, Reason: reason, At: p.cfg.Clock.Now()}); err != nil {
			log.Error("operator alert failed", "err", err)
		}
	}
	return nil
}

func (p *Prober) event(ctx context.Context, a pool.Account, kind pool.EventKind, detail string) error {
	if err := p.cfg.Store.AddEvent(ctx, a.ID, kind, detail); err != nil {
		return fmt.Errorf("probe %s: %w", a.Slug, err)
	}
	return nil
}

func (p *Prober) observe(a pool.Account, kind pool.EventKind) {
	if p.cfg.Observe != nil {
		p.cfg.Observe(a, kind)
	}
}

// Trigger asks for a pass as soon as possible; it never blocks.
func (p *Prober) Trigger() { p.loop.Trigger() }

// Run probes on the schedule until ctx ends, then waits for the probes in flight. Passes
// overlap: a pass returns to the schedule once its probes have started, so one slow re-apply
// does not delay the probing of every other tenant; the tenant it holds is skipped meanwhile.
// Ticks that come while a pass is still starting its probes (every slot busy) are coalesced.
func (p *Prober) Run(ctx context.Context) error {
	var passes sync.WaitGroup
	defer passes.Wait()
	p.loop.Run(ctx, func(ctx context.Context) {
		if p.cfg.Leader != nil {
			ok, err := p.cfg.Leader(ctx)
			if err != nil {
				p.cfg.Log.Error("probe leadership", "err", err)
				return
			}
			if !ok {
				return
			}
		}
		ps, err := p.dispatch(ctx)
		if err != nil {
			if ctx.Err() == nil {
				p.cfg.Log.Error("probe", "err", err)
			}
			return
		}
		passes.Go(func() {
			rep, err := ps.wait()
			if err != nil && ctx.Err() == nil {
				p.cfg.Log.Error("probe", "err", err)
			}
			if rep.Failed+rep.Flagged+rep.Recovered+rep.Reapplied+rep.ReapplyFailed > 0 {
				p.cfg.Log.Info("probe pass", "targets", rep.Targets, "probed", rep.Probed, "failed", rep.Failed,
					"skipped", rep.Skipped, "reapplied", rep.Reapplied, "reapply_failed", rep.ReapplyFailed,
					"flagged", rep.Flagged, "recovered", rep.Recovered)
			}
		})
	})
	return nil
}
