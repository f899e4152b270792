package business_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool/business"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// benchOrders is the size of the store BenchmarkReport reads.
const benchOrders = 100_000

// seedBulk writes n orders spread over the two years before now, straight into the tables
// (500 rows a statement): every tier and interval, 1–3 seats, one in 50 held, one in 40
// one-time, one in 5 subscriptions canceled, one in 20 past_due, one in 25 trialing.
func seedBulk(tb testing.TB, s *store.Store, n int) {
	tb.Helper()
	ctx := context.Background()
	keys := []string{"price_bm", "price_by", "price_pm", "price_em", "price_old"}
	tiers := []string{"basic", "basic", "premium", "enterprise", "basic"}
	span := int64(2 * 365 * 24 * time.Hour / time.Millisecond)
	start := now.UnixMilli() - span
	for lo := 0; lo < n; lo += 500 {
		var orders, subs []string
		for i := lo; i < min(lo+500, n); i++ {
			created := start + span*int64(i)/int64(n)
			k := i % len(keys)
			state, tier, sub, term := "delivered", tiers[k], fmt.Sprintf("sub_%d", i), int64(0)
			switch {
			case i%50 == 0:
				state, tier = "held", ""
			case i%40 == 1:
				sub, term = "", created+30*24*3600*1000
			}
			orders = append(orders, fmt.Sprintf("('cs_%d', '%s', '%s', '%s', 'c%d@example.test', 'cus_%d', '%s', %d, %d, %d, %d)",
				i, state, tier, keys[k], i, i%(n/3), sub, 1+i%3, created, created, term))
			if sub == "" {
				continue
			}
			status, since := "active", created
			switch {
			case i%5 == 2:
				status, since = "canceled", created+(now.UnixMilli()-created)/2
			case i%20 == 3:
				status = "past_due"
			case i%25 == 4:
				status = "trialing"
			}
			subs = append(subs, fmt.Sprintf("('%s', '%s', %d, 0, %d)", sub, status, since, since))
		}
		if _, err := s.DB().ExecContext(ctx, `INSERT INTO orders (id, state, tier, tier_keys, customer_email, customer_id,
			subscription_id, seats, created_at, updated_at, term_ends_at) VALUES `+strings.Join(orders, ", ")); err != nil {
			tb.Fatal(err)
		}
		if len(subs) > 0 {
			if _, err := s.DB().ExecContext(ctx, `INSERT INTO stripe_subscriptions (id, status, status_at, status_rank, status_since)
				VALUES `+strings.Join(subs, ", ")); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// BenchmarkReport computes the business report over 100,000 orders: the read of every order
// with its subscription's status and the computation (figures, 12 months, 30 days), per store;
// and the computation alone.
func BenchmarkReport(b *testing.B) {
	clock := quartz.NewMock(b)
	clock.Set(now)
	var orders []store.RevenueOrder
	for _, be := range storetest.Backends(b) {
		// Seeded once, outside the sub-benchmark (which runs again for every b.N).
		s := be.Open(b, clock)
		seedBulk(b, s, benchOrders)
		b.Run(be.Name, func(b *testing.B) {
			svc := business.New(s, testTiers(b), clock)
			ctx := context.Background()
			var r business.Report
			b.ResetTimer()
			for range b.N {
				var err error
				if r, err = svc.Report(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if r.Subscriptions == 0 || r.MRRCents == 0 {
				b.Fatalf("report over %d orders is empty: %+v", benchOrders, r)
			}
			if orders == nil {
				if orders, _ = s.RevenueOrders(ctx); len(orders) != benchOrders {
					b.Fatalf("%d orders read, want %d", len(orders), benchOrders)
				}
			}
		})
	}
	b.Run("compute", func(b *testing.B) {
		tiers := testTiers(b)
		for range b.N {
			business.Compute(orders, 0, tiers, now)
		}
	})
}
