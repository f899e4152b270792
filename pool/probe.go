package pool

import "time"

// EventKind names an entry of an account's health history.
type EventKind string

// The events the prober records.
const (
	// EventProbeFailed is the first failed health probe of a streak (later failures of the same
	// streak only count).
	EventProbeFailed EventKind = "probe_failed"
	// EventReapplied: the tenant's stack was re-applied after Threshold failed probes.
	EventReapplied EventKind = "reapplied"
	// EventReapplyFailed: the re-apply itself failed (the account is flagged at once).
	EventReapplyFailed EventKind = "reapply_failed"
	// EventFlagged: the tenant is still failing; an operator must look at it.
	EventFlagged EventKind = "flagged"
	// EventRecovered: a healthy probe ended a failure streak (and cleared a flag), or an
	// operator cleared the flag.
	EventRecovered EventKind = "recovered"
)

// AccountEvent is one entry of an account's health history.
type AccountEvent struct {
	ID        int64
	AccountID int64
	At        time.Time
	Kind      EventKind
	Detail    string
}

// ProbeAction is what one probe's outcome calls for.
type ProbeAction int

// The probe actions.
const (
	ProbeNothing ProbeAction = iota // healthy, or not failing long enough (or already past the re-apply)
	ProbeReapply                    // the streak just reached the threshold: re-apply the stack
	ProbeFlag                       // still failing a threshold after the re-apply: flag for the operator
)

func (a ProbeAction) String() string {
	switch a {
	case ProbeReapply:
		return "reapply"
	case ProbeFlag:
		return "flag"
	}
	return "nothing"
}

// DecideProbe is the prober's pure decision. failures is the streak including this probe. The
// re-apply happens once per streak, when it reaches threshold; from 2×threshold on the account
// is flagged (the store flags once, so repeating ProbeFlag is harmless).
func DecideProbe(ok bool, failures, threshold int) ProbeAction {
	switch {
	case ok || failures < threshold:
		return ProbeNothing
	case failures == threshold:
		return ProbeReapply
	case failures >= 2*threshold:
		return ProbeFlag
	}
	return ProbeNothing
}

// FlagNotice is what the operator is told about a newly flagged account. It holds no secret.
type FlagNotice struct {
	Failures int       // consecutive failed probes
	Reason   string    // why it was flagged, with Describe of the last probe's or the re-apply's error: never tenant text
	At       time.Time // when (the prober's clock): one flag episode of the account
}
