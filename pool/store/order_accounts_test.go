package store_test

import (
	"context"
	"testing"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// OrderAccounts returns the accounts an order claimed, and nothing of any other order.
func TestOrderAccounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		readyAccounts(t, s, "basic", 2)
		if as, err := s.OrderAccounts(ctx, "cs_none"); err != nil || len(as) != 0 {
			t.Fatalf("unknown order: %v %v", as, err)
		}
		mine, _, err := s.ClaimOrder(ctx, store.Order{ID: "cs_mine", Tier: "basic", CustomerEmail: "a@example.test"}, "evt_1", "t")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ClaimOrder(ctx, store.Order{ID: "cs_other", Tier: "basic", CustomerEmail: "b@example.test"}, "evt_2", "t"); err != nil {
			t.Fatal(err)
		}
		as, err := s.OrderAccounts(ctx, "cs_mine")
		if err != nil || len(as) != 1 || as[0].ID != mine.AccountID || as[0].OrderID != "cs_mine" || as[0].URL == "" {
			t.Fatalf("accounts of cs_mine: %+v %v", as, err)
		}
	})
}
