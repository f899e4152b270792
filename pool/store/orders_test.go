package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
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

func TestSubscriptionEventsApplyOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		readyAccounts(t, s, "basic", 1)
		o := store.Order{ID: "cs_1", Tier: "basic", CustomerEmail: "a@example.test", CustomerName: "Ada", SubscriptionID: "sub_1"}
		if _, _, err := s.ClaimOrder(ctx, o, "evt_0", "t"); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, _, err := s.SetSubscriptionStatus(ctx, "evt_1", "x", "sub_1", "canceled", time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if n := countJobs(t, s, jobs.SyncArgs{}.Kind()); n != 1 {
			t.Fatalf("sync jobs = %d, want 1 (one event, one order)", n)
		}
		for range 2 {
			queued, err := s.QueuePaymentNotice(ctx, "evt_2", "x", "sub_1", jobs.NoticeArgs{InvoiceID: "in_1"})
			if err != nil {
				t.Fatal(err)
			}
			_ = queued
		}
		if n := countJobs(t, s, jobs.NoticeArgs{}.Kind()); n != 1 {
			t.Fatalf("notices = %d, want 1", n)
		}
		if queued, err := s.QueuePaymentNotice(ctx, "evt_3", "x", "sub_other", jobs.NoticeArgs{InvoiceID: "in_2"}); err != nil || queued {
			t.Fatalf("a notice without an order: queued=%v err=%v", queued, err)
		}
		if seen, _ := s.EventSeen(ctx, "evt_3"); !seen {
			t.Fatal("an event without an order was not recorded (Stripe would retry it forever)")
		}
	})
}

func TestClaimOrderAndPendingOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		o := store.Order{ID: "cs_1", Tier: "basic", CustomerEmail: "a@example.test", SubscriptionID: "sub_1"}
		if _, _, err := s.ClaimOrder(ctx, o, "evt_1", "t"); !errors.Is(err, pool.ErrPoolEmpty) {
			t.Fatalf("claim on an empty pool: %v", err)
		}
		if seen, _ := s.EventSeen(ctx, "evt_1"); seen {
			t.Fatal("an empty-pool claim recorded its event")
		}
		for range 2 {
			if _, err := s.AddPendingOrder(ctx, o, "evt_1", "t", "client", jobs.Job{Args: jobs.ClaimPendingArgs{OrderID: o.ID}}); err != nil {
				t.Fatal(err)
			}
		}
		if n := countJobs(t, s, jobs.ClaimPendingArgs{}.Kind()); n != 1 {
			t.Fatalf("pending claims queued %d times, want 1", n)
		}
		prov, _ := s.List(ctx, store.Filter{State: pool.StateProvisioning})
		if len(prov) != 1 || prov[0].Tier != "basic" || prov[0].Origin != pool.OriginOrder {
			t.Fatalf("on-demand accounts = %v, want one basic of origin order", prov)
		}
		readyAccounts(t, s, "basic", 2)
		deliver := jobs.Job{Args: jobs.DeliverArgs{OrderID: o.ID}}
		got, created, err := s.ClaimOrder(ctx, o, "", "", deliver)
		if err != nil || !created || got.State != store.OrderClaimed || got.AccountID == 0 {
			t.Fatalf("claim = %+v, %v, %v", got, created, err)
		}
		again, created, err := s.ClaimOrder(ctx, o, "evt_9", "t", deliver)
		if err != nil || created || again.AccountID != got.AccountID {
			t.Fatalf("repeat claim = %+v, %v, %v", again, created, err)
		}
		if n := countJobs(t, s, jobs.DeliverArgs{}.Kind()); n != 1 {
			t.Fatalf("deliveries queued %d times, want 1", n)
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
		at, err := s.SuspendOrder(ctx, o.ID, time.Hour)
		if err != nil || at.IsZero() {
			t.Fatalf("suspend: %v", err)
		}
		if at2, _ := s.SuspendOrder(ctx, o.ID, time.Hour); !at2.Equal(at) {
			t.Fatal("a repeated suspension moved the suspension time")
		}
		if n := countJobs(t, s, jobs.RetireArgs{}.Kind()); n != 1 {
			t.Fatalf("teardowns scheduled %d times, want 1 (one suspension)", n)
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
			newest, _, err := s.SetSubscriptionStatus(ctx, "", "", "sub_1", status, at)
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

// Canceled is terminal (a late or same-second "active" cannot undo it); two statuses of the
// same second are ordered by precedence; past_due keeps the time it began.
func TestSubscriptionStatusPrecedence(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		t0 := time.Unix(1_700_000_000, 0)
		set := func(sub, status string, at time.Time) bool {
			newest, _, err := s.SetSubscriptionStatus(ctx, "", "", sub, status, at)
			if err != nil {
				t.Fatal(err)
			}
			return newest
		}
		// Same second, deletion first, then the update Stripe sent with it.
		if !set("sub_c", "canceled", t0) || set("sub_c", "active", t0) || set("sub_c", "active", t0.Add(time.Hour)) ||
			set("sub_c", "unpaid", t0.Add(2*time.Hour)) {
			t.Fatal("a canceled subscription's status was replaced")
		}
		if st, _ := s.SubscriptionStatus(ctx, "sub_c"); st != "canceled" {
			t.Fatalf("status %q, want canceled", st)
		}
		// Same second, the other way round: canceled still wins.
		if !set("sub_d", "active", t0) || !set("sub_d", "canceled", t0) {
			t.Fatal("canceled did not win its second")
		}
		// Same second: past_due outranks active, so the arrival order does not matter.
		if !set("sub_p", "past_due", t0) || set("sub_p", "active", t0) {
			t.Fatal("active replaced a same-second past_due")
		}
		if !set("sub_p", "past_due", t0.Add(time.Hour)) {
			t.Fatal("a newer past_due was not applied")
		}
		st, since, err := s.SubscriptionState(ctx, "sub_p")
		if err != nil || st != "past_due" || !since.Equal(t0) {
			t.Fatalf("state %q since %v (%v), want past_due since %v", st, since, err, t0)
		}
		if !set("sub_p", "active", t0.Add(2*time.Hour)) {
			t.Fatal("active after past_due not applied")
		}
		incomplete := "sub_i"
		if !set(incomplete, "incomplete", t0) || !set(incomplete, "incomplete_expired", t0.Add(time.Hour)) || set(incomplete, "active", t0.Add(2*time.Hour)) {
			t.Fatal("incomplete_expired is not terminal")
		}
	})
}

func TestSetCustomerPasswordReseals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		readyAccounts(t, s, "basic", 1)
		before, err := s.Get(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetCustomerPassword(ctx, 1, "fresh-password"); err != nil {
			t.Fatal(err)
		}
		a, err := s.Get(ctx, 1)
		if err != nil || a.CustomerPassword != "fresh-password" || a.OperatorPassword != before.OperatorPassword || a.SecretKey != before.SecretKey {
			t.Fatalf("account after reseal: err %v", err)
		}
		if err := s.SetCustomerPassword(ctx, 99, "x"); !errors.Is(err, pool.ErrNotFound) {
			t.Fatalf("unknown account: %v", err)
		}
		// Concurrent rotations of one account (PostgreSQL writes only what it read, and
		// reads again when another writer came first): the last writer's password wins, and
		// no other secret is lost on the way.
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				if err := s.SetCustomerPassword(ctx, 1, fmt.Sprintf("password-%d", i)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		a, err = s.Get(ctx, 1)
		if err != nil || !strings.HasPrefix(a.CustomerPassword, "password-") || a.OperatorPassword != before.OperatorPassword || a.SecretKey != before.SecretKey {
			t.Fatalf("account after concurrent rotations: err %v", err)
		}
	})
}
