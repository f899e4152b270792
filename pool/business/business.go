// Package business computes the business figures of the shop from what the daemon already
// stores — the orders, the latest status of their Stripe subscriptions and the manual sales —
// and renders them as JSON (Report), CSV (WriteCSV) and an HTML fragment with inline SVG charts
// (Page). The admin API, `poold business` and the Prometheus gauges all read the same Report.
//
// # Where the amounts come from
//
// The store keeps the price ids an order was paid with (orders.tier_keys); the amount of each
// price comes from the tier configuration (`prices: {month: {id, amount_cents, currency}}`, see
// pool.Price), not from the Stripe API. Stripe never changes a price's amount (a new amount is a
// new price), so both would agree for every configured price, and the configuration wins on
// what matters here: the figures are computed offline, by `poold business` without a Stripe key
// and by every replica alike, deterministically in tests, without a network call or a cache to
// warm on every scrape. The cost is that a price missing from the configuration (an old price
// whose subscribers were kept, or one known only through POOL_STRIPE_PRICES) has no amount: its
// subscriptions are counted as Unpriced, shown beside the revenue and never guessed into it.
//
// # What counts
//
//   - A subscription is an order that is not held and not a one-time payment (mode=payment, a
//     term and no subscription). It begins when the order was paid (created) and ends at the
//     first of: its subscription's status becoming canceled, incomplete_expired, unpaid or
//     paused (the time that status began); the order ending on its own (a full refund or a lost
//     dispute: when it was suspended for it).
//   - Paying subscriptions (MRR, ARPA, churn): begun, not ended, and whose latest status is
//     active, past_due (Stripe still bills it, as Stripe's own MRR counts it) or not yet
//     reported (a paid Checkout whose subscription events have not arrived). trialing and
//     incomplete ones are not paying yet: counted as Trialing, outside MRR and the series.
//   - MRR: Σ price amount × seats, a yearly price counting 1/12 per month; ARR = 12 × MRR.
//   - Held orders (no tier or a price that does not add up), one-time payments and manual
//     claims (no price at all) are excluded from every revenue figure and counted on their own.
//   - Churn rate over a period: subscriptions that ended in it ÷ paying subscriptions at its
//     start; the headline rate is over the last 30 days, read as a monthly rate.
//   - ARPA = MRR ÷ paying priced subscriptions (an order of N seats is one account).
//   - LTV = ARPA ÷ monthly churn rate (the expected revenue of an account over its expected
//     lifetime of 1/churn months); none while the churn rate is 0.
//   - Tiers are ranked by their cheapest monthly-equivalent price per seat. Premium share:
//     paying subscriptions on tiers above the cheapest one ÷ paying priced subscriptions (and
//     the same for MRR). Upgrade rate: customers (Stripe customer id) who later bought a tier
//     ranked above one they bought before ÷ customers whose first order was not on the top tier.
//
// The store keeps only a subscription's latest status, so history is rebuilt from each
// subscription's start and end: one that was past_due or trialing in the past counts as it
// stands now over its whole life.
package business

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
)

// Source is what the figures are read from (the store).
type Source interface {
	RevenueOrders(ctx context.Context) ([]store.RevenueOrder, error)
	ManualSales(ctx context.Context) (int, error)
}

var _ Source = (*store.Store)(nil)

