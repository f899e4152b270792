package orders

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82"
)

// NewStripeClient returns a Stripe API client for key; apiURL, when set, replaces the API base
// (tests point it at stripe-mock). Failed calls are retried once by the client; the webhook
// answers 5xx after that so that Stripe redelivers the event.
func NewStripeClient(key, apiURL string) *stripe.Client {
	cfg := &stripe.BackendConfig{
		MaxNetworkRetries: stripe.Int64(1),
		HTTPClient:        &http.Client{Timeout: 8 * time.Second},
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelError},
	}
	if apiURL != "" {
		cfg.URL = stripe.String(apiURL)
	}
	return stripe.NewClient(key, stripe.WithBackends(stripe.NewBackendsWithConfig(cfg)))
}

// LivemodeOfKey reports whether a Stripe API key is a live-mode key (sk_live_, rk_live_) or a
// test-mode one (sk_test_, rk_test_); ok is false for anything else.
func LivemodeOfKey(key string) (live, ok bool) {
	for _, p := range []string{"sk_live_", "rk_live_"} {
		if strings.HasPrefix(key, p) {
			return true, true
		}
	}
	for _, p := range []string{"sk_test_", "rk_test_"} {
		if strings.HasPrefix(key, p) {
			return false, true
		}
	}
	return false, false
}

// errStripeRejected marks a lookup the Stripe API refused for this session (not found, invalid):
// retrying the webhook cannot help, so the order is held for the operator.
var errStripeRejected = errors.New("stripe api refused the lookup")

// paidItem is one line item as Stripe charged it.
type paidItem struct {
	PriceID        string
	Currency       string
	UnitAmount     int64
	HasUnitAmount  bool // false for prices without a fixed unit amount (tiered, custom)
	Quantity       int64
	AmountSubtotal int64
}

// paidSession is what Stripe's API says a session charged: its line items and amounts.
type paidSession struct {
	Currency       string
	AmountSubtotal int64
	AmountTotal    int64
	Discount       int64
	Tax            int64
	Shipping       int64
	Items          []paidItem
}

// fetchSession loads a Checkout Session's line items and amounts from the Stripe API
// (checkout.session.completed never carries line items). Transient failures (network, timeouts,
// 429, 5xx, and 401/403 which an operator fixes by correcting the key) come back as plain
// errors: the webhook answers 5xx and Stripe redelivers the event for days, so nothing is lost
// and no second retry mechanism is needed. A request Stripe refuses for this session (404,
// other 4xx) is errStripeRejected.
func (s *Service) fetchSession(ctx context.Context, id string) (paidSession, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // well inside the time Stripe waits for an answer
	defer cancel()
	params := &stripe.CheckoutSessionRetrieveParams{}
	params.Context = ctx
	params.AddExpand("line_items")
	cs, err := s.cfg.Stripe.V1CheckoutSessions.Retrieve(ctx, id, params)
	if err != nil {
		return paidSession{}, classifyStripe(err)
	}
	out := paidSession{Currency: string(cs.Currency), AmountSubtotal: cs.AmountSubtotal, AmountTotal: cs.AmountTotal}
	if td := cs.TotalDetails; td != nil {
		out.Discount, out.Tax, out.Shipping = td.AmountDiscount, td.AmountTax, td.AmountShipping
	}
	add := func(li *stripe.LineItem) {
		it := paidItem{Currency: string(li.Currency), Quantity: li.Quantity, AmountSubtotal: li.AmountSubtotal}
		if li.Price != nil {
			it.PriceID = li.Price.ID
			it.UnitAmount = li.Price.UnitAmount
			it.HasUnitAmount = li.Price.UnitAmount > 0 || li.Price.UnitAmountDecimal > 0
		}
		out.Items = append(out.Items, it)
	}
	if cs.LineItems == nil {
		return out, nil
	}
	for _, li := range cs.LineItems.Data {
		add(li)
	}
	if !cs.LineItems.HasMore {
		return out, nil
	}
	// More than the expanded page: list them all.
	out.Items = nil
	lp := &stripe.CheckoutSessionListLineItemsParams{Session: stripe.String(id)}
	lp.Context = ctx
	for li, err := range s.cfg.Stripe.V1CheckoutSessions.ListLineItems(ctx, lp) {
		if err != nil {
			return paidSession{}, classifyStripe(err)
		}
		add(li)
	}
	return out, nil
}

func classifyStripe(err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		code := se.HTTPStatusCode
		switch {
		case code == http.StatusTooManyRequests || code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500 || code == 0:
			return fmt.Errorf("stripe api (%d): %s", code, se.Msg)
		default:
			return fmt.Errorf("%w (%d): %s", errStripeRejected, code, se.Msg)
		}
	}
	return fmt.Errorf("stripe api: %w", err)
}

// sessionHints are what the session's creator wrote (metadata) or which payment link sold it:
// hints that must agree with the price actually paid.
type sessionHints struct {
	Tier        string // metadata "tier"
	PriceID     string // metadata "price_id"
	PaymentLink string
	Mode        string // "subscription" or "payment"
	Status      string // payment_status
}

