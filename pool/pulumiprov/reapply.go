package pulumiprov

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
)

// Reapply repairs a sold tenant that keeps failing its health probe: it refreshes the tenant's
// stack, so the state learns that the container died or was removed (the Docker provider drops
// a container that must run but does not), then runs the usual update with the account's spec
// and a new restart token, which re-creates the container — also one that runs but hangs — on
// the same host and data volume, with the image the stack last ran (a sold tenant changes image
// only through a rolling upgrade), and waits until the tenant is healthy. The customer login is
// not touched.
//
// Reapply never creates a stack: a tenant without one (never provisioned, or destroyed) is an
// error wrapping pool.ErrNotFound. Only a sold account (claimed or delivered) is re-applied:
// re-applying would start a suspended tenant and resurrect a retired one. That is checked under
// the tenant's lock, where nothing else acts on it: the account is read again from the store
// (Config.Account), and a stack whose last update suspended the tenant is refused even before
// the store says so (a suspension writes the stack first). Either refusal is permanent and
// wraps ErrNotSold.
func (p *Provisioner) Reapply(ctx context.Context, a pool.Account) error {
	if err := sold(a); err != nil {
		return err
	}
	t, err := p.cfg.Tiers.Get(a.Tier)
	if err != nil {
		return pool.Permanent(fmt.Errorf("reapply %s: %w", a.Slug, err))
	}
	defer p.lockSlug(a.Slug)()
	if p.cfg.Account != nil {
		cur, err := p.cfg.Account(ctx, a.ID)
		if err != nil {
			return fmt.Errorf("reapply %s: %w", a.Slug, err)
		}
		if err := sold(cur); err != nil {
			return err
		}
	}
	log := p.cfg.Log.With("account", a.Slug, "tier", t.Name)
	sec := append(scrubber{a.OperatorPassword, a.OperatorBootstrap, a.SecretKey, a.CustomerPassword}, p.scrub...)

	notSuspended := func(cfg auto.ConfigMap) error {
		if cfg[ConfigSuspended].Value == "true" {
			return pool.Permanent(fmt.Errorf("reapply %s: %w: its stack's last update suspended it", a.Slug, ErrNotSold))
		}
		return nil
	}
	if err := p.refresh(ctx, log, sec, a.Slug, nil, notSuspended); err != nil {
		if pool.IsPermanent(err) && errors.Is(err, ErrNotSold) {
			return err
		}
		return fmt.Errorf("reapply %s: %w", a.Slug, err)
	}
	url, _, err := p.up(ctx, log, sec, a, t, upMode{restart: true, keepImage: true})
	if err != nil {
		return fmt.Errorf("reapply %s: %w", a.Slug, err)
	}
	if err := p.cfg.Gate.WaitHealthy(ctx, url, p.cfg.HealthTimeout); err != nil {
		return fmt.Errorf("reapply %s: %w", a.Slug, err)
	}
	log.Info("stack re-applied; tenant healthy", "stack", StackName(a.Slug))
	return nil
}

// sold refuses an account that is not sold (claimed or delivered) any more.
func sold(a pool.Account) error {
	if a.State != pool.StateClaimed && a.State != pool.StateDelivered {
		return pool.Permanent(fmt.Errorf("reapply %s: %w: the account is %s", a.Slug, ErrNotSold, a.State))
	}
	return nil
}

// refresh brings the existing stack's state in line with what really runs; the engine's progress
// goes to out when it is not nil. check, when set, sees the stack's configuration first and may
// refuse. An interrupted update's leftovers are recovered first. The caller holds the slug's
// lock.
func (p *Provisioner) refresh(ctx context.Context, log *slog.Logger, sec scrubber, slug string, out io.Writer, check func(auto.ConfigMap) error) error {
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
	if check != nil {
		cfg, err := st.GetAllConfig(ctx)
		if err != nil {
			return classify(ctx, op{name: "read config", stack: name, err: err, stderr: sec.scrub(err.Error()), home: p.home})
		}
		if err := check(cfg); err != nil {
			return err
		}
	}
	host, err := p.stackHost(ctx, st, "")
	if err != nil {
		return err
	}
	if err := p.recoverStack(ctx, log, sec, st, slug, host); err != nil {
		return err
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
		p.staleByMessage(ctx, log, st, err)
		return classify(ctx, op{name: "refresh", stack: name, err: err, diagnostics: diag, stderr: sec.scrub(stderr.String()), home: p.home})
	}
	return nil
}

