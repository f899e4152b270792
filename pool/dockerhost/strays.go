package dockerhost

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
)

// TenantLabels are the label filters of one tenant's containers and volumes.
func TenantLabels(slug string) []string {
	return []string{platform.ManagedLabel + "=true", platform.SlugLabel + "=" + slug}
}

// Verdict is the stray pass's judgement of one managed container.
type Verdict string

// The verdicts. Only Stray containers are removed; every other one but Live is reported.
const (
	// Live: the slug's account is alive (provisioning, ready, sold, reserved) on this host.
	Live Verdict = "live"
	// Stray: certainly nobody's: the slug's account is retired or failed, or the slug is one of
	// this pool's and has no account; and the container is older than the grace period.
	Stray Verdict = "stray"
	// Young: would be a stray, but is younger than the grace period (a teardown or a
	// provisioning may be at work on it).
	Young Verdict = "young"
	// Foreign: no account has the slug and it does not look like one of this pool's (another
	// prefix): reported, never removed.
	Foreign Verdict = "foreign"
	// Unexpected: the account is alive but should have no container here (suspended, or placed
	// on another host): reported for the operator, never removed.
	Unexpected Verdict = "unexpected"
)

// Judge decides about one container that carries the managed label and slug: a is the slug's
// account when known. prefix is the pool's slug prefix (an unknown slug counts as this pool's
// only when it is prefix followed by digits). Pure: the same inputs give the same verdict.
func Judge(c Container, host string, a pool.Account, known bool, prefix string, now time.Time, grace time.Duration) (Verdict, string) {
	old := now.Sub(c.Created) >= grace
	candidate := func(why string) (Verdict, string) {
		if !old {
			return Young, why + fmt.Sprintf(" (created %s ago, within the %s grace)", now.Sub(c.Created).Round(time.Second), grace)
		}
		return Stray, why
	}
	if !known {
		if !ownSlug(prefix, c.Labels[platform.SlugLabel]) {
			return Foreign, fmt.Sprintf("no account has slug %q, which is not of this pool's %q prefix", c.Labels[platform.SlugLabel], prefix)
		}
		return candidate("no account has this slug")
	}
	switch a.State {
	case pool.StateRetired, pool.StateFailed:
		return candidate(fmt.Sprintf("account %d is %s", a.ID, a.State))
	case pool.StateSuspended:
		return Unexpected, fmt.Sprintf("account %d is suspended: its tenant should have no container", a.ID)
	}
	if a.Host != "" && a.Host != host {
		return Unexpected, fmt.Sprintf("account %d (%s) runs on host %s, not here", a.ID, a.State, a.Host)
	}
	return Live, string(a.State)
}

var digits = regexp.MustCompile(`^[0-9]+$`)

func ownSlug(prefix, slug string) bool {
	rest, ok := strings.CutPrefix(slug, prefix)
	return ok && prefix != "" && digits.MatchString(rest)
}

// SweepConfig configures one stray pass.
type SweepConfig struct {
	Hosts []platform.Host
	// Dial reaches a host's engine (default Dial); the pass closes what it opens.
	Dial func(dockerURL string) (*Client, error)
	// Live reports slug → host of the accounts that hold a host and are neither failed nor
	// retired (the store's Placements): one read answers for most containers.
	Live func(ctx context.Context) (map[string]string, error)
	// Account returns the account of a slug, or an error matching pool.ErrNotFound.
	Account func(ctx context.Context, slug string) (pool.Account, error)
	// Prefix is the pool's slug prefix.
	Prefix string
	// Grace: strays younger than this are reported, not removed.
	Grace time.Duration
	Now   time.Time
	// Remove removes the strays; false only reports them.
	Remove bool
}

// Finding is one container the pass did not find live.
type Finding struct {
	Host      string
	Container Container
	Slug      string
	Verdict   Verdict
	Reason    string
	Removed   bool
	Err       error // a failed removal
}

// Report is what one pass saw.
type Report struct {
	Managed  int       // managed tenant containers on the hosts that answered
	Findings []Finding // every container that is not Live
	Removed  int
}

// Sweep compares the tenant containers of every host (label tenantpool.managed=true and a
// slug) with the accounts and removes the strays when cfg.Remove. A host that cannot be
// reached, or a removal that fails, is an error; the other hosts are still swept.
func Sweep(ctx context.Context, cfg SweepConfig) (Report, error) {
	var rep Report
	if cfg.Dial == nil {
		cfg.Dial = Dial
	}
	live, err := cfg.Live(ctx)
	if err != nil {
		return rep, fmt.Errorf("stray pass: %w", err)
	}
	var errs []error
	for _, h := range cfg.Hosts {
		if err := sweepHost(ctx, cfg, h, live, &rep); err != nil {
			errs = append(errs, fmt.Errorf("stray pass on host %s: %w", h.Name, err))
		}
	}
	return rep, errors.Join(errs...)
}

func sweepHost(ctx context.Context, cfg SweepConfig, h platform.Host, live map[string]string, rep *Report) error {
	c, err := cfg.Dial(h.DockerURL)
	if err != nil {
		return err
	}
	defer c.Close()
	cs, err := c.Containers(ctx, platform.ManagedLabel+"=true", platform.SlugLabel)
	if err != nil {
		return err
	}
	var errs []error
	for _, ct := range cs {
		rep.Managed++
		slug := ct.Labels[platform.SlugLabel]
		if where, ok := live[slug]; ok && where == h.Name {
			continue // the common case: a live account on this host, without another read
		}
		a, err := cfg.Account(ctx, slug)
		known := err == nil
		if err != nil && !errors.Is(err, pool.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		v, why := Judge(ct, h.Name, a, known, cfg.Prefix, cfg.Now, cfg.Grace)
		if v == Live {
			continue
		}
		f := Finding{Host: h.Name, Container: ct, Slug: slug, Verdict: v, Reason: why}
		if v == Stray && cfg.Remove {
			if f.Err = c.RemoveContainer(ctx, ct.ID); f.Err == nil {
				f.Removed = true
				rep.Removed++
			} else {
				errs = append(errs, f.Err)
			}
		}
		rep.Findings = append(rep.Findings, f)
	}
	return errors.Join(errs...)
}
