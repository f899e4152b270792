package cli

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/shop"
)

// maxShopQuantity bounds POOL_MAX_SEATS (seats per order; the webhook bounds what it fulfils by the same setting).
const maxShopQuantity = 10000

// shopSettings reads the storefront's environment, reporting every problem at once. The
// storefront is on (non-nil) when both a Stripe API key and the public URL are set: the key
// alone may be there for the webhook's own Stripe calls.
func (e *Env) shopSettings() (*daemon.Shop, error) {
	key, err := e.readSecretEnv("POOL_STRIPE_API_KEY")
	if err != nil {
		return nil, err
	}
	if key == "" || e.Getenv("POOL_PUBLIC_URL") == "" {
		return nil, nil
	}
	var errs []error
	bad := func(err error) { errs = append(errs, err) }
	if err := shop.ValidateAPIKey(key); err != nil {
		bad(fmt.Errorf("POOL_STRIPE_API_KEY: %w", err))
	}
	c := &daemon.Shop{APIKey: key, APIURL: e.Getenv("POOL_STRIPE_API_URL"), CancelURL: e.Getenv("POOL_SHOP_CANCEL_URL")}
	if c.PublicURL, err = shop.ParsePublicURL(e.Getenv("POOL_PUBLIC_URL")); err != nil {
		bad(fmt.Errorf("POOL_PUBLIC_URL: %w", err))
	}
	if c.APIURL != "" {
		if _, err := shop.ParsePublicURL(c.APIURL); err != nil {
			bad(fmt.Errorf("POOL_STRIPE_API_URL: %w", err))
		}
	}
	if c.CancelURL != "" {
		if _, err := shop.ParsePublicURL(c.CancelURL); err != nil {
			bad(fmt.Errorf("POOL_SHOP_CANCEL_URL: %w", err))
		}
	}
	if v := e.Getenv("POOL_MAX_SEATS"); v != "" {
		if c.MaxQuantity, err = strconv.Atoi(v); err != nil || c.MaxQuantity < 1 || c.MaxQuantity > maxShopQuantity {
			bad(fmt.Errorf("POOL_MAX_SEATS %q: want a whole number from 1 to %d", v, maxShopQuantity))
		}
	}
	return c, errors.Join(errs...)
}

// shopConfig adds the storefront settings of the environment to cfg.
func (e *Env) shopConfig(cfg *daemon.Config) error {
	c, err := e.shopSettings()
	if err != nil {
		return err
	}
	cfg.Shop = c
	return nil
}
