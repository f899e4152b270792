package pool

import "errors"

// Describer is an error that can say what went wrong in words of the daemon's own: fixed
// descriptions, status codes and durations, never text a tenant controls (a body its Langflow
// returned, a detail it echoed, bytes of a malformed answer).
type Describer interface {
	Describe() string
}

// Describe returns what may be told about err outside the daemon — an operator e-mail, the
// stored reason of a flag: the description of the first error in its chain that is a
// Describer, else the fixed description of a sentinel error of this package, else a fixed
// "unclassified" description. It never returns err's own text: every tenant is hostile, and
// whatever its container answers could otherwise reach the operator's inbox (a phishing link,
// a fake instruction). The full error belongs in the daemon's log.
func Describe(err error) string {
	if err == nil {
		return "no error"
	}
	var d Describer
	if errors.As(err, &d) {
		return d.Describe()
	}
	for _, s := range []error{ErrNotSold, ErrNoCapacity, ErrNotFound, ErrUnknownTier, ErrPaused, ErrIllegalTransition} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "unclassified failure (the daemon's log has the details)"
}
