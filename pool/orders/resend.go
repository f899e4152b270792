package orders

import (
	"context"
	"fmt"

	"github.com/axiestudio/tenantpool/pool"
)

// Resend queues an order's credentials again (`poold orders resend ORDER`, the admin API) and
// returns the resend's number. The customer gets a fresh password, but nothing changes here:
// the resend is one durable job (its own dedupe key) that makes the new password, records it
// sealed, rotates the tenant to it and sends it, so a failed send retries with the same new
// password and the customer is never locked out by a rotation whose e-mail did not go out.
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
	n, err := s.cfg.Store.BumpResends(ctx, o.ID)
	if err != nil {
		return 0, fmt.Errorf("resend: %w", err)
	}
	s.cfg.Log.Info("credentials resend queued", "order", o.ID, "accounts", len(as), "resend", n)
	return n, nil
}
