package pool

import (
	"fmt"
	"math"
	"time"
)

// Ready target modes (Tier.Ready).
const (
	ReadyFixed = "fixed" // the target is min_ready (the default, also "")
	ReadyAuto  = "auto"  // the target follows the sales rate and the provisioning time (AutoReady)
)

// AutoReady are the knobs of a tier's automatic ready target (ready: auto). Zero fields take the
// defaults Effective states.
type AutoReady struct {
	// Window is the sliding window the sales rate is measured over (default 6h).
	Window time.Duration `yaml:"window" json:"window,omitempty"`
	// BurstWindow is a shorter window (default 1h, at most Window): when the rate over it is
	// higher than over Window, it wins, so a burst raises the target within minutes while a
	// quiet hour lowers it only once Window forgets the busy ones.
	BurstWindow time.Duration `yaml:"burst_window" json:"burst_window,omitempty"`
	// Margin is the safety margin for bursts, in standard deviations of the number of sales
	// during one provisioning (Poisson: √(rate × p95)); default 2, 0 is taken as the default,
	// a negative value means none.
	Margin float64 `yaml:"margin" json:"margin,omitempty"`
}

// Auto defaults and bounds.
const (
	DefaultAutoWindow      = 3 * time.Hour
	DefaultAutoBurstWindow = time.Hour
	DefaultAutoMargin      = 1.5
	MinAutoWindow          = time.Minute
	MaxAutoWindow          = 30 * 24 * time.Hour
	MaxAutoMargin          = 10.0
	// DefaultRefillWithin is the time a tier's pool should be refillable within (Tier.RefillWithin).
	DefaultRefillWithin = time.Hour
	MaxRefillWithin     = 7 * 24 * time.Hour
)

// Effective returns the knobs with their defaults filled in.
func (a AutoReady) Effective() AutoReady {
	if a.Window == 0 {
		a.Window = DefaultAutoWindow
	}
	if a.BurstWindow == 0 {
		a.BurstWindow = min(DefaultAutoBurstWindow, a.Window)
	}
	switch {
	case a.Margin == 0:
		a.Margin = DefaultAutoMargin
	case a.Margin < 0:
		a.Margin = 0
	}
	return a
}

// Auto reports whether the tier's ready target is automatic.
func (t Tier) Auto() bool { return t.Ready == ReadyAuto }

// RefillTarget is the time the tier's pool should be refillable within (RefillWithin or its
// default): the capacity signal warns when the hosts or max_in_flight cannot make it.
func (t Tier) RefillTarget() time.Duration {
	if t.RefillWithin > 0 {
		return t.RefillWithin
	}
	return DefaultRefillWithin
}

// validateAuto reports the first problem with the ready mode, its knobs and refill_within.
func (t Tier) validateAuto() error {
	a := t.AutoReady
	switch {
	case t.Ready != "" && t.Ready != ReadyFixed && t.Ready != ReadyAuto:
		return fmt.Errorf("tier %s: ready %q must be %q or %q", t.Name, t.Ready, ReadyFixed, ReadyAuto)
	case !t.Auto() && a != AutoReady{}:
		return fmt.Errorf("tier %s: auto settings are given but ready is not %q: set ready: auto or remove them", t.Name, ReadyAuto)
	case a.Window != 0 && (a.Window < MinAutoWindow || a.Window > MaxAutoWindow):
		return fmt.Errorf("tier %s: auto.window %s must be between %s and %s", t.Name, a.Window, MinAutoWindow, MaxAutoWindow)
	case a.BurstWindow != 0 && (a.BurstWindow < MinAutoWindow || a.BurstWindow > a.Effective().Window):
		return fmt.Errorf("tier %s: auto.burst_window %s must be between %s and the window %s", t.Name, a.BurstWindow, MinAutoWindow, a.Effective().Window)
	case a.Margin > MaxAutoMargin || math.IsNaN(a.Margin):
		return fmt.Errorf("tier %s: auto.margin %g must be at most %g (standard deviations; negative = none)", t.Name, a.Margin, MaxAutoMargin)
	case t.RefillWithin < 0 || t.RefillWithin > MaxRefillWithin:
		return fmt.Errorf("tier %s: refill_within %s must be between 0 (= %s) and %s", t.Name, t.RefillWithin, DefaultRefillWithin, MaxRefillWithin)
	}
	return nil
}

