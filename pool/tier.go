package pool

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Tier is one product tier: its pool targets (used by the planner) and what its tenants get
// (used by infra/tenant). It is the one definition of a tier shared by the daemon and infra.
type Tier struct {
	Name string `yaml:"name" json:"name"`

	// MinReady is how many ready accounts the pool keeps for the tier.
	MinReady int `yaml:"min_ready" json:"min_ready"`
	// MaxTotal caps the unsold inventory (provisioning + ready); ready accounts beyond it are
	// retired.
	MaxTotal int `yaml:"max_total" json:"max_total"`
	// MaxInFlight caps concurrent provisioning for the tier.
	MaxInFlight int `yaml:"max_in_flight" json:"max_in_flight"`

	// MemoryMB and CPUs are the container limits of one tenant.
	MemoryMB int     `yaml:"memory_mb" json:"memory_mb"`
	CPUs     float64 `yaml:"cpus" json:"cpus"`
	// CustomDomains is how many custom domains a tenant may attach (0 = subdomain only).
	CustomDomains int `yaml:"custom_domains" json:"custom_domains"`
	// Branding enables white-label branding.
	Branding bool `yaml:"branding" json:"branding"`
	// PriceID is the Stripe price that buys this tier (optional; older configs). Prefer Prices.
	PriceID string `yaml:"price_id" json:"price_id,omitempty"`
	// Prices are the Stripe recurring prices that buy this tier, by billing interval ("month",
	// "year"): the storefront sells them, and a paid price maps back to its tier.
	Prices map[string]string `yaml:"prices" json:"prices,omitempty"`
}

// Intervals are the billing intervals a tier may have a price for.
var Intervals = []string{"month", "year"}

// PriceIDs lists every Stripe price of the tier (Prices and PriceID), without duplicates.
func (t Tier) PriceIDs() []string {
	var ids []string
	for _, iv := range Intervals {
		if p := t.Prices[iv]; p != "" {
			ids = append(ids, p)
		}
	}
	if t.PriceID != "" && !slices.Contains(ids, t.PriceID) {
		ids = append(ids, t.PriceID)
	}
	return ids
}

// DefaultTiers are the business's defaults (design.md): basic, premium, enterprise.
func DefaultTiers() []Tier {
	return []Tier{
		{Name: "basic", MinReady: 3, MaxTotal: 20, MaxInFlight: 2, MemoryMB: 1024, CPUs: 1, CustomDomains: 0},
		{Name: "premium", MinReady: 2, MaxTotal: 10, MaxInFlight: 2, MemoryMB: 2048, CPUs: 1.5, CustomDomains: 1, Branding: true},
		{Name: "enterprise", MinReady: 1, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 4096, CPUs: 2, CustomDomains: 5, Branding: true},
	}
}

// Validate reports the first problem with a tier definition.
func (t Tier) Validate() error {
	switch {
	case !ValidLabel(t.Name):
		return fmt.Errorf("tier %q: name must be a lowercase DNS label", t.Name)
	case t.MinReady < 0:
		return fmt.Errorf("tier %s: min_ready %d must be ≥ 0", t.Name, t.MinReady)
	case t.MaxTotal < t.MinReady:
		return fmt.Errorf("tier %s: max_total %d must be ≥ min_ready %d", t.Name, t.MaxTotal, t.MinReady)
	case t.MaxInFlight < 1:
		return fmt.Errorf("tier %s: max_in_flight %d must be ≥ 1", t.Name, t.MaxInFlight)
	case t.MemoryMB < 256:
		return fmt.Errorf("tier %s: memory_mb %d must be ≥ 256 (Langflow needs it)", t.Name, t.MemoryMB)
	case t.CPUs <= 0:
		return fmt.Errorf("tier %s: cpus %g must be > 0", t.Name, t.CPUs)
	case t.CustomDomains < 0:
		return fmt.Errorf("tier %s: custom_domains %d must be ≥ 0", t.Name, t.CustomDomains)
	case t.PriceID != "" && !strings.HasPrefix(t.PriceID, "price_"):
		return fmt.Errorf("tier %s: price_id %q is not a Stripe price id (price_…)", t.Name, t.PriceID)
	}
	for iv, p := range t.Prices {
		if !slices.Contains(Intervals, iv) {
			return fmt.Errorf("tier %s: prices: unknown interval %q (known: %v)", t.Name, iv, Intervals)
		}
		if !strings.HasPrefix(p, "price_") {
			return fmt.Errorf("tier %s: prices.%s %q is not a Stripe price id (price_…)", t.Name, iv, p)
		}
	}
	return nil
}

// Tiers is a validated set of tiers, by name.
type Tiers map[string]Tier

// NewTiers validates every tier and rejects duplicates or an empty set.
func NewTiers(ts []Tier) (Tiers, error) {
	if len(ts) == 0 {
		return nil, fmt.Errorf("no tiers configured")
	}
	out := make(Tiers, len(ts))
	for _, t := range ts {
		if err := t.Validate(); err != nil {
			return nil, err
		}
		if _, dup := out[t.Name]; dup {
			return nil, fmt.Errorf("tier %s defined twice", t.Name)
		}
		for _, p := range t.PriceIDs() {
			for _, o := range out {
				if slices.Contains(o.PriceIDs(), p) {
					return nil, fmt.Errorf("price %s is given to tiers %s and %s: a paid price must name one tier", p, o.Name, t.Name)
				}
			}
		}
		out[t.Name] = t
	}
	return out, nil
}

// Get returns the named tier or an ErrUnknownTier error naming the known ones.
func (ts Tiers) Get(name string) (Tier, error) {
	t, ok := ts[name]
	if !ok {
		return Tier{}, fmt.Errorf("%w %q (known: %v)", ErrUnknownTier, name, ts.Names())
	}
	return t, nil
}

// Names lists the tier names, sorted.
func (ts Tiers) Names() []string {
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
