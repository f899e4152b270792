package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/axiestudio/tenantpool/pool"
)

// CredentialStore is what handing out a customer password needs of the store.
type CredentialStore interface {
	// DeliveryPassword returns the password of a delivery key for an account, made and stored
	// sealed on the first call, the same on every later one.
	DeliveryPassword(ctx context.Context, key, orderID string, accountID int64) (string, error)
	// SetCustomerPassword records the account's customer password once the tenant has it.
	SetCustomerPassword(ctx context.Context, id int64, password string) error
}

// Credentials gives a sold account's customer the password of one delivery (an order's
// credentials e-mail, a resend, a manual claim): rotated once per delivery key, never handing
// out the password the account had in the pool.
type Credentials struct {
	Store   CredentialStore
	Tenants pool.Tenants
}

// Settle returns a carrying the password of delivery key for it. The password is recorded
// (sealed) before the tenant is rotated to it, so a retry — after a failed send, a crash, on
// another replica — hands out the same one, and the old password stops working only once the
// new one is recorded. An account that has the password already is not rotated again.
func (c Credentials) Settle(ctx context.Context, key, orderID string, a pool.Account) (pool.Account, error) {
	if c.Store == nil || c.Tenants == nil {
		return a, errors.New("credentials: store and tenants are required")
	}
	pw, err := c.Store.DeliveryPassword(ctx, key, orderID, a.ID)
	if err != nil {
		return a, err
	}
	if a.CustomerPassword == pw {
		return a, nil // rotated and recorded by an earlier attempt
	}
	if err := c.Tenants.RotateCustomer(ctx, a, pw); err != nil {
		return a, fmt.Errorf("rotate password of %s: %w", a.Slug, err)
	}
	if err := c.Store.SetCustomerPassword(ctx, a.ID, pw); err != nil {
		return a, fmt.Errorf("store rotated password of %s (the tenant has it; the retry hands out the same): %w", a.Slug, err)
	}
	a.CustomerPassword = pw
	return a, nil
}
