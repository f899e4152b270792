package metrics_test

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/metrics"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// The capacity gauges follow the store: the auto target, the sales rate and p95, the refill
// estimate, and — once the hosts fill up — the exhausted flag and a forecast of 0 hours; the
// report is read again only after its cache interval.
func TestCapacityGauges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clk := quartz.NewMock(t).WithLogger(quartz.NoOpLogger)
		clk.Set(time.Date(2026, 12, 15, 12, 0, 0, 0, time.UTC))
		s := open(clk)
		tiers, err := pool.NewTiers([]pool.Tier{
			{Name: "basic", Ready: pool.ReadyAuto, AutoReady: pool.AutoReady{Stockout: 0.07}, MinReady: 1, MaxTotal: 20, MaxInFlight: 4, MemoryMB: 1024, CPUs: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		hosts := []pool.HostCapacity{{Name: "a", Capacity: 12}}
		m := metrics.New(s, tiers, 10, slog.New(slog.DiscardHandler), metrics.WithClock(func() time.Time { return clk.Now() }),
			metrics.WithCapacity(func(ctx context.Context) (pool.Capacity, error) { return s.Capacity(ctx, clk.Now(), tiers, hosts) }, time.Minute))
		// 8 accounts on host a, ready after 15 minutes; 6 sold within the next half hour.
		as, err := s.CreateAccountsFrom(ctx, pool.OriginPool, "basic", "client", 8)
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(15 * time.Minute)
		for _, a := range as {
			if err := s.MarkReady(ctx, a.ID, pool.Provisioned{Host: "a", URL: "https://x.example.test"}); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(30 * time.Minute)
		for _, o := range []string{"o1", "o2", "o3", "o4", "o5", "o6"} {
			if _, _, err := s.Claim(ctx, "basic", o); err != nil {
				t.Fatal(err)
			}
		}
		// 6 sales/h × 0.25 h = 1.5 in the making: target 4 for ≤ 7 % stock-outs (P(N ≥ 4) = 6.6 %,
		// P(N ≥ 3) = 19 %); 2 ready, 2 missing in one
		// wave of 15 min. Host a: 8 of 12 taken, 4 free, 2 needed: 2 left at 6/h = 20 min.
		want := `
# HELP tenantpool_capacity_exhausted 1 when the hosts' free places do not hold what the pools need.
# TYPE tenantpool_capacity_exhausted gauge
tenantpool_capacity_exhausted 0
# HELP tenantpool_hosts_free_places Free tenant places on the hosts (capacity minus live accounts, unplaced ones included).
# TYPE tenantpool_hosts_free_places gauge
tenantpool_hosts_free_places 4
# HELP tenantpool_hosts_full_hours Forecast: hours until the hosts are full at the current sales rate (+Inf without sales).
# TYPE tenantpool_hosts_full_hours gauge
tenantpool_hosts_full_hours 0.3333333333333333
# HELP tenantpool_provision_p95_seconds p95 created-to-ready time of the tier's last ready accounts (pool and order).
# TYPE tenantpool_provision_p95_seconds gauge
tenantpool_provision_p95_seconds{tier="basic"} 900
# HELP tenantpool_refill_seconds_estimate Time to bring the ready count up to the target: missing accounts, max_in_flight at a time, p95 each.
# TYPE tenantpool_refill_seconds_estimate gauge
tenantpool_refill_seconds_estimate{tier="basic"} 900
# HELP tenantpool_refill_short 1 when the tier's pool cannot be refilled within refill_within (hosts' free capacity or max_in_flight).
# TYPE tenantpool_refill_short gauge
tenantpool_refill_short{tier="basic"} 0
# HELP tenantpool_tier_ready_target The ready target in effect: min_ready, or ready: auto's from the sales rate, the mean provisioning time and the stock-out risk.
# TYPE tenantpool_tier_ready_target gauge
tenantpool_tier_ready_target{tier="basic"} 4
# HELP tenantpool_tier_sales_per_hour Sales per hour over the tier's sales windows (the higher of window and burst_window).
# TYPE tenantpool_tier_sales_per_hour gauge
tenantpool_tier_sales_per_hour{tier="basic"} 6
`
		names := []string{"tenantpool_capacity_exhausted", "tenantpool_hosts_free_places", "tenantpool_hosts_full_hours",
			"tenantpool_provision_p95_seconds", "tenantpool_refill_seconds_estimate", "tenantpool_refill_short",
			"tenantpool_tier_ready_target", "tenantpool_tier_sales_per_hour"}
		if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), names...); err != nil {
			t.Fatal(err)
		}
		// The hosts fill up (an operator batch of 4 placed on a): cached until the interval ends.
		bs, err := s.CreateAccountsFrom(ctx, pool.OriginBatch, "basic", "batch", 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			if _, err := s.PlaceAccount(ctx, b.ID, "", hosts); err != nil {
				t.Fatal(err)
			}
		}
		if v := gauge(t, m, "tenantpool_hosts_free_places"); v != 4 {
			t.Fatalf("free places within the cache interval = %v, want the cached 4", v)
		}
		clk.Advance(time.Minute)
		if v := gauge(t, m, "tenantpool_capacity_exhausted"); v != 1 {
			t.Fatalf("exhausted = %v", v)
		}
		if v := gauge(t, m, "tenantpool_hosts_full_hours"); v != 0 {
			t.Fatalf("full in %v h", v)
		}
		if v := gauge(t, m, "tenantpool_refill_short"); v != 1 {
			t.Fatalf("refill short = %v", v)
		}
		// No sales in the windows any more: the forecast is +Inf once the batch is gone.
		for _, b := range bs {
			if _, err := s.Retire(ctx, b.ID); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(4 * time.Hour)
		if v := gauge(t, m, "tenantpool_hosts_full_hours"); !math.IsInf(v, 1) {
			t.Fatalf("full in %v h without sales, want +Inf", v)
		}
	})
}

func gauge(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
