package pool

import (
	"fmt"
	"math"
	"strconv"
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
	// Window is the sliding window the sales rate is measured over (default 3h).
	Window time.Duration `yaml:"window" json:"window,omitempty"`
	// BurstWindow is a shorter window (default 1h, at most Window): when the rate over it is
	// higher than over Window, it wins, so a burst raises the target within minutes while a
	// quiet hour lowers it only once Window forgets the busy ones.
	BurstWindow time.Duration `yaml:"burst_window" json:"burst_window,omitempty"`
	// Stockout is the chance, at the measured rate, that a buyer finds no ready account and
	// waits for a fresh tenant (default 0.001: one buyer in a thousand); the target is the
	// smallest stock that keeps it at most this (see ReadyTarget).
	Stockout float64 `yaml:"stockout" json:"stockout,omitempty"`
}

// Auto defaults and bounds.
const (
	DefaultAutoWindow      = 3 * time.Hour
	DefaultAutoBurstWindow = time.Hour
	DefaultAutoStockout    = 0.001
	MinAutoWindow          = time.Minute
	MaxAutoWindow          = 30 * 24 * time.Hour
	MinAutoStockout        = 1e-6
	MaxAutoStockout        = 0.5
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
	if a.Stockout == 0 {
		a.Stockout = DefaultAutoStockout
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
	case a.Stockout != 0 && !(a.Stockout >= MinAutoStockout && a.Stockout <= MaxAutoStockout):
		return fmt.Errorf("tier %s: auto.stockout %g must be between %g and %g (the chance a buyer finds no ready account; 0.001 = one in a thousand)", t.Name, a.Stockout, MinAutoStockout, MaxAutoStockout)
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
	// LeadMean and LeadP95 are the mean and the 95th percentile of created → ready of the
	// tier's recent accounts (the pool's and orders'), over LeadSamples of them; zero samples:
	// nothing measured yet. The target uses the mean, the capacity signal the p95.
	LeadMean, LeadP95 time.Duration
	LeadSamples       int
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
	// Rate (sales/h), Lead (mean provisioning time) and Margin (accounts above the mean
	// number in the making) are the auto terms; zero in fixed mode.
	Rate   float64
	Lead   time.Duration
	Margin int
	// Why explains it in one line, e.g. "target 5: 2.0 sales/h (last 3h) × 0.3 h mean
	// provisioning = 0.6 + 4 margin (stock-outs ≤ 0.1 %)".
	Why string
}

// ReadyTarget is the tier's ready target: min_ready in fixed mode. In auto mode it is the
// smallest stock S for which a buyer finds the pool empty with a chance of at most
// auto.stockout, bounded by min_ready and max_total. The planner keeps ready + in-flight at the
// target and starts an account for every sale, so the accounts still in the making when a
// buyer arrives are those of the sales of the last provisioning times: with sales at rate r
// and provisioning times of mean L, their number is Poisson with mean λ = r × L (an M/G/∞
// queue, whatever the times' distribution), and the buyer waits when it has reached S:
// P(N ≥ S) ≤ stockout. Without a measured provisioning time the target is min_ready. It is a
// pure function of its arguments.
func ReadyTarget(t Tier, d Demand) Target {
	if !t.Auto() {
		return Target{Ready: t.MinReady, Why: fmt.Sprintf("target %d: min_ready (fixed)", t.MinReady)}
	}
	lead := d.LeadMean
	if d.LeadSamples == 0 || lead <= 0 {
		return Target{Ready: t.MinReady, Auto: true, Why: fmt.Sprintf("target %d: min_ready (auto: no provisioning time measured yet)", t.MinReady)}
	}
	risk := t.AutoReady.Effective().Stockout
	rate, over := d.Rate()
	making := rate * lead.Hours()
	raw := stockFor(making, risk)
	margin := max(raw-int(math.Ceil(making-1e-9)), 0)
	n := min(max(raw, t.MinReady), t.MaxTotal)
	why := fmt.Sprintf("%.1f sales/h (last %s) × %.2g h mean provisioning = %.1f + %d margin (stock-outs ≤ %s)",
		rate, ShortDuration(over), lead.Hours(), making, margin, percent(risk))
	switch {
	case raw < t.MinReady:
		why = fmt.Sprintf("target %d: min_ready (auto %d: %s)", n, raw, why)
	case raw > t.MaxTotal:
		why = fmt.Sprintf("target %d: max_total (auto %d: %s)", n, raw, why)
	default:
		why = fmt.Sprintf("target %d: %s", n, why)
	}
	return Target{Ready: n, Auto: true, Rate: rate, Lead: lead, Margin: margin, Why: why}
}

// stockFor is the smallest stock s with P(N ≥ s) ≤ risk for N Poisson with mean λ: summed
// exactly (in log space) up to λ = 1000, past it by the normal approximation with the
// Cornish-Fisher skew term (which gives the exact sum's figure there).
func stockFor(lambda, risk float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 1000 {
		z := math.Sqrt2 * math.Erfinv(1-2*risk)
		return int(math.Ceil(lambda + z*math.Sqrt(lambda) + (z*z-1)/6 + 0.5 - 1e-9))
	}
	tail, logL := 1.0, math.Log(lambda) // tail: P(N ≥ s)
	for s := 0; ; s++ {
		if tail <= risk {
			return s
		}
		lg, _ := math.Lgamma(float64(s + 1))
		tail -= math.Exp(float64(s)*logL - lambda - lg)
	}
}

// percent renders a probability for people: 0.001 as "0.1 %", 0.05 as "5 %".
func percent(p float64) string {
	return strconv.FormatFloat(p*100, 'g', 3, 64) + " %"
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
