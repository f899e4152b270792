package orders

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/secret"
	"github.com/axiestudio/tenantpool/pool/store"
)

// Resend sends an order's credentials again (`poold orders resend ORDER`). With a Rotator the
// customer gets a fresh password first. The resend is its own durable job with its own dedupe
// key, so it is sent once even if Resend is interrupted and the job retried. It returns the
// resend's number.
func (s *Service) Resend(ctx context.Context, orderID string) (int, error) {
	o, err := s.cfg.Store.GetOrder(ctx, orderID)
	if err != nil {
		return 0, err
	}
	if o.AccountID == 0 {
		return 0, fmt.Errorf("order %s is %s: it has no account yet (its e-mail goes out once it has)", o.ID, o.State)
	}
	a, err := s.cfg.Store.Get(ctx, o.AccountID)
	if err != nil {
		return 0, err
	}
	switch a.State {
	case pool.StateClaimed, pool.StateDelivered, pool.StateSuspended:
	default:
		return 0, fmt.Errorf("order %s: %s: no credentials to resend", o.ID, a)
	}
	if _, err := s.rotate(ctx, a); err != nil {
		return 0, err
	}
	n, err := s.cfg.Store.BumpResends(ctx, o.ID, func(ctx context.Context, tx *sql.Tx, o store.Order) error {
		_, err := s.cfg.Store.EnqueueTx(ctx, tx, DeliverArgs{OrderID: o.ID, Resend: o.Resends}, s.deliverOpts())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("resend: %w", err)
	}
	s.cfg.Log.Info("credentials resend queued", "order", o.ID, "account", a.Slug, "resend", n, "rotated", s.cfg.Rotator != nil)
	return n, nil
}

// rotate gives the account's customer a fresh password at the tenant and in the store (when a
// Rotator is configured) and returns the account with it.
func (s *Service) rotate(ctx context.Context, a pool.Account) (pool.Account, error) {
	if s.cfg.Rotator == nil {
		return a, nil
	}
	pw := secret.Password(24)
	if err := s.cfg.Rotator.RotateCustomer(ctx, a, pw); err != nil {
		return a, fmt.Errorf("rotate password of %s: %w", a.Slug, err)
	}
	if err := s.cfg.Store.SetCustomerPassword(ctx, a.ID, pw); err != nil {
		return a, fmt.Errorf("store rotated password of %s (the tenant has it; the next attempt rotates anew): %w", a.Slug, err)
	}
	a.CustomerPassword = pw
	return a, nil
}

// LangflowRotator rotates a customer's password through the tenant's Langflow API.
type LangflowRotator struct {
	Gate *langflow.Gate
}

var _ Rotator = LangflowRotator{}

// RotateCustomer implements Rotator.
func (r LangflowRotator) RotateCustomer(ctx context.Context, a pool.Account, password string) error {
	operator := langflow.Credentials{Username: a.OperatorUser, Password: a.OperatorPassword}
	old := langflow.Credentials{Username: a.CustomerUser, Password: a.CustomerPassword}
	next := langflow.Credentials{Username: a.CustomerUser, Password: password}
	return r.Gate.RotateCustomer(ctx, a.URL, operator, a.CustomerUserID, old, next)
}
