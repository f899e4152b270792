package pool

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A rolling upgrade (rollout) re-applies every sold tenant of a tier with the tier's current
// image on the same volume: canary tenants first, then batches, never more than MaxUnavailable
// at once, only inside its window; the first failure rolls that tenant back to its previous
// image and holds the rollout until an operator resumes or aborts it.

// RolloutState is where a rollout is.
type RolloutState string

// The rollout states. Running, paused and held are active: one rollout at most is active.
const (
	RolloutRunning RolloutState = "running"
	RolloutPaused  RolloutState = "paused"  // by the operator: no new step starts
	RolloutHeld    RolloutState = "held"    // by a failure: no new step starts until resumed
	RolloutDone    RolloutState = "done"    // every tenant upgraded (or skipped)
	RolloutAborted RolloutState = "aborted" // by the operator: upgraded tenants stay upgraded
)

// Active reports whether the rollout may still start steps (after a resume, for paused and held).
func (s RolloutState) Active() bool {
	return s == RolloutRunning || s == RolloutPaused || s == RolloutHeld
}

// StepState is where one tenant of a rollout is.
type StepState string

// The step states.
const (
	StepPending        StepState = "pending"
	StepUpgrading      StepState = "upgrading"    // Reimage to the target image in flight
	StepRollingBack    StepState = "rolling_back" // the upgrade failed; Reimage to the previous image in flight
	StepDone           StepState = "done"         // runs the target generation
	StepFailed         StepState = "failed"       // the upgrade failed; the tenant runs its previous image again
	StepRollbackFailed StepState = "rollback_failed"
	StepSkipped        StepState = "skipped" // not sold any more, or the rollout was aborted before it
)

// InFlight reports whether the step is being worked on (or was, when a daemon died).
func (s StepState) InFlight() bool { return s == StepUpgrading || s == StepRollingBack }

// Failed reports whether the step failed (the rollout holds on it).
func (s StepState) Failed() bool { return s == StepFailed || s == StepRollbackFailed }

// Errors of rollouts.
var (
	ErrRolloutActive = errors.New("a rolling upgrade is already active")
	ErrNoRollout     = errors.New("no such rolling upgrade")
	ErrNothingToDo   = errors.New("nothing to upgrade")
)

// Event kinds of rolling upgrades: one per tenant and step outcome.
const (
	// EventUpgraded: a rolling upgrade re-applied the tenant with the target image.
	EventUpgraded EventKind = "upgraded"
	// EventUpgradeFailed: the upgrade failed; the detail says whether the rollback to the
	// previous image worked.
	EventUpgradeFailed EventKind = "upgrade_failed"
)

// RolloutSpec is what an operator asks for.
type RolloutSpec struct {
	Tier           string `json:"tier"`
	Generation     string `json:"to"`
	Canary         int    `json:"canary"`
	Batch          int    `json:"batch"`
	MaxUnavailable int    `json:"max_unavailable"`
	Window         string `json:"window,omitempty"`
}

// Rollout defaults.
const (
	DefaultCanary         = 1
	DefaultBatch          = 5
	DefaultMaxUnavailable = 1
	maxRolloutBatch       = 500
)