// verdict is what to do with a completed session: ignore it (not ours), hold it for the
// operator (Hold says why; Retry when a configuration change can resolve it), or claim Seats
// accounts of Tier.
type verdict struct {
	Ignore string
	Hold   string
	Retry  bool
	Tier   string
	Seats  int
}

// judge decides what a session bought from the price actually paid (its line items, through the
// price map) and checks that the amounts Stripe charged agree with those prices and that every
// hint agrees with them. It is pure.
func (s *Service) judge(p paidSession, h sessionHints) verdict {
	hold := func(retry bool, format string, args ...any) verdict {
		return verdict{Hold: fmt.Sprintf(format, args...), Retry: retry}
	}
	var ours []paidItem
	tiers := map[string]bool{}
	foreign := 0
	for _, it := range p.Items {
		if t, ok := s.prices[it.PriceID]; ok {
			ours = append(ours, it)
			tiers[t] = true
		} else {
			foreign++
		}
	}
	linkTier := s.prices[h.PaymentLink]
	metaOurs := h.Tier != "" || h.PriceID != ""
	if len(ours) == 0 && linkTier == "" {
		if !metaOurs {
			return verdict{Ignore: "no line item is a price of ours and no metadata of ours: another product"}
		}
		return hold(true, "metadata names tier %q / price %q, but no line item's price (%s) is mapped to a tier",
			h.Tier, h.PriceID, strings.Join(priceIDs(p.Items), ","))
	}
	var tier string
	switch {
	case len(tiers) > 1:
		return hold(false, "line items buy several tiers (%s)", strings.Join(sortedKeys(tiers), ","))
	case len(tiers) == 1:
		tier = sortedKeys(tiers)[0]
	default:
		tier = linkTier
		ours = p.Items // sold by a payment link of ours: its items are the product
		foreign = 0
	}
	if foreign > 0 {
		return hold(false, "session mixes prices of ours with %d other line item(s)", foreign)
	}
	if linkTier != "" && linkTier != tier {
		return hold(false, "payment link %s sells tier %s, the price paid is tier %s", h.PaymentLink, linkTier, tier)
	}
	if h.Tier != "" && h.Tier != tier {
		return hold(false, "metadata tier %q disagrees with the price paid (tier %s)", h.Tier, tier)
	}
	if h.PriceID != "" && !slices.Contains(priceIDs(p.Items), h.PriceID) {
		return hold(false, "metadata price_id %q is not among the line items (%s)", h.PriceID, strings.Join(priceIDs(p.Items), ","))
	}
	if reason := checkAmounts(p, h); reason != "" {
		return hold(false, "amounts disagree with the prices: %s", reason)
	}
	var seats int64
	for _, it := range ours {
		seats += it.Quantity
	}
	switch {
	case seats < 1:
		return hold(false, "quantity %d", seats)
	case seats > int64(s.cfg.MaxSeats):
		return hold(false, "%d seats, more than the %d an order may claim (POOL_MAX_SEATS)", seats, s.cfg.MaxSeats)
	}
	return verdict{Tier: tier, Seats: int(seats)}
}

// checkAmounts checks the session's currency and amounts against its line items' prices and
// quantities. Stripe reports a discount (coupon, promotion code) in total_details.amount_discount
// and leaves the line items' subtotals at price × quantity; amount_total is subtotal − discount +
// shipping, plus tax unless the prices include it. A 100 % coupon gives amount_total 0; a trial
// charges nothing today (payment_status no_payment_required), and its line items may then show
// 0 instead of price × quantity.
func checkAmounts(p paidSession, h sessionHints) string {
	free := p.AmountTotal == 0 && h.Status == "no_payment_required"
	var sum int64
	for _, it := range p.Items {
		if !strings.EqualFold(it.Currency, p.Currency) {
			return fmt.Sprintf("line item %s in %q, session in %q", it.PriceID, it.Currency, p.Currency)
		}
		if it.HasUnitAmount && it.AmountSubtotal != it.UnitAmount*it.Quantity && !(free && it.AmountSubtotal == 0) {
			return fmt.Sprintf("line item %s: subtotal %d is not %d × %d", it.PriceID, it.AmountSubtotal, it.UnitAmount, it.Quantity)
		}
		sum += it.AmountSubtotal
	}
	if p.AmountSubtotal != sum {
		return fmt.Sprintf("session subtotal %d, line items sum to %d", p.AmountSubtotal, sum)
	}
	if free {
		return "" // nothing charged today (trial, 100 % coupon): the price decides, no total to check
	}
	low := p.AmountSubtotal - p.Discount + p.Shipping
	if low < 0 {
		low = 0
	}
	if p.AmountTotal < low || p.AmountTotal > low+p.Tax {
		return fmt.Sprintf("total %d, expected %d (subtotal %d − discount %d + shipping %d, plus tax %d unless included)",
			p.AmountTotal, low, p.AmountSubtotal, p.Discount, p.Shipping, p.Tax)
	}
	return ""
}

func priceIDs(items []paidItem) []string {
	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.PriceID)
	}
	return ids
}

func sortedKeys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