// Demand is what a tier's automatic ready target is computed from, read by the store at one
// instant: the sales in the two sliding windows ending now and the measured provisioning time.
type Demand struct {
	Window, BurstWindow time.Duration // the windows the sales were counted over
	Sales, BurstSales   int           // accounts claimed within Window and within BurstWindow
	// LeadP95 is the 95th percentile of created → ready of the tier's recent accounts (the
	// pool's and orders'), over LeadSamples of them; zero samples: nothing measured yet.
	LeadP95     time.Duration
	LeadSamples int
}

// Rate is the sales rate per hour the target uses: the higher of the two windows' rates, and
// which window it came from.
func (d Demand) Rate() (perHour float64, over time.Duration) {
	rate := func(n int, w time.Duration) float64 {
		if w <= 0 {
			return 0
		}
		return float64(n) / w.Hours()
	}
	perHour, over = rate(d.Sales, d.Window), d.Window
	if b := rate(d.BurstSales, d.BurstWindow); b > perHour {
		perHour, over = b, d.BurstWindow
	}
	return perHour, over
}

// Target is a tier's ready target and why: what the planner tops the pool up to (ready
// accounts plus the pool's in-flight ones).
type Target struct {
	Ready int
	Auto  bool
	// Rate (sales/h), Lead (p95 provisioning time) and Margin (accounts) are the auto terms;
	// zero in fixed mode.
	Rate   float64
	Lead   time.Duration
	Margin int
	// Why explains it in one line, e.g. "target 7: 3.1 sales/h (last 1h) × 0.9 h p95 + 4 margin".
	Why string
}

// ReadyTarget is the tier's ready target: min_ready in fixed mode; in auto mode the sales
// expected during one provisioning (rate × p95 time-to-ready) plus the burst margin
// (⌈margin × √(rate × p95)⌉), rounded up, and bounded by min_ready and max_total. Without a
// measured provisioning time the target is min_ready. It is a pure function of its arguments.
func ReadyTarget(t Tier, d Demand) Target {
	if !t.Auto() {
		return Target{Ready: t.MinReady, Why: fmt.Sprintf("target %d: min_ready (fixed)", t.MinReady)}
	}
	if d.LeadSamples == 0 || d.LeadP95 <= 0 {
		return Target{Ready: t.MinReady, Auto: true, Why: fmt.Sprintf("target %d: min_ready (auto: no provisioning time measured yet)", t.MinReady)}
	}
	rate, over := d.Rate()
	expected := rate * d.LeadP95.Hours()
	margin := 0
	if expected > 0 {
		margin = int(math.Ceil(t.AutoReady.Effective().Margin*math.Sqrt(expected) - 1e-9))
	}
	raw := int(math.Ceil(expected-1e-9)) + margin
	n := min(max(raw, t.MinReady), t.MaxTotal)
	why := fmt.Sprintf("%.1f sales/h (last %s) × %.2g h p95 + %d margin", rate, ShortDuration(over), d.LeadP95.Hours(), margin)
	switch {
	case raw < t.MinReady:
		why = fmt.Sprintf("target %d: min_ready (auto %d: %s)", n, raw, why)
	case raw > t.MaxTotal:
		why = fmt.Sprintf("target %d: max_total (auto %d: %s)", n, raw, why)
	default:
		why = fmt.Sprintf("target %d: %s", n, why)
	}
	return Target{Ready: n, Auto: true, Rate: rate, Lead: d.LeadP95, Margin: margin, Why: why}
}

// ShortDuration renders a duration for people: 1h0m0s as "1h", 30m0s as "30m", 1h30m0s as "1h30m".
func ShortDuration(d time.Duration) string {
	s := d.String()
	for _, suf := range []string{"m0s", "h0m"} {
		if len(s) > len(suf) && s[len(s)-len(suf):] == suf {
			s = s[:len(s)-len(suf)+1]
		}
	}
	return s
}
