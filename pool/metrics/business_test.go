package metrics_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/business"
	"github.com/axiestudio/tenantpool/pool/metrics"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// The business gauges are the report's figures, every configured plan reported (0 included),
// read again only once their cache interval is over.
func TestBusinessGauges(t *testing.T) {
	ctx := context.Background()
	clk := quartz.NewMock(t)
	clk.Set(time.Date(2026, 12, 15, 12, 0, 0, 0, time.UTC))
	s := storetest.OpenSQLite(t, t.TempDir(), clk)
	tiers, err := pool.NewTiers([]pool.Tier{
		{Name: "basic", MinReady: 0, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 1024, CPUs: 1,
			Prices: map[string]pool.Price{"month": {ID: "price_bm", AmountCents: 2900, Currency: "eur"},
				"year": {ID: "price_by", AmountCents: 29000, Currency: "eur"}}},
		{Name: "premium", MinReady: 0, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 2048, CPUs: 1,
			Prices: map[string]pool.Price{"month": {ID: "price_pm", AmountCents: 9900, Currency: "eur"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	order := func(id, price, tier string, seats int) {
		t.Helper()
		if _, err := s.AddPendingOrder(ctx, store.Order{ID: id, Tier: tier, TierKeys: []string{price}, CustomerEmail: id + "@example.test",
			CustomerID: "cus_" + id, SubscriptionID: "sub_" + id, Seats: seats}, "evt_"+id, "checkout.session.completed", "client"); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	order("o1", "price_bm", "basic", 1)
	order("o2", "price_by", "basic", 3)
	order("o3", "price_pm", "premium", 1)
	clk.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if _, _, err := s.SetSubscriptionStatus(ctx, "evt_c3", "customer.subscription.deleted", "sub_o3", "canceled", clk.Now()); err != nil {
		t.Fatal(err)
	}
	clk.Set(time.Date(2026, 12, 15, 12, 0, 0, 0, time.UTC))

	m := metrics.New(s, tiers, 10, slog.New(slog.DiscardHandler), metrics.WithClock(func() time.Time { return clk.Now() }),
		metrics.WithBusiness(business.New(s, tiers, clk), time.Minute))
	names := []string{"tenantpool_mrr_cents", "tenantpool_arr_cents", "tenantpool_subscriptions_active", "tenantpool_churn_rate"}
	// o1 29.00 + o2 3 × 290.00 / 12 = 101.50; o3 canceled: 1 of 3 paying 30 days before.
	want := `
# HELP tenantpool_arr_cents Annual recurring revenue (12 x MRR) in minor units.
# TYPE tenantpool_arr_cents gauge
tenantpool_arr_cents{interval="month",tier="basic"} 34800
tenantpool_arr_cents{interval="month",tier="premium"} 0
tenantpool_arr_cents{interval="year",tier="basic"} 87000
# HELP tenantpool_churn_rate Subscriptions ended in the last 30 days over those paying 30 days ago.
# TYPE tenantpool_churn_rate gauge
tenantpool_churn_rate 0.3333
# HELP tenantpool_mrr_cents Monthly recurring revenue in minor units (cents) of the prices' currency.
# TYPE tenantpool_mrr_cents gauge
tenantpool_mrr_cents{interval="month",tier="basic"} 2900
tenantpool_mrr_cents{interval="month",tier="premium"} 0
tenantpool_mrr_cents{interval="year",tier="basic"} 7250
# HELP tenantpool_subscriptions_active Paying subscriptions.
# TYPE tenantpool_subscriptions_active gauge
tenantpool_subscriptions_active 2
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}

	// A new order: the cached figures stand until the interval is over.
	order("o4", "price_pm", "premium", 1)
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), names...); err != nil {
		t.Errorf("within the cache interval: %v", err)
	}
	clk.Advance(time.Minute)
	n, err := testutil.GatherAndCount(m.Registry, "tenantpool_subscriptions_active")
	if err != nil || n != 1 {
		t.Fatalf("count = %d, %v", n, err)
	}
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP tenantpool_mrr_cents Monthly recurring revenue in minor units (cents) of the prices' currency.
# TYPE tenantpool_mrr_cents gauge
tenantpool_mrr_cents{interval="month",tier="basic"} 2900
tenantpool_mrr_cents{interval="month",tier="premium"} 9900
tenantpool_mrr_cents{interval="year",tier="basic"} 7250
`), "tenantpool_mrr_cents"); err != nil {
		t.Errorf("after the cache interval: %v", err)
	}
}
