package pulumiprov

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/pool"
)

// Reapply repairs a sold tenant that keeps failing its health probe: it refreshes the tenant's
// stack, so the state learns that the container died or was removed (the Docker provider drops
// a container that must run but does not), then runs the usual update with the account's spec
// and a new restart token, which re-creates the container — also one that runs but hangs — on
// the same host and data volume, and waits until the tenant is healthy. The customer login is
// not touched.
//
// Reapply never creates a stack: a tenant without one (never provisioned, or destroyed) is an
// error wrapping pool.ErrNotFound. A suspended account is refused (re-applying would start it).
func (p *Provisioner) Reapply(ctx context.Context, a pool.Account) error {
	if a.State == pool.StateSuspended {
		return pool.Permanent(fmt.Errorf("reapply %s: the account is suspended", a.Slug))
	}
	t, err := p.cfg.Tiers.Get(a.Tier)
	if err != nil {
		return pool.Permanent(fmt.Errorf("reapply %s: %w", a.Slug, err))
	}
	defer p.lockSlug(a.Slug)()
	log := p.cfg.Log.With("account", a.Slug, "tier", t.Name)
	sec := append(scrubber{a.OperatorPassword, a.SecretKey, a.CustomerPassword}, p.scrub...)

	if err := p.refresh(ctx, log, sec, a.Slug, nil); err != nil {
		return fmt.Errorf("reapply %s: %w", a.Slug, err)
	}
	url, _, err := p.up(ctx, log, sec, a, t, upMode{restart: true})
	if err != nil {
		return fmt.Errorf("reapply %s: %w", a.Slug, err)
	}
	if err := p.cfg.Gate.WaitHealthy(ctx, url, p.cfg.HealthTimeout); err != nil {
		return fmt.Errorf("reapply %s: %w", a.Slug, err)
	}
	log.Info("stack re-applied; tenant healthy", "stack", StackName(a.Slug))
	return nil
}

// refresh brings the existing stack's state in line with what really runs; the engine's progress
// goes to out when it is not nil. The caller holds the slug's lock.
func (p *Provisioner) refresh(ctx context.Context, log *slog.Logger, sec scrubber, slug string, out io.Writer) error {
	release, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	name := StackName(slug)
	opts, err := p.workspaceOptions(slug)
	if err != nil {
		return err
	}
	st, err := auto.SelectStackInlineSource(ctx, name, p.cfg.Project, func(*pulumi.Context) error { return nil }, opts...)
	if err != nil {
		if auto.IsSelectStack404Error(err) {
			return p.noStack(slug)
		}
		return classify(ctx, op{name: "select stack", stack: name, err: err, stderr: sec.scrub(err.Error()), home: p.home})
	}
	ev := watchEvents(ctx, log, sec)
	var stderr bytes.Buffer
	progress := optrefresh.SuppressProgress()
	if out != nil {
		progress = optrefresh.ProgressStreams(out)
	}
	_, err = st.Refresh(ctx, optrefresh.RunProgram(false), optrefresh.EventStreams(ev.ch),
		optrefresh.ErrorProgressStreams(&stderr), progress)
	diag := ev.stop()
	if err != nil {
		if ctx.Err() != nil {
			p.cancel(ctx, log, st)
		}
		return classify(ctx, op{name: "refresh", stack: name, err: err, diagnostics: diag, stderr: sec.scrub(stderr.String()), home: p.home})
	}
	return nil
}
