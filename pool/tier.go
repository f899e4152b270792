package pool

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
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
	// Ready is how the ready target is set: "fixed" (or empty) keeps min_ready; "auto" follows
	// the sales rate and the measured provisioning time (AutoReady, ReadyTarget), bounded by
	// min_ready and max_total.
	Ready string `yaml:"ready" json:"ready,omitempty"`
	// AutoReady are the knobs of ready: auto (only with it).
	AutoReady AutoReady `yaml:"auto" json:"auto,omitempty"`
	// RefillWithin is the time the tier's pool should be refillable within (0: 1h): the
	// capacity signal warns when the hosts' free capacity or max_in_flight cannot make it.
	RefillWithin time.Duration `yaml:"refill_within" json:"refill_within,omitempty"`

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
	// "year"): the storefront sells them, a paid price maps back to its tier, and their amounts
	// (optional, see Price) are what the business figures count.
	Prices map[string]Price `yaml:"prices" json:"prices,omitempty"`

	// Limits are the rest of the container limits of one tenant (processes, files, disk, CPU
	// and I/O weight). Zero fields take the defaults Limits.Effective states.
	Limits `yaml:",inline"`
}

// Intervals are the billing intervals a tier may have a price for.
var Intervals = []string{"month", "year"}

// PriceIDs lists every Stripe price of the tier (Prices and PriceID), without duplicates.
func (t Tier) PriceIDs() []string {
	var ids []string
	for _, iv := range Intervals {
		if p := t.Prices[iv].ID; p != "" {
			ids = append(ids, p)
		}
	}
	if t.PriceID != "" && !slices.Contains(ids, t.PriceID) {
		ids = append(ids, t.PriceID)
	}
	return ids
}

// Limits are the resource limits of one tenant's container besides memory and CPUs. A zero
// field means its default (see Effective): every tenant always has a pids limit, a file
// limit, a CPU weight and a bounded /tmp, whatever the configuration says.
type Limits struct {
	// PidsLimit caps the tasks (processes and threads) of the container (Docker's pids limit,
	// the pids cgroup): a fork bomb stops there instead of exhausting the host's pid space.
	PidsLimit int `yaml:"pids_limit" json:"pids_limit,omitempty"`
	// NoFile is the open-files limit (RLIMIT_NOFILE, soft = hard) of every process.
	NoFile int `yaml:"nofile" json:"nofile,omitempty"`
	// NProc is RLIMIT_NPROC (soft = hard); 0 leaves it unset. The kernel counts it per user
	// across the whole host, and every tenant runs as the same unprivileged uid, so it caps
	// all tenants of a host together: at least PidsLimit, and best left 0 (the pids limit is
	// the per-tenant bound).
	NProc int `yaml:"nproc" json:"nproc,omitempty"`
	// DiskMB is the size of the container's writable layer (storage option size); 0 = no
	// quota. Needs overlay2 on xfs mounted with pquota, btrfs or zfs: the daemon checks every
	// host before applying it. The root filesystem is read-only anyway; this bounds what
	// Docker itself writes there.
	DiskMB int `yaml:"disk_mb" json:"disk_mb,omitempty"`
	// VolumeMB is the size of the tenant's data volume (the local driver's size option, an xfs
	// project quota); 0 = no quota. Needs /var/lib/docker on xfs mounted with pquota.
	VolumeMB int `yaml:"volume_mb" json:"volume_mb,omitempty"`
	// TmpMB is the size of the tenant's /tmp (a tmpfs, counted in its memory).
	TmpMB int `yaml:"tmp_mb" json:"tmp_mb,omitempty"`
	// CPUWeight is the tenant's share of contended CPU time (Docker's CPU shares, 2–262144;
	// 1024 is Docker's default weight).
	CPUWeight int `yaml:"cpu_weight" json:"cpu_weight,omitempty"`
	// IOWeight is the tenant's share of contended block I/O (Docker's blkio weight, 10–1000).
	IOWeight int `yaml:"io_weight" json:"io_weight,omitempty"`
}

// Limit defaults and bounds.
const (
	DefaultPidsLimit = 512
	DefaultNoFile    = 8192
	DefaultTmpMB     = 256
	DefaultIOWeight  = 500
	// MinPidsLimit leaves Langflow (a Python server with worker threads) room to start.
	MinPidsLimit = 64
	MaxPidsLimit = 1 << 22
	MinNoFile    = 1024
	MaxNoFile    = 1 << 20
	MinDiskMB    = 512
	MinVolumeMB  = 256
)

// Effective returns the limits with every zero default filled in: PidsLimit DefaultPidsLimit,
// NoFile DefaultNoFile, TmpMB DefaultTmpMB, CPUWeight 1024 per CPU of the tier (so weight
// follows the CPUs sold), IOWeight DefaultIOWeight. NProc, DiskMB and VolumeMB stay 0 (unset).
func (t Tier) Effective() Limits {
	l := t.Limits
	if l.PidsLimit == 0 {
		l.PidsLimit = DefaultPidsLimit
	}
	if l.NoFile == 0 {
		l.NoFile = DefaultNoFile
	}
	if l.TmpMB == 0 {
		l.TmpMB = DefaultTmpMB
	}
	if l.CPUWeight == 0 {
		l.CPUWeight = max(2, min(262144, int(t.CPUs*1024)))
	}
	if l.IOWeight == 0 {
		l.IOWeight = DefaultIOWeight
	}
	return l
}

