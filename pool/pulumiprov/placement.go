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
)

// ErrNoCapacity: every host is full. Retryable: capacity frees up when tenants are retired.
var ErrNoCapacity = errors.New("no docker host has free capacity")

// placer remembers where this process put tenants, so that placements still provisioning (not
// yet in the store) count against their host.
type placer struct {
	mu     sync.Mutex
	placed map[string]string // slug → host
}

// place picks slug's host: prefer (where an earlier attempt put it) if it is still a host, else
// the host with the most free capacity (the first such, in platform order). Counting and
// reserving happen under one lock, so parallel placements never over-fill a host. stored is
// slug → host from the store.
func (pl *placer) place(slug, prefer string, hosts []platform.Host, stored map[string]string) (platform.Host, error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.placed == nil {
		pl.placed = map[string]string{}
	}
	if prefer == "" {
		prefer = pl.placed[slug]
	}
	if i := slices.IndexFunc(hosts, func(h platform.Host) bool { return h.Name == prefer }); prefer != "" && i >= 0 {
		pl.placed[slug] = prefer
		return hosts[i], nil
	}
	used := map[string]int{}
	for s, h := range stored {
		if _, mine := pl.placed[s]; !mine && s != slug {
			used[h]++
		}
	}
	for s, h := range pl.placed {
		if s != slug {
			used[h]++
		}
	}
	best, free := -1, 0
	for i, h := range hosts {
		if f := h.Capacity - used[h.Name]; f > free {
			best, free = i, f
		}
	}
	if best < 0 {
		return platform.Host{}, fmt.Errorf("place %s: %w (%d hosts)", slug, ErrNoCapacity, len(hosts))
	}
	pl.placed[slug] = hosts[best].Name
	return hosts[best], nil
}

// release forgets slug's placement (its tenant is destroyed).
func (pl *placer) release(slug string) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	delete(pl.placed, slug)
}

func validateHosts(hs []platform.Host) error {
	var errs []error
	seen := map[string]bool{}
	for _, h := range hs {
		errs = append(errs, h.Validate())
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
	stdout, stderr, _, err := p.cli.Run(ctx, p.refDir, nil, nil, nil, p.envList(),
		"stack", "output", "--json", "--stack", p.cfg.PlatformStack)
	if err != nil {
		return "", nil, fmt.Errorf("read platform stack %s: %s: %w", p.cfg.PlatformStack, deploy.ErrorLines(p.scrub.scrub(stderr)), err)
	}
	var outs map[string]any
	if err := json.Unmarshal([]byte(stdout), &outs); err != nil {
		return "", nil, fmt.Errorf("read platform stack %s: %w", p.cfg.PlatformStack, err)
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
