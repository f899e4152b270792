package business_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/business"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testTiers: basic 29.00/month or 290.00/year, premium 99.00/month, enterprise 299.00/month, and
// basic's older price_old without an amount (its subscriptions are unpriced).
func testTiers(t testing.TB) pool.Tiers {
	t.Helper()
	ts, err := pool.NewTiers([]pool.Tier{
		{Name: "basic", MinReady: 0, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 1024, CPUs: 1, PriceID: "price_old",
			Prices: map[string]pool.Price{"month": {ID: "price_bm", AmountCents: 2900, Currency: "usd"},
				"year": {ID: "price_by", AmountCents: 29000, Currency: "usd"}}},
		{Name: "premium", MinReady: 0, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 2048, CPUs: 1.5,
			Prices: map[string]pool.Price{"month": {ID: "price_pm", AmountCents: 9900, Currency: "usd"}}},
		{Name: "enterprise", MinReady: 0, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 4096, CPUs: 2,
			Prices: map[string]pool.Price{"month": {ID: "price_em", AmountCents: 29900, Currency: "usd"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// now is the reports' time in these tests.
var now = time.Date(2026, 12, 15, 12, 0, 0, 0, time.UTC)

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// seed writes the known set of orders, each at its own time on the store's clock:
//
//	o1 basic/month, customer c1, claimed and delivered through a real claim, active    → 29.00
//	o2 basic/year ×2 seats, c2, no subscription event yet (paying)                    → 2×290/12 = 48.33
//	o3 premium/month, c1 (an upgrade from o1), past_due                               → 99.00
//	o4 enterprise/month, c4, canceled on 2026-12-01 10:00                             → churned
//	o5 basic/month, c5, trialing                                                      → not paying yet
//	o6 premium/month, c6, refunded and suspended on 2026-10-05                        → churned
//	o7 held (the price paid did not add up)                                           → excluded
//	o8 one-time payment (mode=payment: a term, no subscription)                       → excluded
//	o9 basic on price_old (no amount configured), c9                                  → unpriced
//	manual:m1, a manual claim of a basic account                                      → excluded
func seed(t *testing.T, s *store.Store, clock *quartz.Mock) {
	t.Helper()
	ctx := context.Background()
	at := func(when string) { clock.Set(day(when)) }
	pending := func(when string, o store.Order) {
		t.Helper()
		at(when)
		if _, err := s.AddPendingOrder(ctx, o, "evt_"+o.ID, "checkout.session.completed", "client"); err != nil {
			t.Fatal(err)
		}
	}
	status := func(when, sub, st string) {
		t.Helper()
		at(when)
		if _, _, err := s.SetSubscriptionStatus(ctx, "evt_"+sub+"_"+st, "customer.subscription.updated", sub, st, day(when)); err != nil {
			t.Fatal(err)
		}
	}

	at("2026-06-10 09:00")
	ready, err := s.CreateAccounts(ctx, "basic", "client", 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ready {
		if err := s.MarkReady(ctx, a.ID, pool.Provisioned{Host: "h1", URL: "https://" + a.Slug + ".example.test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.ClaimOrder(ctx, store.Order{ID: "o1", Tier: "basic", TierKeys: []string{"price_bm"}, CustomerEmail: "c1@example.test",
		CustomerID: "c1", SubscriptionID: "s1"}, "evt_o1", "checkout.session.completed"); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordEmail(ctx, "o1", "o1/credentials", true); err != nil {
		t.Fatal(err)
	}
	status("2026-06-10 09:01", "s1", "active")
	if _, _, err := s.Claim(ctx, "basic", store.ManualOrderID("m1")); err != nil {
		t.Fatal(err)
	}

	pending("2026-07-01 08:00", store.Order{ID: "o4", Tier: "enterprise", TierKeys: []string{"price_em"}, CustomerEmail: "c4@example.test",
		CustomerID: "c4", SubscriptionID: "s4"})
	status("2026-07-01 08:01", "s4", "active")
	pending("2026-08-01 08:00", store.Order{ID: "o6", Tier: "premium", TierKeys: []string{"price_pm"}, CustomerEmail: "c6@example.test",
		CustomerID: "c6", SubscriptionID: "s6"})
	status("2026-08-01 08:01", "s6", "active")
	pending("2026-09-01 08:00", store.Order{ID: "o2", Tier: "basic", TierKeys: []string{"price_by"}, CustomerEmail: "c2@example.test",
		CustomerID: "c2", SubscriptionID: "s2", Seats: 2})
	pending("2026-09-15 08:00", store.Order{ID: "o7", State: store.OrderHeld, TierKeys: []string{"price_bm"}, CustomerEmail: "c7@example.test",
		CustomerID: "c7", SubscriptionID: "s7", LastError: "amounts do not add up"})
	pending("2026-10-01 08:00", store.Order{ID: "o9", Tier: "basic", TierKeys: []string{"price_old"}, CustomerEmail: "c9@example.test",
		CustomerID: "c9", SubscriptionID: "s9"})
	at("2026-10-05 10:00")
	if id, err := s.EndOrder(ctx, "evt_refund_o6", "charge.refunded", "", "c6", "refunded"); err != nil || id != "o6" {
		t.Fatalf("EndOrder = %q, %v", id, err)
	}
	if _, err := s.SuspendOrder(ctx, "o6", 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	pending("2026-10-10 08:00", store.Order{ID: "o8", Tier: "basic", TierKeys: []string{"price_bm"}, CustomerEmail: "c8@example.test",
		CustomerID: "c8", PaymentIntent: "pi_8", TermEndsAt: day("2026-11-09 08:00")})
	pending("2026-11-20 08:00", store.Order{ID: "o3", Tier: "premium", TierKeys: []string{"price_pm"}, CustomerEmail: "c1@example.test",
		CustomerID: "c1", SubscriptionID: "s3"})
	status("2026-12-01 10:00", "s4", "canceled")
	status("2026-12-02 08:00", "s3", "past_due")
	pending("2026-12-10 08:00", store.Order{ID: "o5", Tier: "basic", TierKeys: []string{"price_bm"}, CustomerEmail: "c5@example.test",
		CustomerID: "c5", SubscriptionID: "s5"})
	status("2026-12-10 08:01", "s5", "trialing")
	at("2026-12-15 12:00")
}

func TestReportFromKnownOrders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		clock := quartz.NewMock(t)
		s := open(clock)
		seed(t, s, clock)
		r, err := business.New(s, testTiers(t), clock).Report(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// 29.00 + 2 × 290.00 / 12 + 99.00 = 176.3333…
		check := func(name string, got, want any) {
			t.Helper()
			if got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
		check("currency", r.Currency, "usd")
		check("MRR", r.MRRCents, int64(17633))
		check("ARR", r.ARRCents, int64(211600))
		check("subscriptions", r.Subscriptions, 4) // o1, o2, o3, o9
		check("seats", r.Seats, 5)
		check("past due", r.PastDue, 1)
		check("unpriced", r.Unpriced, 1)
		check("trialing", r.Trialing, 1)
		check("held", r.Held, 1)
		check("one-time", r.OneTime, 1)
		check("manual", r.Manual, 1)
		// From 2026-11-15 12:00: paying then o1, o2, o4, o9; o4 ended; o3 began.
		check("new 30d", r.New30d, 1)
		check("churned 30d", r.Churned30d, 1)
		check("churn rate", r.ChurnRate, 0.25)
		check("ARPA", r.ARPACents, int64(5878))          // 17633.33 / 3 priced
		check("premium share", r.PremiumShare, 0.3333)   // o3 of o1, o2, o3
		check("premium MRR share", r.PremiumMRR, 0.5614) // 9900 / 17633.33
		check("upgrades", r.Upgrades, 1)                 // c1: basic, then premium
		check("upgradable", r.Upgradable, 5)             // c1, c2, c5, c6, c9 (c4 began on the top tier)
		check("upgrade rate", r.UpgradeRate, 0.2)        //
		if r.LTVCents == nil || *r.LTVCents != 23511 {   // 5877.78 / 0.25
			t.Errorf("LTV = %v, want 23511", r.LTVCents)
		}
		want := []business.Plan{
			{Tier: "basic", Interval: "month", Subscriptions: 1, Seats: 1, MRRCents: 2900, ARRCents: 34800},
			{Tier: "basic", Interval: "year", Subscriptions: 1, Seats: 2, MRRCents: 4833, ARRCents: 58000},
			{Tier: "premium", Interval: "month", Subscriptions: 1, Seats: 1, MRRCents: 9900, ARRCents: 118800},
		}
		if len(r.Plans) != len(want) {
			t.Fatalf("plans = %+v, want %+v", r.Plans, want)
		}
		for i := range want {
			check("plan "+want[i].Tier+"/"+want[i].Interval, r.Plans[i], want[i])
		}

		if len(r.Monthly) != 12 || len(r.Daily) != 30 {
			t.Fatalf("series: %d months, %d days; want 12 and 30", len(r.Monthly), len(r.Daily))
		}
		months := map[string]business.Point{}
		for _, p := range r.Monthly {
			months[p.Label] = p
		}
		check("first month", r.Monthly[0].Label, "2026-01")
		check("last month", r.Monthly[11].Label, "2026-12")
		type mp struct {
			mrr               int64
			subs, nw, churned int
			rate              float64
		}
		for label, w := range map[string]mp{
			"2026-05": {0, 0, 0, 0, 0},
			"2026-06": {2900, 1, 1, 0, 0},
			"2026-07": {2900 + 29900, 2, 1, 0, 0},
			"2026-09": {2900 + 29900 + 9900 + 4833, 4, 1, 0, 0},
			// o9 (unpriced) began, o6 was refunded: paying at the start o1, o4, o6, o2.
			"2026-10": {37633, 4, 1, 1, 0.25},
			"2026-11": {47533, 5, 1, 0, 0},
			// o4 canceled: paying at the start o1, o4, o2, o9, o3.
			"2026-12": {17633, 4, 0, 1, 0.2},
		} {
			p := months[label]
			got := mp{p.MRRCents, p.Subscriptions, p.New, p.Churned, p.ChurnRate}
			if got != w {
				t.Errorf("month %s = %+v, want %+v", label, got, w)
			}
		}
		check("last day", r.Daily[29].Label, "2026-12-15")
		days := map[string]business.Point{}
		for _, p := range r.Daily {
			days[p.Label] = p
		}
		check("2026-11-30 MRR", days["2026-11-30"].MRRCents, int64(47533))
		check("2026-12-01 churned", days["2026-12-01"].Churned, 1)
		check("2026-12-01 MRR", days["2026-12-01"].MRRCents, int64(17633))
		check("2026-11-20 new", days["2026-11-20"].New, 1)

		// The CSV of the same report, against its golden file.
		var buf bytes.Buffer
		if err := business.WriteCSV(&buf, r); err != nil {
			t.Fatal(err)
		}
		golden(t, "report.csv", buf.Bytes())
	})
}

func TestReportEmptyStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		clock := quartz.NewMock(t)
		clock.Set(now)
		r, err := business.New(open(clock), testTiers(t), clock).Report(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.MRRCents != 0 || r.Subscriptions != 0 || r.ChurnRate != 0 || r.LTVCents != nil || r.ARPACents != 0 || len(r.Plans) != 0 {
			t.Errorf("empty store: %+v", r)
		}
		if len(r.Monthly) != 12 || len(r.Daily) != 30 {
			t.Errorf("series: %d months, %d days", len(r.Monthly), len(r.Daily))
		}
		var buf bytes.Buffer
		if err := business.WriteCSV(&buf, r); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), "\nltv_cents,,,,\n") || !strings.Contains(buf.String(), "\nmrr_cents,,,,0\n") {
			t.Errorf("empty CSV:\n%s", buf.String())
		}
		var page bytes.Buffer
		if err := business.Page(&page, r); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(page.String(), "No paying subscription yet") {
			t.Errorf("empty page has no empty state:\n%s", page.String())
		}
	})
}

func TestUnpricedConfigurationSaysSo(t *testing.T) {
	ts, err := pool.NewTiers([]pool.Tier{{Name: "basic", MinReady: 0, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 1024, CPUs: 1,
		Prices: map[string]pool.Price{"month": {ID: "price_bm"}}}})
	if err != nil {
		t.Fatal(err)
	}
	r := business.Compute([]store.RevenueOrder{{ID: "o1", State: store.OrderDelivered, Tier: "basic", TierKeys: []string{"price_bm"},
		SubscriptionID: "s1", Seats: 1, CreatedAt: now.Add(-time.Hour)}}, 0, ts, now)
	if r.Currency != "" || r.MRRCents != 0 || r.Unpriced != 1 || r.Subscriptions != 1 {
		t.Errorf("report = %+v, want one unpriced subscription and no currency", r)
	}
	var page bytes.Buffer
	if err := business.Page(&page, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "amount_cents") {
		t.Errorf("the page does not say how to price the tiers:\n%s", page.String())
	}
}

func TestPage(t *testing.T) {
	clock := quartz.NewMock(t)
	clock.Set(now)
	s := storetest.OpenSQLite(t, t.TempDir(), clock)
	seed(t, s, clock)
	r, err := business.New(s, testTiers(t), clock).Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := business.Page(&buf, r); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{
		`data-figure="mrr" data-cents="17633">176.33 USD<`,
		`data-plan-mrr="basic/year">48.33 USD<`,
		`<svg id="business-mrr-monthly"`, `<svg id="business-flow-monthly"`, `<svg id="business-mrr-daily"`,
		`<title>2026-12: MRR 176.33 USD, 4 subscriptions</title>`,
		`<title>2026-10: 1 new, 1 churned, churn rate 25.0 %</title>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(html, "<script") || strings.Contains(html, "<html") {
		t.Error("the page is a fragment without script")
	}
	// 12 months of one bar, 12 of two, 30 days of one.
	if n := strings.Count(html, "<rect "); n != 12+24+30 {
		t.Errorf("%d bars, want %d", n, 12+24+30)
	}
}

func TestMoney(t *testing.T) {
	for in, want := range map[[2]string]string{
		{"0", "usd"}: "0.00 USD", {"5", "eur"}: "0.05 EUR", {"123456789", "usd"}: "1,234,567.89 USD",
		{"1500", "jpy"}: "1,500 JPY", {"-250", ""}: "-2.50",
	} {
		var n int64
		for _, r := range strings.TrimPrefix(in[0], "-") {
			n = n*10 + int64(r-'0')
		}
		if strings.HasPrefix(in[0], "-") {
			n = -n
		}
		if got := business.Money(n, in[1]); got != want {
			t.Errorf("Money(%s, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n%s", name, got)
	}
}
