package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// The console's account pages: newest first, keyset pages that neither skip nor repeat, the
// filters, and the flagged tenants first. The flagged gauge (Stats) stops counting an account
// once it is retired.
func TestConsoleAccounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		as, err := s.CreateAccounts(ctx, "basic", "client", 7)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateAccounts(ctx, "premium", "prem", 2); err != nil {
			t.Fatal(err)
		}
		var seen []int64
		var before int64
		for {
			rows, more, err := s.ConsoleAccounts(ctx, store.AccountQuery{Tier: "basic", Before: before, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				seen = append(seen, r.ID)
			}
			if !more {
				break
			}
			before = rows[len(rows)-1].ID
		}
		if len(seen) != 7 || seen[0] != as[6].ID || seen[6] != as[0].ID {
			t.Fatalf("pages of basic: %v", seen)
		}
		rows, _, err := s.ConsoleAccounts(ctx, store.AccountQuery{Search: "prem", Limit: 10})
		if err != nil || len(rows) != 2 {
			t.Fatalf("search prem: %d %v", len(rows), err)
		}
		if _, err := s.Flag(ctx, as[2].ID, "down"); err != nil {
			t.Fatal(err)
		}
		rows, _, err = s.ConsoleAccounts(ctx, store.AccountQuery{Flagged: true, Limit: 10})
		if err != nil || len(rows) != 1 || rows[0].ID != as[2].ID || rows[0].Probe.FlaggedAt.IsZero() {
			t.Fatalf("flagged: %+v %v", rows, err)
		}
		st, err := s.Stats(ctx)
		if err != nil || st.Flagged != 1 {
			t.Fatalf("flagged gauge: %d %v", st.Flagged, err)
		}
		if _, err := s.Retire(ctx, as[2].ID); err != nil {
			t.Fatal(err)
		}
		if st, err = s.Stats(ctx); err != nil || st.Flagged != 0 {
			t.Fatalf("flagged gauge after retiring the flagged account: %d %v", st.Flagged, err)
		}
	})
}

// The pool's history: an account ready 3 h ago and claimed 1 h ago counts as ready in the
// buckets between and as a sale in the bucket of its claim.
func TestPoolHistory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t)
		clock.Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		s := open(clock)
		as, err := s.CreateAccounts(ctx, "basic", "client", 2)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		for _, a := range as { // ready at 13:00
			if err := s.MarkReady(ctx, a.ID, pool.Provisioned{Host: "h", URL: "https://x.example.test"}); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(2*time.Hour + 30*time.Minute) // 15:30: one sold
		if _, _, err := s.Claim(ctx, "basic", "order-1"); err != nil {
			t.Fatal(err)
		}
		end := time.Date(2026, 3, 1, 17, 0, 0, 0, time.UTC)
		h, err := s.PoolHistory(ctx, end, time.Hour, 6) // buckets 11–12, 12–13, … 16–17
		if err != nil {
			t.Fatal(err)
		}
		wantReady := []int{0, 0, 2, 2, 1, 1} // ready from 13:00 (bucket 13–14), one sold at 15:30
		wantSales := []int{0, 0, 0, 0, 1, 0}
		for i := range 6 {
			if h.Ready[i] != wantReady[i] || h.Sales[i] != wantSales[i] {
				t.Fatalf("history ready %v sales %v, want %v %v", h.Ready, h.Sales, wantReady, wantSales)
			}
		}
	})
}
