package pool

import (
	"fmt"
	"time"
)

// Plan changes in place: a sold account moved to another tier keeps its account, stack and data
// volume; its stack is re-applied with the new tier's container settings.

// DefaultDowngradeNotice is how long a downgraded account keeps the custom domains beyond its
// new tier's allowance (POOL_DOWNGRADE_NOTICE).
const DefaultDowngradeNotice = 72 * time.Hour

// PlanSource says who changed an account's plan.
type PlanSource string

// The plan change sources.
const (
	PlanByStripe   PlanSource = "stripe"   // customer.subscription.updated with a new price
	PlanByOperator PlanSource = "operator" // poold accounts set-tier, the admin API, the console
)

// PlanState is where a plan change is.
type PlanState string

// The plan change states.
const (
	// PlanHeld: the new price maps to no tier; the account keeps its tier until the operator
	// sets one (or a later event names a known price).
	PlanHeld PlanState = "held"
	// PlanApplying: the tier is changed in the store; the re-apply job has not finished.
	PlanApplying PlanState = "applying"
	// PlanApplied: the tenant runs the new tier's stack.
	PlanApplied PlanState = "applied"
	// PlanWaiting: the tenant does not run (suspended); the next start (a resume re-applies the
	// stack with the account's tier) brings the new tier.
	PlanWaiting PlanState = "waiting"
	// PlanFailed: the re-apply failed for good; the store already holds the new tier, so the
	// operator re-applies the stack once the cause is fixed.
	PlanFailed PlanState = "failed"
	// PlanSuperseded: a newer change of the same account replaced this one before it finished.
	PlanSuperseded PlanState = "superseded"
)

// The events plan changes record in an account's history.
const (
	EventPlanChanged     EventKind = "plan_changed"
	EventPlanHeld        EventKind = "plan_held"
	EventPlanApplied     EventKind = "plan_applied"
	EventPlanApplyFailed EventKind = "plan_apply_failed"
	EventDowngradeNotice EventKind = "downgrade_notice"
	EventDomainsDetached EventKind = "domains_detached"
)

// PlanChange is one change of an account's tier.
type PlanChange struct {
	ID             int64
	AccountID      int64
	OrderID        string
	SubscriptionID string
	PriceID        string
	FromTier       string
	ToTier         string // "" while held
	Source         PlanSource
	State          PlanState
	DecidedAt      time.Time // the Stripe event's creation time, or the operator's clock
	CreatedAt      time.Time
	AppliedAt      time.Time
	Generation     string
	DetachAt       time.Time // a downgrade's detach time for custom domains beyond the allowance; zero if none
	LastError      string
}

// PlanDecision is what a requested tier does to an account.
type PlanDecision int

// The plan decisions.
const (
	PlanChangeTier PlanDecision = iota // a new tier: change it and re-apply the stack
	PlanSame                           // already the tier: nothing to re-apply
	PlanStale                          // older than the account's last plan decision: ignored
	PlanHold                           // a price of no tier: held for the operator
)

// DecidePlan decides what a request for tier `to` (empty: a price no tier sells), decided at
// `at`, does to an account of tier `cur` whose last plan decision was at `last`. A request older
// than the last decision never undoes it; one of the same instant is applied (arrival order).
func DecidePlan(cur string, last time.Time, to string, at time.Time) PlanDecision {
	switch {
	case at.Before(last):
		return PlanStale
	case to == "":
		return PlanHold
	case to == cur:
		return PlanSame
	}
	return PlanChangeTier
}

// Plannable reports whether an account in state st can change plan: a sold account (claimed,
// delivered) or a suspended one (its next start runs the new tier). Unsold accounts belong to
// their tier's pool and exported ones to whoever holds their credentials.
func Plannable(st State) error {
	switch st {
	case StateClaimed, StateDelivered, StateSuspended:
		return nil
	}
	return fmt.Errorf("%w: the account is %s; only a sold account (claimed, delivered or suspended) changes plan", ErrIllegalTransition, st)
}

// Downgrade reports whether moving from one tier to another lowers the custom domain allowance
// (the excess domains are detached after a notice period).
func Downgrade(from, to Tier) bool { return to.CustomDomains < from.CustomDomains }
