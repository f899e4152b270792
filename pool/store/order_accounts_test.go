package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
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

// Delivery reads what GetOrder, OrderAccounts and EmailSent read apart (it is one statement on
// PostgreSQL): the order, every seat's account in seat order, the sent check; the order's own
// account for an order from before seats; no accounts for an order without one; not found for
// no order.
func TestDeliveryReadsOrderAccountsAndSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		readyAccounts(t, s, "basic", 5)
		if _, _, _, err := s.Delivery(ctx, "cs_none", "credentials:cs_none"); !errors.Is(err, pool.ErrNotFound) {
			t.Fatalf("unknown order: %v, want not found", err)
		}
		same := func(name, key string, wantSent bool) {
			t.Helper()
			o, as, sent, err := s.Delivery(ctx, name, key)
			if err != nil {
				t.Fatal(err)
			}
			wantO, err := s.GetOrder(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			wantAs, err := s.OrderAccounts(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%+v", o) != fmt.Sprintf("%+v", wantO) {
				t.Fatalf("%s: order\n%+v\nwant\n%+v", name, o, wantO)
			}
			if len(as) != len(wantAs) {
				t.Fatalf("%s: %d accounts, want %d", name, len(as), len(wantAs))
			}
			for i := range as {
				if as[i].ID != wantAs[i].ID || as[i].CustomerPassword != wantAs[i].CustomerPassword || as[i].State != wantAs[i].State || as[i].URL != wantAs[i].URL {
					t.Fatalf("%s: seat %d is account %d (%s), want %d (%s)", name, i+1, as[i].ID, as[i].State, wantAs[i].ID, wantAs[i].State)
				}
			}
			if sent != wantSent {
				t.Fatalf("%s: sent = %v, want %v", name, sent, wantSent)
			}
		}
		if _, _, err := s.ClaimOrder(ctx, store.Order{ID: "cs_seats", Tier: "basic", Seats: 3, CustomerEmail: "a@example.test",
			CustomerName: "A", SubscriptionID: "sub_1", TierKeys: []string{"tier:basic", "price_id:price_1"}}, "evt_1", "t"); err != nil {
			t.Fatal(err)
		}
		same("cs_seats", "credentials:cs_seats", false)
		if err := s.RecordEmail(ctx, "cs_seats", "credentials:cs_seats", true); err != nil {
			t.Fatal(err)
		}
		same("cs_seats", "credentials:cs_seats", true)
		same("cs_seats", "credentials:cs_seats:resend-1", false)

		// An order claimed before seats existed has no order_accounts rows: its own account.
		old, _, err := s.ClaimOrder(ctx, store.Order{ID: "cs_old", Tier: "basic", CustomerEmail: "b@example.test"}, "evt_2", "t")
		if err != nil {
			t.Fatal(err)
		}
		del := `DELETE FROM order_accounts WHERE order_id = ?`
		if s.Postgres() {
			del = `DELETE FROM order_accounts WHERE order_id = $1`
		}
		if _, err := s.DB().ExecContext(ctx, del, "cs_old"); err != nil {
			t.Fatal(err)
		}
		same("cs_old", "credentials:cs_old", false)
		if _, as, _, _ := s.Delivery(ctx, "cs_old", "credentials:cs_old"); len(as) != 1 || as[0].ID != old.AccountID {
			t.Fatalf("order from before seats: %v, want its account %d", as, old.AccountID)
		}

		// A pending order has no account yet.
		if _, err := s.AddPendingOrder(ctx, store.Order{ID: "cs_pending", Tier: "premium", CustomerEmail: "c@example.test"}, "evt_3", "t", "client"); err != nil {
			t.Fatal(err)
		}
		same("cs_pending", "credentials:cs_pending", false)
	})
}

// ClaimOrder writes the order as given (and claimed), records its event and enqueues its jobs,
// all or nothing: an order held for the operator is not claimed, and its claim changes nothing.
func TestClaimOrderWritesTheOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		readyAccounts(t, s, "basic", 2)
		term := time.UnixMilli(time.Now().Add(30 * 24 * time.Hour).UnixMilli()).UTC()
		in := store.Order{ID: "cs_full", Tier: "basic", TierKeys: []string{"tier:basic", "mode:payment"}, CustomerEmail: "a@example.test",
			CustomerName: "Ada", CustomerID: "cus_1", SubscriptionID: "sub_1", PaymentIntent: "pi_1", TermEndsAt: term}
		got, created, err := s.ClaimOrder(ctx, in, "evt_full", "checkout.session.completed", jobs.Job{Args: jobs.DeliverArgs{OrderID: in.ID}})
		if err != nil || !created {
			t.Fatalf("claim: %v %v", created, err)
		}
		stored, err := s.GetOrder(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", stored) {
			t.Fatalf("claim returned\n%+v\nstored\n%+v", got, stored)
		}
		if stored.State != store.OrderClaimed || stored.AccountID == 0 || stored.ClaimedAt.IsZero() || stored.Seats != 1 ||
			strings.Join(stored.TierKeys, ",") != "tier:basic,mode:payment" || stored.CustomerName != "Ada" || stored.CustomerID != "cus_1" ||
			stored.SubscriptionID != "sub_1" || stored.PaymentIntent != "pi_1" || !stored.TermEndsAt.Equal(term) || stored.CustomerEmail != "a@example.test" {
			t.Fatalf("stored order %+v", stored)
		}
		if seen, _ := s.EventSeen(ctx, "evt_full"); !seen {
			t.Fatal("the claim's event was not recorded")
		}
		if as, err := s.OrderAccounts(ctx, in.ID); err != nil || len(as) != 1 || as[0].ID != stored.AccountID || as[0].State != pool.StateClaimed {
			t.Fatalf("seats: %+v %v", as, err)
		}
		if n := countJobs(t, s, jobs.DeliverArgs{}.Kind()); n != 1 {
			t.Fatalf("deliveries queued %d, want 1", n)
		}

		held := store.Order{ID: "cs_held", State: store.OrderHeld, CustomerEmail: "b@example.test", LastError: "price not mapped"}
		if _, err := s.AddPendingOrder(ctx, held, "evt_held", "t", "client"); err != nil {
			t.Fatal(err)
		}
		held.Tier = "basic"
		if _, _, err := s.ClaimOrder(ctx, held, "evt_again", "t", jobs.Job{Args: jobs.DeliverArgs{OrderID: held.ID}}); err == nil {
			t.Fatal("a held order was claimed")
		}
		if ready, _ := s.List(ctx, store.Filter{State: pool.StateReady}); len(ready) != 1 {
			t.Fatalf("%d ready accounts after the refused claim, want 1", len(ready))
		}
		if seen, _ := s.EventSeen(ctx, "evt_again"); seen {
			t.Fatal("the refused claim recorded its event")
		}
		if o, _ := s.GetOrder(ctx, held.ID); o.State != store.OrderHeld || o.AccountID != 0 {
			t.Fatalf("held order after the refused claim: %+v", o)
		}
		if n := countJobs(t, s, jobs.DeliverArgs{}.Kind()); n != 1 {
			t.Fatalf("deliveries queued %d, want 1", n)
		}
	})
}