// Validate checks the numbers and the window (the tier and generation are checked against the
// configuration by the caller).
func (s RolloutSpec) Validate() error {
	var errs []error
	if s.Generation == "" {
		errs = append(errs, errors.New("the target generation is required (--to)"))
	}
	if s.Canary < 0 || s.Canary > maxRolloutBatch {
		errs = append(errs, fmt.Errorf("canary %d: want 0–%d tenants", s.Canary, maxRolloutBatch))
	}
	if s.Batch < 1 || s.Batch > maxRolloutBatch {
		errs = append(errs, fmt.Errorf("batch %d: want 1–%d tenants", s.Batch, maxRolloutBatch))
	}
	if s.MaxUnavailable < 1 || s.MaxUnavailable > maxRolloutBatch {
		errs = append(errs, fmt.Errorf("max-unavailable %d: want 1–%d tenants", s.MaxUnavailable, maxRolloutBatch))
	}
	if _, err := ParseWindow(s.Window); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Rollout is one rolling upgrade of a tier's sold tenants.
type Rollout struct {
	ID             int64        `json:"id"`
	Tier           string       `json:"tier"`
	Generation     string       `json:"to"`
	Image          string       `json:"image"`
	Canary         int          `json:"canary"`
	Batch          int          `json:"batch"`
	MaxUnavailable int          `json:"max_unavailable"`
	Window         string       `json:"window,omitempty"`
	State          RolloutState `json:"state"`
	Total          int          `json:"total"`
	Done           int          `json:"done"`
	Failed         int          `json:"failed"`
	Skipped        int          `json:"skipped"`
	LastError      string       `json:"last_error,omitempty"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
	FinishedAt     time.Time    `json:"finished_at,omitzero"`
}

// RolloutStep is one tenant of a rollout. Batch 0 holds the canaries, 1… the batches.
type RolloutStep struct {
	RolloutID      int64     `json:"rollout_id"`
	AccountID      int64     `json:"account_id"`
	Slug           string    `json:"slug"`
	Batch          int       `json:"batch"`
	FromGeneration string    `json:"from_generation"`
	FromImage      string    `json:"from_image,omitempty"`
	ToGeneration   string    `json:"to_generation,omitempty"`
	State          StepState `json:"state"`
	Error          string    `json:"error,omitempty"`
	Attempts       int       `json:"attempts"`
	StartedAt      time.Time `json:"started_at,omitzero"`
	FinishedAt     time.Time `json:"finished_at,omitzero"`
}

// RolloutBatches assigns n tenants (in upgrade order) to batches: the first canary ones to
// batch 0, the rest to batches 1, 2, … of size batch each.
func RolloutBatches(n, canary, batch int) []int {
	out := make([]int, n)
	for i := range out {
		if i < canary {
			continue
		}
		out[i] = (i-canary)/batch + 1
	}
	return out
}

// NextRolloutSteps is the rollout's pure plan: the pending steps to start now. Nothing starts
// unless the rollout is running, while a step has failed (the rollout holds on it), or while a
// step of an earlier batch is still in flight; then the pending steps of the lowest batch that
// has any start, so many that no more than MaxUnavailable are in flight together. Steps come in
// upgrade order.
func NextRolloutSteps(r Rollout, steps []RolloutStep) []RolloutStep {
	if r.State != RolloutRunning {
		return nil
	}
	inFlight, batch := 0, -1
	for _, s := range steps {
		if s.State.Failed() {
			return nil
		}
		if s.State.InFlight() {
			inFlight++
		}
		if s.State == StepPending && (batch < 0 || s.Batch < batch) {
			batch = s.Batch
		}
	}
	if batch < 0 {
		return nil
	}
	for _, s := range steps {
		if s.State.InFlight() && s.Batch < batch {
			return nil
		}
	}
	room := max(r.MaxUnavailable, 1) - inFlight
	var out []RolloutStep
	for _, s := range steps {
		if room <= 0 {
			break
		}
		if s.State == StepPending && s.Batch == batch {
			out = append(out, s)
			room--
		}
	}
	return out
}

// RolloutFinished reports whether nothing is left to do: no step pending, in flight or failed.
func RolloutFinished(steps []RolloutStep) bool {
	for _, s := range steps {
		if s.State == StepPending || s.State.InFlight() || s.State.Failed() {
			return false
		}
	}
	return true
}

// Window is when a rollout may start steps: some days of the week, a time range of the day, in
// a zone. The zero Window is always open.
type Window struct {
	raw        string
	days       [7]bool // by time.Weekday
	start, end int     // minutes after midnight; end ≤ start wraps past midnight
	loc        *time.Location
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseWindow parses "[DAYS ]HH:MM-HH:MM[ ZONE]": DAYS a comma-separated list of days (Mon …
// Sun) or ranges of days (Mon-Fri), every day when absent; the end may be 24:00, and an end at or
// before the start runs past midnight (the days name where it starts); ZONE an IANA zone name,
// UTC when absent. "" is always open. Examples: "Sun 02:00-05:00", "Sat,Sun 22:00-04:00
// Europe/Berlin", "01:00-03:00".
func ParseWindow(s string) (Window, error) {
	w := Window{raw: strings.TrimSpace(s), loc: time.UTC}
	if w.raw == "" {
		return w, nil
	}
	bad := func(why string) (Window, error) {
		return Window{}, fmt.Errorf("window %q: %s (want e.g. \"Sun 02:00-05:00\" or \"Mon-Fri 01:00-03:00 Europe/Berlin\")", s, why)
	}
	fields := strings.Fields(w.raw)
	if len(fields) > 3 {
		return bad("too many parts")
	}
	rangeAt := -1
	for i, f := range fields {
		if strings.Contains(f, ":") {
			rangeAt = i
			break
		}
	}
	if rangeAt < 0 || rangeAt > 1 {
		return bad("no time range HH:MM-HH:MM")
	}
	if rangeAt == 1 {
		for part := range strings.SplitSeq(fields[0], ",") {
			from, to, isRange := strings.Cut(strings.ToLower(part), "-")
			a, ok := weekdays[from]
			if !ok {
				return bad(fmt.Sprintf("unknown day %q", from))
			}
			b := a
			if isRange {
				if b, ok = weekdays[to]; !ok {
					return bad(fmt.Sprintf("unknown day %q", to))
				}
			}
			for d := a; ; d = (d + 1) % 7 {
				w.days[d] = true
				if d == b {
					break
				}
			}
		}
	} else {
		for d := range w.days {
			w.days[d] = true
		}
	}
	from, to, ok := strings.Cut(fields[rangeAt], "-")
	if !ok {
		return bad("no time range HH:MM-HH:MM")
	}
	var err error
	if w.start, err = clockMinutes(from, false); err != nil {
		return bad(err.Error())
	}
	if w.end, err = clockMinutes(to, true); err != nil {
		return bad(err.Error())
	}
	if w.start == w.end {
		return bad("the range is empty")
	}
	if rangeAt+1 < len(fields) {
		if w.loc, err = time.LoadLocation(fields[rangeAt+1]); err != nil || fields[rangeAt+1] == "Local" {
			return bad(fmt.Sprintf("unknown time zone %q", fields[rangeAt+1]))
		}
	}
	return w, nil
}

func clockMinutes(s string, end bool) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || len(hh) != 2 || len(mm) != 2 || m < 0 || m > 59 || h < 0 || h > 24 || (h == 24 && (m != 0 || !end)) {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return h*60 + m, nil
}

// String is the window as it was given.
func (w Window) String() string { return w.raw }

// Always reports whether the window is always open.
func (w Window) Always() bool { return w.raw == "" }

// Open reports whether t falls inside the window.
func (w Window) Open(t time.Time) bool {
	if w.Always() {
		return true
	}
	lt := t.In(w.loc)
	m, d := lt.Hour()*60+lt.Minute(), lt.Weekday()
	if w.start < w.end {
		return w.days[d] && m >= w.start && m < w.end
	}
	return (w.days[d] && m >= w.start) || (w.days[(d+6)%7] && m < w.end)
}

// NextOpen is the first minute at or after t when the window is open (t itself when open; zero
// when it never opens, which ParseWindow does not allow).
func (w Window) NextOpen(t time.Time) time.Time {
	if w.Open(t) {
		return t
	}
	c := t.Truncate(time.Minute)
	for range 8 * 24 * 60 {
		c = c.Add(time.Minute)
		if w.Open(c) {
			return c
		}
	}
	return time.Time{}
}
