package pulumiprov

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/axiestudio/tenantpool/infra/deploy"
	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
)

// ErrNoCapacity: every host is full. Retryable: capacity frees up when tenants are retired.
var ErrNoCapacity = pool.ErrNoCapacity

// place reserves a's host among hosts: through Config.Place (the store, atomic across replicas,
// the placement recorded on the account row) or, without one, this process's own placer. prefer
// is where an earlier attempt put the stack.
func (p *Provisioner) place(ctx context.Context, a pool.Account, prefer string, hosts []platform.Host) (platform.Host, error) {
	caps := make([]pool.HostCapacity, len(hosts))
	for i, h := range hosts {
		caps[i] = pool.HostCapacity{Name: h.Name, Capacity: h.Capacity}
	}
	var (
		name string
		err  error
	)
	if p.cfg.Place != nil {
		name, err = p.cfg.Place(ctx, a.ID, prefer, caps)
	} else {
		name, err = p.placer.place(a.Slug, prefer, caps)
	}
	if err != nil {
		return platform.Host{}, fmt.Errorf("place %s: %w", a.Slug, err)
	}
	i := slices.IndexFunc(hosts, func(h platform.Host) bool { return h.Name == name })
	if i < 0 {
		return platform.Host{}, fmt.Errorf("place %s: placed on %q, which is not a host", a.Slug, name)
	}
	return hosts[i], nil
}

// placer places tenants when no store does (Config.Place is nil: a provisioner on its own, as in
// tests): it remembers where this process put them, counting and reserving under one lock, so
// parallel placements in this process never over-fill a host.
type placer struct {
	mu     sync.Mutex
	placed map[string]string // slug → host
}

// place picks slug's host: prefer (where an earlier attempt put it) if it is still a host, else
// the host with the most free capacity (the first such, in platform order).
func (pl *placer) place(slug, prefer string, hosts []pool.HostCapacity) (string, error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.placed == nil {
		pl.placed = map[string]string{}
	}
	if prefer == "" {
		prefer = pl.placed[slug]
	}
	if prefer != "" && slices.ContainsFunc(hosts, func(h pool.HostCapacity) bool { return h.Name == prefer }) {
		pl.placed[slug] = prefer
		return prefer, nil
	}
	used := map[string]int{}
	for s, h := range pl.placed {
		if s != slug {
			used[h]++
		}
	}
	best, free := "", 0
	for _, h := range hosts {
		if f := h.Capacity - used[h.Name]; f > free {
			best, free = h.Name, f
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w (%d hosts)", ErrNoCapacity, len(hosts))
	}
	pl.placed[slug] = best
	return best, nil
}

// release forgets slug's placement (its tenant is destroyed).
func (pl *placer) release(slug string) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	delete(pl.placed, slug)
}

// validateHosts checks hosts from the platform stack's outputs or the configuration: each one
// valid, with only allowed ssh options (ValidateSSHOpts), and no name twice.
func validateHosts(hs []platform.Host) error {
	var errs []error
	seen := map[string]bool{}
	for _, h := range hs {
		errs = append(errs, h.Validate())
		if err := ValidateSSHOpts(h.SSHOpts); err != nil {
			errs = append(errs, fmt.Errorf("host %s: %w", h.Name, err))
		}
		if seen[h.Name] {
			errs = append(errs, fmt.Errorf("host %s listed twice", h.Name))
		}
		seen[h.Name] = true
	}
	if len(hs) == 0 {
		errs = append(errs, errors.New("no hosts"))
	}
	return errors.Join(errs...)
}

// platformOutputs reads the platform stack's domain and hosts outputs (neither is secret, so
// the platform's own secrets provider is not needed).
func (p *Provisioner) platformOutputs(ctx context.Context) (string, []platform.Host, error) {
	if p.cfg.PlatformStack == "" {
		return p.cfg.Domain, p.cfg.Hosts, nil
	}
	outs, err := p.stackOutputs(ctx)
	if err != nil {
		return "", nil, err
	}
	hosts, err := platform.DecodeHosts(outs[platform.OutputHosts])
	if err != nil {
		return "", nil, fmt.Errorf("platform stack %s: %w", p.cfg.PlatformStack, err)
	}
	if err := validateHosts(hosts); err != nil {
		return "", nil, fmt.Errorf("platform stack %s hosts: %w", p.cfg.PlatformStack, err)
	}
	domain, _ := outs[platform.OutputDomain].(string)
	if domain == "" {
		domain = p.cfg.Domain
	}
	return domain, hosts, nil
}

// stackOutputs reads the platform stack's outputs.
func (p *Provisioner) stackOutputs(ctx context.Context) (map[string]any, error) {
	stdout, stderr, _, err := p.cli.Run(ctx, p.refDir, nil, nil, nil, p.envList(),
		"stack", "output", "--json", "--stack", p.cfg.PlatformStack)
	if err != nil {
		return nil, fmt.Errorf("read platform stack %s: %s: %w", p.cfg.PlatformStack, deploy.ErrorLines(p.scrub.scrub(stderr)), err)
	}
	var outs map[string]any
	if err := json.Unmarshal([]byte(stdout), &outs); err != nil {
		return nil, fmt.Errorf("read platform stack %s: %w", p.cfg.PlatformStack, err)
	}
	return outs, nil
}

// Domains are the tenants' domain and the company's own (its site and shop; "" when unknown):
// the platform stack's outputs when there is a platform stack (a company domain it does not
// state is the configured one), else the configured ones.
func (p *Provisioner) Domains(ctx context.Context) (tenants, company string, err error) {
	if p.cfg.PlatformStack == "" {
		return p.cfg.Domain, p.cfg.CompanyDomain, nil
	}
	outs, err := p.stackOutputs(ctx)
	if err != nil {
		return "", "", err
	}
	tenants, _ = outs[platform.OutputDomain].(string)
	if tenants == "" {
		tenants = p.cfg.Domain
	}
	company, _ = outs[platform.OutputCompanyDomain].(string)
	if company == "" {
		company = p.cfg.CompanyDomain
	}
	return tenants, company, nil
}
