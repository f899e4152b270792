// Package pooltest provides a pool.Tenants double for tests of the runtime, the orders and the daemon:
// it records every call, can be told to fail or block per account, and never touches real
// infrastructure. (The Pulumi provisioner is tested against the real engine in its own package.)
package pooltest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
)

// Provisioner is a pool.Tenants double. The zero value provisions everything at once.
type Provisioner struct {
	mu sync.Mutex
	// Fail, when set, decides the error of a Provision call (nil = succeed).
	Fail func(a pool.Account, attempt int) error
	// Block, when set, is waited on by every Provision call (or until ctx ends).
	Block chan struct{}
	// Started receives the slug of every Provision call as it starts (if set; never blocks).
	Started chan string
	// ReapplyFail, when set, decides the error of a Reapply call (attempt counts from 1 per slug).
	ReapplyFail func(a pool.Account, attempt int) error
	// ReimageFail, when set, decides the error of a Reimage call (attempt counts from 1 per
	// slug, rollbacks included).
	ReimageFail func(a pool.Account, image string, attempt int) error
	// Tiers are the tiers Reimage computes generations with (nil: pool.DefaultTiers), as
	// Build computes them for the tier it is given.
	Tiers pool.Tiers
	// ReimageBlock, when set, is waited on by every Reimage call (or until ctx ends).
	ReimageBlock chan struct{}
	// ReimageStarted receives the slug of every Reimage call as it starts (if set; never blocks).
	ReimageStarted chan string
	image          string // SetImage: what Provision builds ("" = generation "test")
	attempts       map[string]int
	provisioned    map[string]int
	destroyed      map[string]int
	suspended      map[string]int
	resumed        map[string]int
	rotated        map[string]int
	reapplied      map[string]int
	reimaged       map[string]int
	images         map[string]string // slug → the image its tenant runs ("" = SetImage's at provisioning)
	inFlight       int               // Reimage calls running now
	maxInFlight    int               // the most Reimage calls that ran together
}

var _ pool.Tenants = (*Provisioner)(nil)

// Provision implements pool.Tenants.
func (p *Provisioner) Provision(ctx context.Context, a pool.Account, t pool.Tier) (pool.Provisioned, error) {
	p.mu.Lock()
	p.init()
	p.attempts[a.Slug]++
	attempt := p.attempts[a.Slug]
	fail, block, started := p.Fail, p.Block, p.Started
	p.mu.Unlock()
	if started != nil {
		select {
		case started <- a.Slug:
		default:
		}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return pool.Provisioned{}, ctx.Err()
		}
	}
	if fail != nil {
		if err := fail(a, attempt); err != nil {
			return pool.Provisioned{}, err
		}
	}
	if a.Tier != t.Name {
		return pool.Provisioned{}, pool.Permanent(errors.New("tier mismatch"))
	}
	p.mu.Lock()
	p.provisioned[a.Slug]++
	p.images[a.Slug] = p.image
	p.mu.Unlock()
	return pool.Provisioned{
		Host:           "host-1",
		URL:            fmt.Sprintf("https://%s.example.test", a.Slug),
		CustomerUserID: "user-" + a.Slug,
		Generation:     p.Build(t).Generation,
	}, nil
}

// SetImage sets the image Provision builds from now on (a new generation), as an operator who
// changes POOL_LANGFLOW_IMAGE does.
func (p *Provisioner) SetImage(image string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.image = image
}

// Build implements pool.Tenants: generation "test" until SetImage, then pool.Generation of
// program "test", the image and the tier.
func (p *Provisioner) Build(t pool.Tier) pool.Build {
	p.mu.Lock()
	image := p.image
	p.mu.Unlock()
	return build(image, t)
}

func build(image string, t pool.Tier) pool.Build {
	if image == "" {
		return pool.Build{Generation: "test", Program: "test"}
	}
	return pool.Build{Generation: pool.Generation("test", image, t), Program: "test", Image: image}
}

// Destroy implements pool.Tenants.
func (p *Provisioner) Destroy(ctx context.Context, a pool.Account) error {
	p.record(&p.destroyed, a.Slug)
	return nil
}

// Suspend records a suspension (the daemon's orders need a provisioner that can stop tenants).
func (p *Provisioner) Suspend(ctx context.Context, a pool.Account) error {
	p.record(&p.suspended, a.Slug)
	return nil
}

// Resume records a resumption.
func (p *Provisioner) Resume(ctx context.Context, a pool.Account) error {
	p.record(&p.resumed, a.Slug)
	return nil
}

// Reapply records a re-apply of the tenant's stack (the health prober's repair); ReapplyFail
// decides its error.
func (p *Provisioner) Reapply(ctx context.Context, a pool.Account) error {
	attempt := p.record(&p.reapplied, a.Slug)
	p.mu.Lock()
	fail := p.ReapplyFail
	p.mu.Unlock()
	if fail != nil {
		return fail(a, attempt)
	}
	return nil
}

