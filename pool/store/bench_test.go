package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// BenchmarkClaim measures durable claims (SQLite synchronous=FULL in WAL; PostgreSQL with its
// default synchronous_commit) at 1 and 16 concurrent claimers. Reported: claims/s and the
// p50/p99 latency of one claim. The pool is seeded outside the timer with b.N ready accounts.
func BenchmarkClaim(b *testing.B) {
	for _, be := range storetest.Backends(b) {
		for _, workers := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/claimers=%d", be.Name, workers), func(b *testing.B) {
				s := be.Open(b, nil)
				ctx := context.Background()
				for left := b.N; left > 0; left -= 500 {
					if _, err := s.CreateAccounts(ctx, "basic", "bench", min(left, 500)); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := s.DB().ExecContext(ctx, "UPDATE accounts SET state = 'ready'"); err != nil {
					b.Fatal(err)
				}
				lat := make([]time.Duration, b.N)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for range workers {
					wg.Go(func() {
						for {
							i := next.Add(1) - 1
							if i >= int64(b.N) {
								return
							}
							t0 := time.Now()
							if _, _, err := s.Claim(ctx, "basic", fmt.Sprintf("order-%d", i)); err != nil {
								b.Error(err)
								return
							}
							lat[i] = time.Since(t0)
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "claims/s")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			})
		}
	}
}

// BenchmarkSnapshotPlan measures one reconcile decision (store snapshot + pure plan) with
// 100,000 accounts in the store, almost all of them sold or retired history.
func BenchmarkSnapshotPlan(b *testing.B) {
	tiers, err := pool.NewTiers(pool.DefaultTiers())
	if err != nil {
		b.Fatal(err)
	}
	for _, be := range storetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			s := be.Open(b, nil)
			ctx := context.Background()
			seed100k(b, s)
			now := time.Now()
			b.ResetTimer()
			for b.Loop() {
				snap, err := s.Snapshot(ctx, now.Add(-90*time.Minute), 100)
				if err != nil {
					b.Fatal(err)
				}
				if plans := pool.Plan(snap, tiers, pool.DefaultPlanConfig(), now); len(plans) != 3 {
					b.Fatal("plan lost a tier")
				}
			}
		})
	}
}

// seed100k writes 100,000 account rows straight in SQL (the snapshot never opens secrets):
// 1% ready, 1% provisioning, the rest delivered or retired.
func seed100k(b *testing.B, s *store.Store) {
	b.Helper()
	_, err := s.DB().ExecContext(context.Background(), `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
		INSERT INTO accounts (id, slug, tier, state, operator_user, customer_user, secrets, created_at, updated_at)
		SELECT i, 'seed' || i,
			CASE i % 3 WHEN 0 THEN 'basic' WHEN 1 THEN 'premium' ELSE 'enterprise' END,
			CASE WHEN i % 100 = 0 THEN 'ready' WHEN i % 100 = 1 THEN 'provisioning' WHEN i % 2 = 0 THEN 'retired' ELSE 'delivered' END,
			'op', 'c', 'x', i, i FROM n`)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.DB().ExecContext(context.Background(), "ANALYZE"); err != nil {
		b.Fatal(err)
	}
}
