package store_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

func readyAccounts(t *testing.T, s *store.Store, tier string, n int) {
	t.Helper()
	as, err := s.CreateAccounts(context.Background(), tier, "client", n)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if err := s.MarkReady(context.Background(), a.ID, pool.Provisioned{URL: "https://" + a.Slug + ".example.test"}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestApplyEventRunsOncePerEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		runs := 0
		fn := func(context.Context, *sql.Tx) error { runs++; return nil }
		for range 3 {
			if _, err := s.ApplyEvent(ctx, "evt_1", "x", fn); err != nil {
				t.Fatal(err)
			}
		}
		if runs != 1 {
			t.Fatalf("fn ran %d times, want 1", runs)
		}
		// A failing fn leaves the event unrecorded, so Stripe's retry applies it.
		boom := errors.New("boom")
		if _, err := s.ApplyEvent(ctx, "evt_2", "x", func(context.Context, *sql.Tx) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		if seen, _ := s.EventSeen(ctx, "evt_2"); seen {
			t.Fatal("a failed event was recorded")
		}
		if applied, err := s.ApplyEvent(ctx, "evt_2", "x", fn); err != nil || !applied {
			t.Fatalf("retry applied=%v err=%v", applied, err)
		}
	})
}

func TestClaimOrderAndPendingOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		o := store.Order{ID: "cs_1", Tier: "basic", CustomerEmail: "a@example.test", SubscriptionID: "sub_1"}
		if _, _, err := s.ClaimOrder(ctx, o, "evt_1", "t", nil); !errors.Is(err, pool.ErrPoolEmpty) {
			t.Fatalf("claim on an empty pool: %v", err)
		}
		if seen, _ := s.EventSeen(ctx, "evt_1"); seen {
			t.Fatal("an empty-pool claim recorded its event")
		}
		hooks := 0
		hook := func(context.Context, *sql.Tx, store.Order) error { hooks++; return nil }
		for range 2 {
			if _, err := s.AddPendingOrder(ctx, o, "evt_1", "t", "client", hook); err != nil {
				t.Fatal(err)
			}
		}
		if hooks != 1 {
			t.Fatalf("pending hook ran %d times, want 1", hooks)
		}
		prov, _ := s.List(ctx, store.Filter{State: pool.StateProvisioning})
		if len(prov) != 1 || prov[0].Tier != "basic" {
			t.Fatalf("on-demand accounts = %v, want one basic", prov)
		}
		readyAccounts(t, s, "basic", 2)
		got, created, err := s.ClaimOrder(ctx, o, "", "", hook)
		if err != nil || !created || got.State != store.OrderClaimed || got.AccountID == 0 {
			t.Fatalf("claim = %+v, %v, %v", got, created, err)
		}
		again, created, err := s.ClaimOrder(ctx, o, "evt_9", "t", hook)
		if err != nil || created || again.AccountID != got.AccountID {
			t.Fatalf("repeat claim = %+v, %v, %v", again, created, err)
		}
		if hooks != 2 {
			t.Fatalf("hooks = %d, want 2 (pending, claim)", hooks)
		}
		// Delivery moves order and account together, once.
		for range 2 {
			if err := s.RecordEmail(ctx, o.ID, "credentials:cs_1", true); err != nil {
				t.Fatal(err)
			}
		}
		a, _ := s.Get(ctx, got.AccountID)
		if d, _ := s.GetOrder(ctx, o.ID); d.State != store.OrderDelivered || a.State != pool.StateDelivered {
			t.Fatalf("order %s, account %s", d.State, a.State)
		}
		if sent, _ := s.EmailSent(ctx, "credentials:cs_1"); !sent {
			t.Fatal("e-mail not recorded")
		}
		// Suspend and resume follow the state graph.
		at, err := s.SuspendOrder(ctx, o.ID)
		if err != nil || at.IsZero() {
			t.Fatalf("suspend: %v", err)
		}
		if at2, _ := s.SuspendOrder(ctx, o.ID); !at2.Equal(at) {
			t.Fatal("a repeated suspension moved the suspension time")
		}
		if a, _ := s.Get(ctx, got.AccountID); a.State != pool.StateSuspended {
			t.Fatalf("account %s, want suspended", a.State)
		}
		if err := s.ResumeOrder(ctx, o.ID); err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Get(ctx, got.AccountID); a.State != pool.StateDelivered {
			t.Fatalf("account %s, want delivered", a.State)
		}
	})
}

func TestSubscriptionStatusKeepsTheNewest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		t0 := time.Unix(1_700_000_000, 0)
		set := func(status string, at time.Time) bool {
			var newest bool
			_, err := s.ApplyEvent(ctx, "", "", func(ctx context.Context, tx *sql.Tx) (err error) {
				newest, err = s.SetSubscriptionStatusTx(ctx, tx, "sub_1", status, at)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return newest
		}
		if !set("active", t0) || !set("canceled", t0.Add(time.Minute)) {
			t.Fatal("newer statuses not applied")
		}
		if set("active", t0.Add(30*time.Second)) {
			t.Fatal("an older event overwrote a newer status")
		}
		if st, _ := s.SubscriptionStatus(ctx, "sub_1"); st != "canceled" {
			t.Fatalf("status %q, want canceled", st)
		}
	})
}

func TestSetCustomerPasswordReseals(t *testing.T) {
	ctx := context.Background()
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	readyAccounts(t, s, "basic", 1)
	if err := s.SetCustomerPassword(ctx, 1, "fresh-password"); err != nil {
		t.Fatal(err)
	}
	a, err := s.Get(ctx, 1)
	if err != nil || a.CustomerPassword != "fresh-password" || a.OperatorPassword == "" {
		t.Fatalf("account after reseal: err %v", err)
	}
	if err := s.SetCustomerPassword(ctx, 99, "x"); !errors.Is(err, pool.ErrNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
}