// Reimage is the step of a rolling upgrade, and of its rollback: like Reapply it refreshes the
// sold tenant's existing stack and re-creates its container with a new restart token — on the
// same host and the same data volume, whose name the spec derives from the slug — but with
// image instead of the configured one. Then it waits for the health gate and logs in as the
// operator with the daemon's password: that password was set through Langflow's API and lives
// only in the tenant's database on the volume, so the login proves the data survived the new
// image. It returns the generation the tenant now runs.
func (p *Provisioner) Reimage(ctx context.Context, a pool.Account, image string) (string, error) {
	if err := platform.ValidatePinnedImage(image); err != nil {
		return "", pool.Permanent(fmt.Errorf("reimage %s: %w", a.Slug, err))
	}
	if err := sold(a); err != nil {
		return "", err
	}
	t, err := p.cfg.Tiers.Get(a.Tier)
	if err != nil {
		return "", pool.Permanent(fmt.Errorf("reimage %s: %w", a.Slug, err))
	}
	defer p.lockSlug(a.Slug)()
	if p.cfg.Account != nil {
		cur, err := p.cfg.Account(ctx, a.ID)
		if err != nil {
			return "", fmt.Errorf("reimage %s: %w", a.Slug, err)
		}
		if err := sold(cur); err != nil {
			return "", err
		}
	}
	log := p.cfg.Log.With("account", a.Slug, "tier", t.Name, "image", image)
	sec := append(scrubber{a.OperatorPassword, a.OperatorBootstrap, a.SecretKey, a.CustomerPassword}, p.scrub...)
	notSuspended := func(cfg auto.ConfigMap) error {
		if cfg[ConfigSuspended].Value == "true" {
			return pool.Permanent(fmt.Errorf("reimage %s: %w: its stack's last update suspended it", a.Slug, ErrNotSold))
		}
		return nil
	}
	if err := p.refresh(ctx, log, sec, a.Slug, nil, notSuspended); err != nil {
		if pool.IsPermanent(err) && errors.Is(err, ErrNotSold) {
			return "", err
		}
		return "", fmt.Errorf("reimage %s: %w", a.Slug, err)
	}
	url, _, err := p.up(ctx, log, sec, a, t, upMode{restart: true, image: image})
	if err != nil {
		return "", fmt.Errorf("reimage %s: %w", a.Slug, err)
	}
	if err := p.cfg.Gate.WaitHealthy(ctx, url, p.cfg.HealthTimeout); err != nil {
		return "", fmt.Errorf("reimage %s: health: %w", a.Slug, err)
	}
	c, err := p.cfg.Gate.Client(url)
	if err != nil {
		return "", fmt.Errorf("reimage %s: %w", a.Slug, err)
	}
	if _, err := c.Login(ctx, a.OperatorUser, a.OperatorPassword); err != nil {
		return "", fmt.Errorf("reimage %s: login check: %w", a.Slug, err)
	}
	gen := pool.Generation(p.cfg.Revision, image, t)
	log.Info("stack re-applied with another image; tenant healthy, operator login proven", "stack", StackName(a.Slug), "generation", gen)
	return gen, nil
}

// Image is the image the tenant's stack last ran (its configuration, written by every update):
// what a rolling upgrade rolls the tenant back to. A tenant without a stack is an error wrapping
// pool.ErrNotFound; a stack from before the image was recorded answers the configured image.
func (p *Provisioner) Image(ctx context.Context, a pool.Account) (string, error) {
	defer p.lockSlug(a.Slug)()
	release, err := p.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	name := StackName(a.Slug)
	opts, err := p.workspaceOptions(a.Slug)
	if err != nil {
		return "", err
	}
	sec := append(scrubber{a.OperatorPassword, a.OperatorBootstrap, a.SecretKey, a.CustomerPassword}, p.scrub...)
	st, err := auto.SelectStackInlineSource(ctx, name, p.cfg.Project, func(*pulumi.Context) error { return nil }, opts...)
	if err != nil {
		if auto.IsSelectStack404Error(err) {
			return "", p.noStack(a.Slug)
		}
		return "", classify(ctx, op{name: "select stack", stack: name, err: err, stderr: sec.scrub(err.Error()), home: p.home})
	}
	cfg, err := st.GetAllConfig(ctx)
	if err != nil {
		return "", classify(ctx, op{name: "read config", stack: name, err: err, stderr: sec.scrub(err.Error()), home: p.home})
	}
	if img := cfg[ConfigImage].Value; img != "" {
		return img, nil
	}
	return p.cfg.Image, nil
}
