package orders_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// An operator retired a customer's account (with its grace): the subscription's pause and a
// later reactivation do not bring the tenant back.
func TestOperatorRetirementOutlastsTheSubscription(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		seedReady(t, s, "basic", 1)
		e := newEnv(t, s, nil)
		e.send(paid("evt_r0", "cs_r1"))
		waitFor(t, "delivered", func() bool { return order(t, s, "cs_r1").State == store.OrderDelivered })
		a, _, err := s.RequestRetire(ctx, order(t, s, "cs_r1").AccountID, store.RetireRequest{Force: true, Grace: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "tenant stopped", func() bool { sus, _ := e.prov.counts(a.Slug); return sus == 1 })
		sub := func(status string) map[string]any {
			return map[string]any{"id": "sub_cs_r1", "object": "subscription", "status": status}
		}
		t0 := time.Now()
		e.send(event("evt_r1", orders.EventSubscriptionPaused, t0, sub("paused")))
		waitFor(t, "the pause synced", func() bool { return !order(t, s, "cs_r1").SuspendedAt.IsZero() })
		e.send(event("evt_r2", orders.EventSubscriptionUpdated, t0.Add(time.Second), sub("active")))
		waitFor(t, "the reactivation synced", func() bool {
			var n int
			s.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'order_subscription_sync'`).Scan(&n)
			return n == 3 && jobsDone(t, s, jobs.SyncArgs{}.Kind()) // the payment's, the pause's, the reactivation's
		})
		got, _ := s.Get(ctx, a.ID)
		if _, resumed := e.prov.counts(a.Slug); resumed != 0 || got.State != pool.StateSuspended || !got.RetireAt.Equal(a.RetireAt) {
			t.Fatalf("after pause and reactivation: %s, retire at %v, resumed %d times; want suspended until %v, never resumed",
				got.State, got.RetireAt, resumed, a.RetireAt)
		}
	})
}

// A claimed account the operator retires before its credentials went out: no e-mail, no
// password rotation at a tenant being stopped.
func TestNoCredentialsForAnAccountBeingRetired(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		seedReady(t, s, "basic", 1)
		o, _, err := s.ClaimOrder(ctx, store.Order{ID: "cs_n1", Tier: "basic", CustomerEmail: "ada@example.test"}, "evt_n1", "t",
			jobs.Job{Args: jobs.DeliverArgs{OrderID: "cs_n1"}})
		if err != nil {
			t.Fatal(err)
		}
		a, _, err := s.RequestRetire(ctx, o.AccountID, store.RetireRequest{Force: true, Grace: time.Hour})
		if err != nil || a.State != pool.StateSuspended {
			t.Fatalf("retire: %s, %v", a.State, err)
		}
		e := newEnv(t, s, nil)
		waitFor(t, "the delivery job settled", func() bool { return jobsDone(t, s, jobs.DeliverArgs{}.Kind()) })
		if n := len(e.mail.Messages(t)); n != 0 || e.prov.Rotated(a.Slug) != 0 {
			t.Fatalf("%d e-mails, %d rotations for an account being retired; want none", n, e.prov.Rotated(a.Slug))
		}
	})
}
