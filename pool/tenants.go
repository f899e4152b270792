package pool

import (
	"context"
	"errors"
)

// Tenants is everything the daemon does to a tenant's infrastructure: the one interface the
// runtime, the orders and the prober are given (the Pulumi implementation lives in
// pool/pulumiprov; tests use pool/pooltest). Every method must be idempotent: a job retried after
// a crash calls it again for the same account.
type Tenants interface {
	// Provision brings the account's tenant up and makes it ready: infrastructure up, health
	// check ok through the real URL, the customer login created and proven.
	Provision(ctx context.Context, a Account, t Tier) (Provisioned, error)
	// Destroy removes everything Provision created for the account.
	Destroy(ctx context.Context, a Account) error
	// Suspend stops the tenant and keeps its data; Resume starts it again on the same data.
	Suspend(ctx context.Context, a Account) error
	Resume(ctx context.Context, a Account) error
	// RotateCustomer gives the account's customer login a new password at the tenant itself.
	RotateCustomer(ctx context.Context, a Account, password string) error
	// Reapply re-applies a sold tenant's stack, restarting what died, and waits until it is
	// healthy (the health prober's repair).
	Reapply(ctx context.Context, a Account) error
	// Reimage re-applies a sold tenant's stack with image instead of the configured one, on the
	// same host and volume, waits for health, proves the operator login and returns the
	// generation the tenant now runs (a rolling upgrade's step, and its rollback).
	Reimage(ctx context.Context, a Account, image string) (generation string, err error)
	// Image is the image the tenant's stack last ran (what a rolling upgrade rolls back to).
	Image(ctx context.Context, a Account) (string, error)
	// Build is what Provision builds for the tier now (its generation); zero when nothing can
	// be provisioned.
	Build(t Tier) Build
}

// Provisioned is what a successful Provision reports back to be stored on the account.
type Provisioned struct {
	Host           string
	URL            string
	CustomerUserID string
	Generation     string
}

// HostCapacity is one Docker host as placement sees it: its name and how many live tenants it
// may run.
type HostCapacity struct {
	Name     string
	Capacity int
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
