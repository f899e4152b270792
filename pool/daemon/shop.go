package daemon

import (
	"maps"
	"net/http"

	"github.com/axiestudio/tenantpool/pool/shop"
	"github.com/axiestudio/tenantpool/pool/store"
)

// Shop configures the storefront (package shop): Stripe Checkout, the welcome page, the
// billing portal and the pricing snippet.
type Shop struct {
	APIKey      string // Stripe secret or restricted key (never logged)
	APIURL      string // Stripe API base ("" = Stripe's; tests: stripe-mock)
	PublicURL   string // where customers reach the public listener
	CancelURL   string // "" = <PublicURL>/pricing
	MaxQuantity int    // seats per checkout (0 = shop.DefaultMaxQuantity)
}

// newShop adds the storefront's routes to the public listener's (nothing when it is off).
func newShop(cfg Config, s *store.Store, public map[string]http.Handler) error {
	if cfg.Shop == nil {
		cfg.Log.Warn("storefront disabled: it needs POOL_STRIPE_API_KEY and POOL_PUBLIC_URL")
		return nil
	}
	c := cfg.Shop
	sh, err := shop.New(shop.Config{Store: s, Tiers: cfg.Tiers, Stripe: shop.NewStripeClient(c.APIKey, c.APIURL, nil),
		PublicURL: c.PublicURL, CancelURL: c.CancelURL, MaxQuantity: c.MaxQuantity, Log: cfg.Log})
	if err != nil {
		return err
	}
	maps.Copy(public, sh.Routes())
	return nil
}