// Report is the business figures at one time. Money is in the minor units of Currency (cents).
type Report struct {
	At       time.Time `json:"at"`
	Currency string    `json:"currency"` // "" when no configured price has an amount

	MRRCents int64  `json:"mrr_cents"`
	ARRCents int64  `json:"arr_cents"`
	Plans    []Plan `json:"plans"` // per tier and interval, paying subscriptions only

	Subscriptions int `json:"active_subscriptions"` // paying subscriptions now
	Seats         int `json:"seats"`                // their seats
	PastDue       int `json:"past_due"`             // of them, past_due
	Unpriced      int `json:"unpriced"`             // of them, on a price without a configured amount (not in MRR)
	Trialing      int `json:"trialing"`             // trialing or incomplete: not paying yet
	Held          int `json:"held"`                 // held orders (excluded)
	OneTime       int `json:"one_time"`             // one-time payments (excluded)
	Manual        int `json:"manual"`               // manual claims still with their buyer (excluded)

	New30d       int     `json:"new_30d"`
	Churned30d   int     `json:"churned_30d"`
	ChurnRate    float64 `json:"churn_rate"` // over the last 30 days
	PremiumShare float64 `json:"premium_share"`
	PremiumMRR   float64 `json:"premium_mrr_share"`
	Upgrades     int     `json:"upgrades"`
	Upgradable   int     `json:"upgradable"`
	UpgradeRate  float64 `json:"upgrade_rate"`
	ARPACents    int64   `json:"arpa_cents"`
	LTVCents     *int64  `json:"ltv_cents"` // nil while the churn rate is 0

	Monthly []Point `json:"monthly"` // the last 12 calendar months (UTC), the current one to date
	Daily   []Point `json:"daily"`   // the last 30 days (UTC), today to date
}

// Plan is the paying subscriptions of one tier and interval.
type Plan struct {
	Tier          string `json:"tier"`
	Interval      string `json:"interval"`
	Subscriptions int    `json:"subscriptions"`
	Seats         int    `json:"seats"`
	MRRCents      int64  `json:"mrr_cents"`
	ARRCents      int64  `json:"arr_cents"`
}

// Point is one period of a series: MRR and paying subscriptions at its end (now for the
// current one), subscriptions begun and ended in it, and its churn rate.
type Point struct {
	Start         time.Time `json:"start"`
	Label         string    `json:"label"` // 2026-12 or 2026-12-03
	MRRCents      int64     `json:"mrr_cents"`
	Subscriptions int       `json:"subscriptions"`
	New           int       `json:"new"`
	Churned       int       `json:"churned"`
	ChurnRate     float64   `json:"churn_rate"`
}

// Service computes Reports from a Source with the configured tiers' prices.
type Service struct {
	src   Source
	tiers pool.Tiers
	clock quartz.Clock
}

// New returns a Service; clock nil is the real clock.
func New(src Source, tiers pool.Tiers, clock quartz.Clock) *Service {
	if clock == nil {
		clock = quartz.NewReal()
	}
	return &Service{src: src, tiers: tiers, clock: clock}
}

// Report reads the store and computes the figures as of now.
func (s *Service) Report(ctx context.Context) (Report, error) {
	os, err := s.src.RevenueOrders(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("business: %w", err)
	}
	manual, err := s.src.ManualSales(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("business: %w", err)
	}
	return Compute(os, manual, s.tiers, s.clock.Now()), nil
}

// price is what one configured price id stands for.
type price struct {
	tier, interval string
	monthly        float64 // minor units per seat per month; 0 = unpriced
}

// sub is one subscription as the figures see it.
type sub struct {
	tier, interval string
	customer       string
	start, end     int64   // Unix ms; end 0 = not ended (ints: the series test every subscription 42 times)
	monthly        float64 // minor units per month, seats included; 0 = unpriced
	priced         bool
	paying         bool // status paying (or ended); false = trialing/incomplete
	pastDue        bool
	seats          int
}

func (s sub) activeAt(t int64) bool {
	return s.paying && s.start <= t && (s.end == 0 || s.end > t)
}

// endStatuses are the subscription statuses after which it no longer pays.
var endStatuses = []string{"canceled", "incomplete_expired", "unpaid", "paused"}

