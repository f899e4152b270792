package pool

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// State is where an account is in its lifecycle (see design.md):
//
//	provisioning ──ready check ok──▶ ready ──claim──▶ claimed ──email sent──▶ delivered
//	     └─failure──▶ failed           └─export──▶ reserved   └─subscription ended──▶ suspended ──grace──▶ retired
type State string

// The account states.
const (
	StateProvisioning State = "provisioning"
	StateReady        State = "ready"
	StateClaimed      State = "claimed"
	StateDelivered    State = "delivered"
	StateFailed       State = "failed"
	StateReserved     State = "reserved"
	StateSuspended    State = "suspended"
	StateRetired      State = "retired"
)

// States lists every state in lifecycle order.
var States = []State{
	StateProvisioning, StateReady, StateClaimed, StateDelivered,
	StateFailed, StateReserved, StateSuspended, StateRetired,
}

// transitions is the whole lifecycle graph: from → allowed targets. A ready account can be
// retired (pool shrink) but a claimed, delivered, reserved or suspended one is never returned to
// the pool: nothing leads back to ready.
var transitions = map[State][]State{
	StateProvisioning: {StateReady, StateFailed, StateRetired},
	StateReady:        {StateClaimed, StateReserved, StateRetired, StateFailed},
	StateClaimed:      {StateDelivered, StateSuspended, StateRetired},
	StateDelivered:    {StateSuspended, StateRetired},
	StateFailed:       {StateRetired},
	StateReserved:     {StateSuspended, StateRetired},
	StateSuspended:    {StateDelivered, StateRetired},
	StateRetired:      nil,
}

// ParseState validates a state name.
func ParseState(s string) (State, error) {
	for _, st := range States {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown state %q (want one of %v)", s, States)
}

// CanTransition reports whether from → to is a legal lifecycle step.
func CanTransition(from, to State) bool {
	for _, t := range transitions[from] {
		if t == to {
			return true
		}
	}
	return false
}

// CheckTransition returns an ErrIllegalTransition error when from → to is not allowed.
func CheckTransition(from, to State) error {
	if !CanTransition(from, to) {
		return fmt.Errorf("%w: %s → %s", ErrIllegalTransition, from, to)
	}
	return nil
}

// Origin is where an account came from. It decides what the pool's targets count (see Plan).
type Origin string

// The origins.
const (
	// OriginPool: the reconciler created it to top the pool up to min_ready.
	OriginPool Origin = "pool"
	// OriginBatch: an operator batch (`poold batch create`, the admin API's batch route). Its
	// ready accounts are sellable like the pool's, but max_total neither counts nor retires them,
	// and its failures do not count toward the tier's failure streak.
	OriginBatch Origin = "batch"
	// OriginOrder: an on-demand account for a paid order that found the pool empty. It counts
	// like the pool's own.
	OriginOrder Origin = "order"
)

// Sentinel errors. Adapters wrap them; callers test with errors.Is.
var (
	ErrPoolEmpty         = errors.New("no ready account in the pool")
	ErrNotFound          = errors.New("not found")
	ErrIllegalTransition = errors.New("illegal state transition")
	ErrUnknownTier       = errors.New("unknown tier")
	ErrPaused            = errors.New("tier is paused")
	// ErrNotSold: a sold tenant's operation (a re-apply) found the account no longer sold
	// (suspended or retired meanwhile); doing it would start or resurrect the tenant.
	ErrNotSold = errors.New("the account is no longer sold")
	// ErrNoCapacity: every host is full. Retryable: capacity frees up as tenants are retired.
	ErrNoCapacity = errors.New("no docker host has free capacity")
)

// Account is one hosted Langflow tenant. Secrets (passwords, secret key) are plaintext in memory
// only; stores seal them at rest and nothing logs them.
type Account struct {
	ID    int64
	Slug  string // DNS label, e.g. client07
	Tier  string
	State State
	Host  string // Docker host the tenant runs on
	URL   string // https://client07.example.com

	OperatorUser string // Langflow superuser
	// OperatorPassword is the superuser's password the daemon logs in with; secret. It is not
	// the one in the container's environment: provisioning sets it through Langflow's API right
	// after the tenant's first healthy start (see OperatorBootstrap).
	OperatorPassword string
	// OperatorBootstrap is LANGFLOW_SUPERUSER_PASSWORD, the superuser's first password, in the
	// tenant's container environment, where the customer's code can read it; secret. It is dead
	// once provisioning rotated it to OperatorPassword, and stays the same on every later update
	// (Langflow creates the superuser from it only when none exists, never resets it).
	OperatorBootstrap string
	SecretKey         string // LANGFLOW_SECRET_KEY, secret
	CustomerUser      string
	CustomerPassword  string // secret
	CustomerUserID    string // Langflow user id of the customer login

	OrderID    string // set once claimed; unique
	Origin     Origin // who asked for it
	Generation string // program/image version that built it
	Attempts   int
	LastError  string

	CreatedAt time.Time
	UpdatedAt time.Time
	StartedAt time.Time // when its provisioning job first started; zero until then
	ReadyAt   time.Time // zero until ready
	ClaimedAt time.Time // zero until claimed
	// RetireAt is when a sold account the operator retired with a grace period is destroyed
	// (it is suspended until then); zero when no such retirement is pending.
	RetireAt time.Time
}

// LogValue-friendly identity for log lines: never the secrets.
func (a Account) String() string {
	return fmt.Sprintf("account %d (%s, %s, %s)", a.ID, a.Slug, a.Tier, a.State)
}

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidLabel reports whether s is a valid lowercase DNS label (RFC 1123, at most 63 characters).
func ValidLabel(s string) bool { return labelRE.MatchString(s) }

var prefixRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,40}[a-z])?$`)

// ValidatePrefix checks a slug prefix: lowercase letters, digits and hyphens, starting and ending
// with a letter so that prefix+number is always a valid, unambiguous DNS label.
func ValidatePrefix(p string) error {
	if !prefixRE.MatchString(p) {
		return fmt.Errorf("invalid slug prefix %q: want 1-42 lowercase letters, digits or hyphens, starting and ending with a letter", p)
	}
	return nil
}

// Slug renders the n-th slug of a prefix: client01 … client99, client100 …
func Slug(prefix string, n int64) string { return fmt.Sprintf("%s%02d", prefix, n) }
