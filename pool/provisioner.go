package pool

import (
	"context"
	"errors"
)

// Provisioner builds and tears down the infrastructure of one account. The Pulumi implementation
// lives in its own package; tests use a double.
type Provisioner interface {
	// Provision brings the account's tenant up and makes it ready: infrastructure up, health
	// check ok through the real URL, the customer login created and proven. It must be idempotent:
	// a job retried after a crash calls it again for the same account.
	Provision(ctx context.Context, a Account, t Tier) (Provisioned, error)
	// Destroy removes everything Provision created for the account. Idempotent.
	Destroy(ctx context.Context, a Account) error
}

// Provisioned is what a successful Provision reports back to be stored on the account.
type Provisioned struct {
	Host           string
	URL            string
	CustomerUserID string
	Generation     string
}

// PermanentError marks a provisioning failure that retrying cannot fix (an invalid spec, a
// program error): the account fails at once instead of being retried.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err (or anything it wraps) is a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