// Compute is the pure computation of a Report from the stored orders (see the package doc for
// every definition). now is the report's time; the series end there.
func Compute(orders []store.RevenueOrder, manual int, tiers pool.Tiers, now time.Time) Report {
	now = now.UTC()
	r := Report{At: now, Currency: tiers.Currency(), Manual: manual, Plans: []Plan{}}
	prices := map[string]price{}
	rank := map[string]float64{} // tier → cheapest monthly-equivalent price per seat
	for _, name := range tiers.Names() {
		for _, iv := range pool.Intervals {
			p := tiers[name].Prices[iv]
			if p.ID == "" {
				continue
			}
			m := 0.0
			if p.Priced() {
				m = float64(p.AmountCents)
				if iv == "year" {
					m /= 12
				}
				if cur, ok := rank[name]; !ok || m < cur {
					rank[name] = m
				}
			}
			prices[p.ID] = price{tier: name, interval: iv, monthly: m}
		}
	}

	subs := make([]sub, 0, len(orders))
	for _, o := range orders {
		switch {
		case o.State == store.OrderHeld:
			r.Held++
			continue
		case o.SubscriptionID == "" && !o.TermEndsAt.IsZero():
			r.OneTime++
			continue
		}
		s := sub{tier: o.Tier, customer: o.CustomerID, start: o.CreatedAt.UnixMilli(), seats: max(o.Seats, 1), paying: true}
		for _, k := range o.TierKeys {
			if p, ok := prices[k]; ok && p.tier == o.Tier {
				s.interval, s.monthly, s.priced = p.interval, p.monthly*float64(s.seats), p.monthly > 0
				break
			}
		}
		if slices.Contains(endStatuses, o.SubStatus) {
			s.end = cmpOr(o.SubStatusSince, o.UpdatedAt).UnixMilli()
		}
		if o.Ended != "" {
			if e := cmpOr(o.SuspendedAt, o.UpdatedAt).UnixMilli(); s.end == 0 || e < s.end {
				s.end = e
			}
		}
		switch o.SubStatus {
		case "trialing", "incomplete":
			if s.end == 0 {
				s.paying = false
				r.Trialing++
			}
		case "past_due":
			s.pastDue = true
		}
		subs = append(subs, s)
	}

	// Now.
	var mrr, premiumMRR float64
	var priced, premium int
	entry := math.Inf(1)
	for _, m := range rank {
		entry = min(entry, m)
	}
	plans := map[[2]string]*Plan{}
	planMRR := map[[2]string]float64{}
	nowMS := now.UnixMilli()
	for _, s := range subs {
		if !s.activeAt(nowMS) {
			continue
		}
		r.Subscriptions++
		r.Seats += s.seats
		if s.pastDue {
			r.PastDue++
		}
		if !s.priced {
			r.Unpriced++
			continue
		}
		priced++
		mrr += s.monthly
		if rk, ok := rank[s.tier]; ok && rk > entry {
			premium++
			premiumMRR += s.monthly
		}
		k := [2]string{s.tier, s.interval}
		if plans[k] == nil {
			plans[k] = &Plan{Tier: s.tier, Interval: s.interval}
		}
		plans[k].Subscriptions++
		plans[k].Seats += s.seats
		planMRR[k] += s.monthly
	}
	for k, p := range plans {
		p.MRRCents, p.ARRCents = cents(planMRR[k]), cents(planMRR[k]*12)
		r.Plans = append(r.Plans, *p)
	}
	slices.SortFunc(r.Plans, func(a, b Plan) int {
		if c := cmpRank(rank, a.Tier, b.Tier); c != 0 {
			return c
		}
		return slices.Index(pool.Intervals, a.Interval) - slices.Index(pool.Intervals, b.Interval)
	})
	r.MRRCents, r.ARRCents = cents(mrr), cents(mrr*12)
	if priced > 0 {
		r.PremiumShare = ratio(premium, priced)
		r.ARPACents = cents(mrr / float64(priced))
	}
	if mrr > 0 {
		r.PremiumMRR = round4(premiumMRR / mrr)
	}

	// The last 30 days, the headline churn and LTV.
	from := now.Add(-30 * 24 * time.Hour).UnixMilli()
	base := 0
	for _, s := range subs {
		if s.activeAt(from) {
			base++
		}
		if s.paying && s.start > from && s.start <= nowMS {
			r.New30d++
		}
		if s.paying && s.end != 0 && s.end > from && s.end <= nowMS {
			r.Churned30d++
		}
	}
	if base > 0 {
		r.ChurnRate = ratio(r.Churned30d, base)
	}
	if r.ChurnRate > 0 && r.ARPACents > 0 {
		ltv := cents(mrr / float64(priced) / (float64(r.Churned30d) / float64(base)))
		r.LTVCents = &ltv
	}

	r.Upgrades, r.Upgradable = upgrades(subs, rank)
	if r.Upgradable > 0 {
		r.UpgradeRate = ratio(r.Upgrades, r.Upgradable)
	}

	// The series.
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	for i := 11; i >= 0; i-- {
		start := month.AddDate(0, -i, 0)
		r.Monthly = append(r.Monthly, point(subs, start, start.AddDate(0, 1, 0), now, start.Format("2006-01")))
	}
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	for i := 29; i >= 0; i-- {
		start := day.AddDate(0, 0, -i)
		r.Daily = append(r.Daily, point(subs, start, start.AddDate(0, 0, 1), now, start.Format("2006-01-02")))
	}
	return r
}