// Reimage re-applies the fake tenant with image (ReimageFail decides its error; ReimageBlock
// holds it) and returns the generation of program "test", the image and the account's tier
// (of Tiers). A failed call leaves the tenant's image as it was.
func (p *Provisioner) Reimage(ctx context.Context, a pool.Account, image string) (string, error) {
	attempt := p.record(&p.reimaged, a.Slug)
	p.mu.Lock()
	fail, block, started := p.ReimageFail, p.ReimageBlock, p.ReimageStarted
	p.inFlight++
	p.maxInFlight = max(p.maxInFlight, p.inFlight)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inFlight--
		p.mu.Unlock()
	}()
	if started != nil {
		select {
		case started <- a.Slug:
		default:
		}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if image == "" {
		return "", pool.Permanent(errors.New("reimage: no image"))
	}
	if fail != nil {
		if err := fail(a, image, attempt); err != nil {
			return "", err
		}
	}
	tiers := p.Tiers
	if tiers == nil {
		tiers, _ = pool.NewTiers(pool.DefaultTiers())
	}
	t, err := tiers.Get(a.Tier)
	if err != nil {
		return "", pool.Permanent(err)
	}
	p.mu.Lock()
	p.images[a.Slug] = image
	p.mu.Unlock()
	return build(image, t).Generation, nil
}

// Image is the image the fake tenant runs: the last successful Reimage's, else SetImage's when
// it was provisioned, else SetImageOf's.
func (p *Provisioner) Image(ctx context.Context, a pool.Account) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	return p.images[a.Slug], nil
}

// SetImageOf sets the image a fake tenant runs (tests whose accounts were made in the store
// directly).
func (p *Provisioner) SetImageOf(slug, image string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	p.images[slug] = image
}

// Reimaged returns how many times a slug was re-imaged (failed calls and rollbacks included).
func (p *Provisioner) Reimaged(slug string) int { return p.count(&p.reimaged, slug) }

// MaxReimaging is the most Reimage calls that ran at the same time.
func (p *Provisioner) MaxReimaging() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxInFlight
}

// Reapplied returns how many times a slug's stack was re-applied (failed calls included).
func (p *Provisioner) Reapplied(slug string) int { return p.count(&p.reapplied, slug) }

// RotateCustomer records a password rotation (the fake tenants have no Langflow to rotate at).
func (p *Provisioner) RotateCustomer(ctx context.Context, a pool.Account, password string) error {
	p.record(&p.rotated, a.Slug)
	return nil
}

// Rotated returns how many times a slug's customer password was rotated.
func (p *Provisioner) Rotated(slug string) int { return p.count(&p.rotated, slug) }

// Suspended returns how many times a slug was suspended.
func (p *Provisioner) Suspended(slug string) int { return p.count(&p.suspended, slug) }

// record counts one call for slug and returns the new count.
func (p *Provisioner) record(m *map[string]int, slug string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	(*m)[slug]++
	return (*m)[slug]
}

// count reads one counter under the lock (the maps are made lazily, under it too).
func (p *Provisioner) count(m *map[string]int, slug string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return (*m)[slug]
}

func (p *Provisioner) init() {
	if p.attempts == nil {
		p.attempts, p.provisioned, p.destroyed = map[string]int{}, map[string]int{}, map[string]int{}
		p.suspended, p.resumed, p.rotated = map[string]int{}, map[string]int{}, map[string]int{}
		p.reapplied, p.reimaged, p.images = map[string]int{}, map[string]int{}, map[string]string{}
	}
}

// Attempts returns how many times Provision was called for a slug.
func (p *Provisioner) Attempts(slug string) int { return p.count(&p.attempts, slug) }

// Provisioned returns how many times a slug was provisioned successfully.
func (p *Provisioner) Provisioned(slug string) int { return p.count(&p.provisioned, slug) }

// Destroyed returns how many times a slug was torn down.
func (p *Provisioner) Destroyed(slug string) int { return p.count(&p.destroyed, slug) }

// PulumiCLI is the Pulumi CLI `make pulumi` builds (TENANTPOOL_PULUMI, else its cache path).
// Without it the test skips, unless POOL_TEST_REQUIRE_ALL=1 (CI), where it fails; -short skips
// it too (the real engine is slow).
func PulumiCLI(t testing.TB) string {
	t.Helper()
	require := os.Getenv("POOL_TEST_REQUIRE_ALL") == "1"
	if testing.Short() && !require {
		t.Skip("real Pulumi engine: skipped in -short mode")
	}
	path := os.Getenv("TENANTPOOL_PULUMI")
	if path == "" {
		home, _ := os.UserHomeDir()
		path = filepath.Join(home, ".cache", "tenantpool", "pulumi-v3.274.1", "pulumi")
	}
	if _, err := os.Stat(path); err != nil {
		if require {
			t.Fatalf("Pulumi CLI not found at %s (run `make pulumi`): %v", path, err)
		}
		t.Skipf("Pulumi CLI not found at %s (run `make pulumi`)", path)
	}
	return path
}