// SizesStorage reports whether the tier sets a disk or volume size, which only some hosts'
// storage supports.
func (t Tier) SizesStorage() bool { return t.DiskMB > 0 || t.VolumeMB > 0 }

// validateLimits reports the first problem with the limits (zero fields are defaults).
func (t Tier) validateLimits() error {
	l := t.Limits
	eff := t.Effective()
	switch {
	case l.PidsLimit != 0 && (l.PidsLimit < MinPidsLimit || l.PidsLimit > MaxPidsLimit):
		return fmt.Errorf("tier %s: pids_limit %d must be between %d and %d (0 = %d)", t.Name, l.PidsLimit, MinPidsLimit, MaxPidsLimit, DefaultPidsLimit)
	case l.NoFile != 0 && (l.NoFile < MinNoFile || l.NoFile > MaxNoFile):
		return fmt.Errorf("tier %s: nofile %d must be between %d and %d (0 = %d)", t.Name, l.NoFile, MinNoFile, MaxNoFile, DefaultNoFile)
	case l.NProc < 0 || (l.NProc > 0 && l.NProc < eff.PidsLimit):
		return fmt.Errorf("tier %s: nproc %d must be 0 (unset) or at least the pids limit %d: it counts the processes of every tenant on the host", t.Name, l.NProc, eff.PidsLimit)
	case l.DiskMB < 0 || (l.DiskMB > 0 && l.DiskMB < MinDiskMB):
		return fmt.Errorf("tier %s: disk_mb %d must be 0 (no quota) or at least %d", t.Name, l.DiskMB, MinDiskMB)
	case l.VolumeMB < 0 || (l.VolumeMB > 0 && l.VolumeMB < MinVolumeMB):
		return fmt.Errorf("tier %s: volume_mb %d must be 0 (no quota) or at least %d", t.Name, l.VolumeMB, MinVolumeMB)
	case l.TmpMB < 0 || eff.TmpMB >= t.MemoryMB:
		return fmt.Errorf("tier %s: tmp_mb %d must be positive and below memory_mb %d (/tmp is memory)", t.Name, eff.TmpMB, t.MemoryMB)
	case l.CPUWeight != 0 && (l.CPUWeight < 2 || l.CPUWeight > 262144):
		return fmt.Errorf("tier %s: cpu_weight %d must be between 2 and 262144 (0 = 1024 per CPU)", t.Name, l.CPUWeight)
	case l.IOWeight != 0 && (l.IOWeight < 10 || l.IOWeight > 1000):
		return fmt.Errorf("tier %s: io_weight %d must be between 10 and 1000 (0 = %d)", t.Name, l.IOWeight, DefaultIOWeight)
	}
	return nil
}

// DefaultTiers are the business's defaults (design.md): basic, premium, enterprise.
func DefaultTiers() []Tier {
	return []Tier{
		{Name: "basic", MinReady: 3, MaxTotal: 20, MaxInFlight: 2, MemoryMB: 1024, CPUs: 1, CustomDomains: 0,
			Limits: Limits{PidsLimit: 256, NoFile: 4096, TmpMB: 128, IOWeight: 300}},
		{Name: "premium", MinReady: 2, MaxTotal: 10, MaxInFlight: 2, MemoryMB: 2048, CPUs: 1.5, CustomDomains: 1, Branding: true,
			Limits: Limits{PidsLimit: 512, NoFile: 8192, TmpMB: 256, IOWeight: 500}},
		{Name: "enterprise", MinReady: 1, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 4096, CPUs: 2, CustomDomains: 5, Branding: true,
			Limits: Limits{PidsLimit: 1024, NoFile: 16384, TmpMB: 512, IOWeight: 800}},
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
		if err := p.validate(t.Name, iv); err != nil {
			return err
		}
	}
	if err := t.validateAuto(); err != nil {
		return err
	}
	return t.validateLimits()
}

// Tiers is a validated set of tiers, by name.
type Tiers map[string]Tier

// NewTiers validates every tier and rejects duplicates or an empty set.
func NewTiers(ts []Tier) (Tiers, error) {
	if len(ts) == 0 {
		return nil, fmt.Errorf("no tiers configured")
	}
	out := make(Tiers, len(ts))
	currency := ""
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
		for _, iv := range Intervals {
			if c := t.Prices[iv].Currency; c != "" && currency != "" && c != currency {
				return nil, fmt.Errorf("tier %s: prices.%s is in %s, other prices in %s: every amount must be in one currency", t.Name, iv, c, currency)
			} else if c != "" {
				currency = c
			}
		}
		out[t.Name] = t
	}
	return out, nil
}

// Currency is the currency of the tier's priced prices ("" when none has an amount).
func (t Tier) Currency() string {
	for _, iv := range Intervals {
		if p := t.Prices[iv]; p.Priced() {
			return p.Currency
		}
	}
	return ""
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
