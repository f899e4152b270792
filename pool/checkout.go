package pool

// The metadata keys the daemon's storefront sets on every Checkout Session it creates (and on
// the subscription it starts). They are the one place both sides name them: the storefront
// writes them, the webhook reads them — as a hint only, which must agree with the price
// actually paid (Stripe metadata can be set by anyone holding the account's API key).
const (
	// MetaTier is the tier the customer chose.
	MetaTier = "tenantpool_tier"
	// MetaInterval is the billing interval the customer chose ("month", "year").
	MetaInterval = "tenantpool_interval"
	// MetaPrice is the Stripe price the session was created with.
	MetaPrice = "tenantpool_price"
)
