package store

import (
	"context"
	"fmt"

	"github.com/axiestudio/tenantpool/pool"
)

// OrderAccounts returns the accounts claimed for an order (its seats), oldest first; none while
// the order has no account yet. Read-only: the storefront's welcome page shows their URLs.
func (s *Store) OrderAccounts(ctx context.Context, orderID string) ([]pool.Account, error) {
	as, err := s.queryAccounts(ctx, s.db, `SELECT `+accountCols+` FROM accounts WHERE order_id = ? ORDER BY id`, orderID)
	if err != nil {
		return nil, fmt.Errorf("accounts of order: %w", err)
	}
	return as, nil
}
