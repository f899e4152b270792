package shop

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/axiestudio/tenantpool/pool"
)

// cachedPrice is a price's display amount ("" when it could not be fetched) and when it was
// fetched.
type cachedPrice struct {
	amount string
	at     time.Time
	ok     bool
}

// failedPriceTTL is how long a failed price lookup is remembered, so that a Stripe outage does
// not cost every page view a round of API calls.
const failedPriceTTL = time.Minute

type tierView struct {
	Name          string
	MemoryMB      int
	CPUs          float64
	CustomDomains int
	Branding      bool
	Options       []option
}

type option struct {
	Interval string
	Amount   string // e.g. "29.00 EUR"; "" when unknown
	Checked  bool
}

type pricingPage struct {
	Base        string
	Tiers       []tierView
	MaxQuantity int
}

// catalogue lists the tiers that have a price, smallest first, with their prices per interval
// (amounts from Stripe, cached).
func (s *Shop) catalogue(ctx context.Context) pricingPage {
	page := pricingPage{Base: s.cfg.PublicURL, MaxQuantity: s.cfg.MaxQuantity}
	for _, t := range s.cfg.Tiers {
		v := tierView{Name: t.Name, MemoryMB: t.MemoryMB, CPUs: t.CPUs, CustomDomains: t.CustomDomains, Branding: t.Branding}
		for _, iv := range pool.Intervals {
			if p := t.Prices[iv].ID; p != "" {
				v.Options = append(v.Options, option{Interval: iv, Amount: s.amount(ctx, p, iv), Checked: len(v.Options) == 0})
			}
		}
		if len(v.Options) > 0 {
			page.Tiers = append(page.Tiers, v)
		}
	}
	slices.SortFunc(page.Tiers, func(a, b tierView) int {
		if a.MemoryMB != b.MemoryMB {
			return a.MemoryMB - b.MemoryMB
		}
		if a.CustomDomains != b.CustomDomains {
			return a.CustomDomains - b.CustomDomains
		}
		return strings.Compare(a.Name, b.Name)
	})
	return page
}

// amount is the display amount of a price, from Stripe (V1Prices.Retrieve), cached for
// PriceTTL. A price Stripe does not bill at the interval it is configured for is logged and
// shown without an amount.
func (s *Shop) amount(ctx context.Context, id, interval string) string {
	now := s.cfg.Now()
	s.mu.Lock()
	c, hit := s.prices[id]
	s.mu.Unlock()
	if hit && ((c.ok && now.Sub(c.at) < s.cfg.PriceTTL) || (!c.ok && now.Sub(c.at) < failedPriceTTL)) {
		return c.amount
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c = cachedPrice{at: now}
	p, err := s.cfg.Stripe.V1Prices.Retrieve(ctx, id, nil)
	switch {
	case err != nil:
		s.log.Warn("pricing: price not fetched; shown without an amount", "price", id, "err", stripeErr(err))
	case p.Recurring == nil || string(p.Recurring.Interval) != interval || p.Recurring.IntervalCount != 1:
		s.log.Warn("pricing: the price is not billed every "+interval+" in Stripe; check the tier's prices", "price", id)
		c.ok = true
	default:
		c.amount, c.ok = formatAmount(p.UnitAmount, string(p.Currency)), true
	}
	s.mu.Lock()
	s.prices[id] = c
	s.mu.Unlock()
	return c.amount
}

// zeroDecimal are the currencies Stripe counts in whole units.
var zeroDecimal = []string{"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}

func formatAmount(minor int64, currency string) string {
	cur := strings.ToUpper(currency)
	if slices.Contains(zeroDecimal, strings.ToLower(currency)) {
		return strconv.FormatInt(minor, 10) + " " + cur
	}
	return fmt.Sprintf("%d.%02d %s", minor/100, minor%100, cur)
}

// pricing is GET /pricing, a full page around the snippet.
func (s *Shop) pricing(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "pricing.html", s.catalogue(r.Context()), true)
}

// snippet is GET /pricing/snippet: the tiers as an HTML fragment for the shop's own pages
// (public content: any site may fetch it).
func (s *Shop) snippet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	s.render(w, http.StatusOK, "snippet.html", s.catalogue(r.Context()), true)
}
