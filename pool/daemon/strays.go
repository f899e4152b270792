package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
	"github.com/axiestudio/tenantpool/pool/metrics"
	"github.com/axiestudio/tenantpool/pool/store"
)

// Stray pass defaults.
const (
	DefaultStrayInterval = 5 * time.Minute
	DefaultStrayGrace    = 10 * time.Minute
)

// strayPass compares what runs on the Docker hosts with the store, on the reconcile leader
// before a pass, at most once per interval: every container labelled tenantpool.managed=true
// with a slug is judged (dockerhost.Judge). It removes the certain strays — the slug's account
// is retired or failed, or no account has the slug and it is of this pool's prefix, and the
// container is older than the grace — and reports the rest that is not live (young strays,
// foreign slugs, containers of suspended accounts or on the wrong host) in the log and the
// metrics.
type strayPass struct {
	hosts           func(ctx context.Context) ([]platform.Host, error)
	store           *store.Store
	prefix          string
	grace, interval time.Duration
	metrics         *metrics.Metrics
	log             *slog.Logger

	last time.Time // the reconcile loop runs one tick at a time
}

func newStrayPass(cfg Config, s *store.Store, m *metrics.Metrics, log *slog.Logger) *strayPass {
	p := &strayPass{hosts: cfg.Hosts, store: s, prefix: cfg.Prefix, grace: cfg.StrayGrace, interval: cfg.StrayInterval,
		metrics: m, log: log.With("component", "strays")}
	if p.grace <= 0 {
		p.grace = DefaultStrayGrace
	}
	if p.interval <= 0 {
		p.interval = DefaultStrayInterval
	}
	return p
}

var verdicts = []string{string(dockerhost.Stray), string(dockerhost.Young), string(dockerhost.Foreign), string(dockerhost.Unexpected)}

// run sweeps the hosts if the last sweep is older than the interval.
func (p *strayPass) run(ctx context.Context) error {
	if p.hosts == nil {
		return nil
	}
	now := time.Now()
	if !p.last.IsZero() && now.Sub(p.last) < p.interval {
		return nil
	}
	p.last = now
	hosts, err := p.hosts(ctx)
	if err != nil {
		return fmt.Errorf("stray pass: hosts: %w", err)
	}
	rep, err := dockerhost.Sweep(ctx, dockerhost.SweepConfig{Hosts: hosts, Live: p.store.Placements, Account: p.store.GetBySlug,
		Prefix: p.prefix, Grace: p.grace, Now: now, Remove: true})
	found := map[string]int{}
	for _, f := range rep.Findings {
		found[string(f.Verdict)]++
		args := []any{"host", f.Host, "container", f.Container.Name, "account", f.Slug, "verdict", f.Verdict, "reason", f.Reason,
			"created", f.Container.Created.UTC().Format(time.RFC3339)}
		switch {
		case f.Removed:
			p.log.Warn("stray tenant container removed", args...)
		case f.Err != nil:
			p.log.Error("stray tenant container: removal failed", append(args, "err", f.Err)...)
		default:
			p.log.Warn("tenant container not accounted for", args...)
		}
	}
	p.metrics.ObserveStrays(found, verdicts, rep.Removed)
	if err == nil {
		p.log.Debug("stray pass", "hosts", len(hosts), "managed", rep.Managed, "findings", len(rep.Findings), "removed", rep.Removed)
	}
	return err
}