// point computes one period [start, end) of a series, up to now.
func point(subs []sub, start, end, now time.Time, label string) Point {
	p := Point{Start: start, Label: label}
	lo, hi, nowMS := start.UnixMilli(), end.UnixMilli(), now.UnixMilli()
	at, before := min(hi-1, nowMS), lo-1
	base := 0
	var mrr float64
	for _, s := range subs {
		if !s.paying {
			continue
		}
		if s.activeAt(at) {
			p.Subscriptions++
			mrr += s.monthly
		}
		if s.activeAt(before) {
			base++
		}
		if s.start >= lo && s.start < hi && s.start <= nowMS {
			p.New++
		}
		if s.end != 0 && s.end >= lo && s.end < hi && s.end <= nowMS {
			p.Churned++
		}
	}
	p.MRRCents = cents(mrr)
	if base > 0 {
		p.ChurnRate = ratio(p.Churned, base)
	}
	return p
}

// upgrades counts the customers who bought a tier ranked above one they had bought before, and
// the customers who could have (their first order was not on the top tier). Unranked tiers
// (no priced price) take no part.
func upgrades(subs []sub, rank map[string]float64) (up, could int) {
	top := math.Inf(-1)
	for _, m := range rank {
		top = max(top, m)
	}
	byCustomer := map[string][]sub{}
	for _, s := range subs {
		if _, ok := rank[s.tier]; ok && s.customer != "" {
			byCustomer[s.customer] = append(byCustomer[s.customer], s)
		}
	}
	for _, ss := range byCustomer {
		slices.SortStableFunc(ss, func(a, b sub) int { return cmp.Compare(a.start, b.start) })
		if rank[ss[0].tier] >= top {
			continue
		}
		could++
		low := rank[ss[0].tier]
		for _, s := range ss[1:] {
			if rank[s.tier] > low {
				up++
				break
			}
			low = min(low, rank[s.tier])
		}
	}
	return up, could
}

func cmpRank(rank map[string]float64, a, b string) int {
	ra, oka := rank[a]
	rb, okb := rank[b]
	switch {
	case oka && okb && ra != rb:
		if ra < rb {
			return -1
		}
		return 1
	case oka != okb:
		if oka {
			return -1
		}
		return 1
	}
	if a < b {
		return -1
	} else if a > b {
		return 1
	}
	return 0
}

func cmpOr(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func cents(v float64) int64 { return int64(math.Round(v)) }

// ratio is a/b rounded to 4 decimals (so that JSON, CSV and the page agree digit for digit).
func ratio(a, b int) float64 { return round4(float64(a) / float64(b)) }

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }
