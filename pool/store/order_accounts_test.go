package store_test

import (
	"context"
	"testing"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
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

// A delivered credentials e-mail moves the order and every seat's account to delivered, once,
// and no account of another order.
func TestRecordEmailDeliversEverySeat(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		readyAccounts(t, s, "basic", 4)
		if _, _, err := s.ClaimOrder(ctx, store.Order{ID: "cs_seats", Tier: "basic", Seats: 3, CustomerEmail: "a@example.test"}, "evt_1", "t"); err != nil {
			t.Fatal(err)
		}
		other, _, err := s.ClaimOrder(ctx, store.Order{ID: "cs_other", Tier: "basic", CustomerEmail: "b@example.test"}, "evt_2", "t")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.RecordEmail(ctx, "cs_seats", "credentials:cs_seats", true); err != nil {
				t.Fatal(err)
			}
		}
		if o, err := s.GetOrder(ctx, "cs_seats"); err != nil || o.State != store.OrderDelivered || o.DeliveredAt.IsZero() {
			t.Fatalf("order after delivery: %+v %v", o, err)
		}
		as, err := s.OrderAccounts(ctx, "cs_seats")
		if err != nil || len(as) != 3 {
			t.Fatalf("seats: %d %v", len(as), err)
		}
		for _, a := range as {
			if a.State != pool.StateDelivered {
				t.Fatalf("seat account %d is %s, want delivered", a.ID, a.State)
			}
		}
		if sent, err := s.EmailSent(ctx, "credentials:cs_seats"); err != nil || !sent {
			t.Fatalf("e-mail not recorded: %v", err)
		}
		if a, err := s.Get(ctx, other.AccountID); err != nil || a.State != pool.StateClaimed {
			t.Fatalf("the other order's account: %s %v, want claimed", a.State, err)
		}
		if o, err := s.GetOrder(ctx, "cs_other"); err != nil || o.State != store.OrderClaimed {
			t.Fatalf("the other order: %s %v, want claimed", o.State, err)
		}
	})
}
