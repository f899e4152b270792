package daemon

import (
	"context"
	"errors"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow"
)

// unconfigured stands in for the tenants of a daemon that cannot provision: every
// infrastructure call fails permanently with the reason, so nothing is retried in vain; a
// customer's password is still rotated at the tenant itself (its Langflow API needs no Pulumi).
type unconfigured struct {
	err    error
	rotate func(ctx context.Context, a pool.Account, password string) error
}

var _ pool.Tenants = unconfigured{}

func (u unconfigured) Provision(context.Context, pool.Account, pool.Tier) (pool.Provisioned, error) {
	return pool.Provisioned{}, pool.Permanent(u.err)
}
func (u unconfigured) Destroy(context.Context, pool.Account) error { return u.err }
func (u unconfigured) Suspend(context.Context, pool.Account) error { return u.err }
func (u unconfigured) Resume(context.Context, pool.Account) error  { return u.err }
func (u unconfigured) Reapply(context.Context, pool.Account) error { return u.err }
func (u unconfigured) Build(pool.Tier) pool.Build                  { return pool.Build{} }
func (u unconfigured) Reimage(context.Context, pool.Account, string) (string, error) {
	return "", pool.Permanent(u.err)
}
func (u unconfigured) Image(context.Context, pool.Account) (string, error) { return "", u.err }
func (u unconfigured) RotateCustomer(ctx context.Context, a pool.Account, password string) error {
	return u.rotate(ctx, a, password)
}

// rotate is cfg.Rotate, or the tenant's Langflow API through the default gate.
func (cfg Config) rotate() func(ctx context.Context, a pool.Account, password string) error {
	if cfg.Rotate != nil {
		return cfg.Rotate
	}
	return langflow.NewGate(langflow.GateOptions{Logger: cfg.Log}).RotateAccount
}

// RotateOnly is the tenants of a command that acts on no infrastructure and only rotates
// customer passwords (`poold claim`): through each tenant's own Langflow API (cfg.Rotate),
// never Pulumi, so it works on an operator's box without the Pulumi CLI.
func RotateOnly(cfg Config) pool.Tenants {
	return unconfigured{err: errors.New("this command acts on no infrastructure"), rotate: cfg.rotate()}
}

// importFlows imports an account's tier's starter flows into its studio through its own
// Langflow API, as its customer; nil when no tier has any.
func (cfg Config) importFlows() func(ctx context.Context, a pool.Account) (int, error) {
	if len(cfg.Flows) == 0 {
		return nil
	}
	gate := langflow.NewGate(langflow.GateOptions{Logger: cfg.Log})
	return func(ctx context.Context, a pool.Account) (int, error) {
		return gate.ImportAccountFlows(ctx, a, cfg.Flows[a.Tier])
	}
}
