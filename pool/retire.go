package pool

import (
	"errors"
	"fmt"
	"time"
)

// DefaultSuspendGrace is how long a sold tenant is kept stopped, its data intact, before it is
// destroyed (a cancelled subscription's, or one the operator retired): 30 days.
const DefaultSuspendGrace = 30 * 24 * time.Hour

// ErrForceRequired: retiring a sold account destroys a customer's tenant and data, so the
// operator must say so (`poold retire --force`, the admin API's "force").
var ErrForceRequired = errors.New("the account is sold: retiring it needs force")

// Sold reports whether an account in this state belongs to a customer: claimed, delivered or
// suspended — or reserved, whose credentials left the system by an export to be sold by hand.
func (s State) Sold() bool {
	switch s {
	case StateClaimed, StateDelivered, StateSuspended, StateReserved:
		return true
	}
	return false
}

// RetireHow is how an operator's request to retire an account is carried out.
type RetireHow int

// The ways to retire.
const (
	// RetireNow retires the account at once and queues its teardown.
	RetireNow RetireHow = iota + 1
	// RetireAfterGrace suspends it (the tenant is stopped, its data kept) and destroys it once
	// the suspension grace is over.
	RetireAfterGrace
)

func (h RetireHow) String() string {
	switch h {
	case RetireNow:
		return "now"
	case RetireAfterGrace:
		return "after grace"
	}
	return "unknown"
}

// DecideRetire is the rule of `poold retire` and of the admin API's retire route. An unsold
// account is retired at once, as ever. A sold one (State.Sold) is refused with ErrForceRequired
// unless force is given; then it goes through the suspension grace, or, with now as well, is
// retired at once. (Whether the state may become retired at all is the state graph's business.)
func DecideRetire(s State, force, now bool) (RetireHow, error) {
	switch {
	case !s.Sold():
		return RetireNow, nil
	case !force:
		return 0, fmt.Errorf("%w (it is %s)", ErrForceRequired, s)
	case now:
		return RetireNow, nil
	}
	return RetireAfterGrace, nil
}
