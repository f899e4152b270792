package orders

import (
	"context"
	"fmt"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/secret"
)

// Resend sends an order's credentials again (`poold orders resend ORDER`). The
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
	as, err := s.cfg.Store.OrderAccounts(ctx, o.ID)
	if err != nil {
		return 0, err
	}
	for _, a := range as {
		switch a.State {
		case pool.StateClaimed, pool.StateDelivered, pool.StateSuspended:
		default:
			return 0, fmt.Errorf("order %s: %s: no credentials to resend", o.ID, a)
		}
	}
	for _, a := range as { // every seat's login is in the e-mail: every one gets a fresh password
		if _, err := s.rotate(ctx, a); err != nil {
			return 0, err
		}
	}
	n, err := s.cfg.Store.BumpResends(ctx, o.ID)
	if err != nil {
		return 0, fmt.Errorf("resend: %w", err)
	}
	s.cfg.Log.Info("credentials resend queued", "order", o.ID, "accounts", len(as), "resend", n)
	return n, nil
}

// rotate gives the account's customer a fresh password at the tenant and in the store, and
// returns the account with it.
func (s *Service) rotate(ctx context.Context, a pool.Account) (pool.Account, error) {
	pw := secret.Password(24)
	if err := s.cfg.Tenants.RotateCustomer(ctx, a, pw); err != nil {
		return a, fmt.Errorf("rotate password of %s: %w", a.Slug, err)
	}
	if err := s.cfg.Store.SetCustomerPassword(ctx, a.ID, pw); err != nil {
		return a, fmt.Errorf("store rotated password of %s (the tenant has it; the next attempt rotates anew): %w", a.Slug, err)
	}
	a.CustomerPassword = pw
	return a, nil
}
