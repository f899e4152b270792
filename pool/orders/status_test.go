package orders_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// Every status a sold tenant can go through, each on its own delivered order, through the real
// handler with signed events: what the webhook answers and what becomes of the tenant.
func TestEveryStatus(t *testing.T) {
	const pastDueGrace, term = 3 * time.Second, 3 * time.Second
	type step struct {
		typ     string
		obj     map[string]any
		at      time.Duration // event created, relative to the case's start
		outcome string        // part of the webhook's answer
	}
	sub := func(id, status string) map[string]any {
		return map[string]any{"id": "sub_" + id, "object": "subscription", "status": status}
	}
	cases := []struct {
		id        string // the session's id
		name      string
		session   map[string]any // extra session fields
		steps     []step
		suspended bool
		notBefore time.Duration // the suspension waits this long after the case's start
	}{
		{id: "cs_trial", name: "trialing", steps: []step{{orders.EventSubscriptionUpdated, sub("cs_trial", "trialing"), 0, "sync"}}},
		{id: "cs_unpaid", name: "unpaid", steps: []step{{orders.EventSubscriptionUpdated, sub("cs_unpaid", "unpaid"), 0, "sync"}}, suspended: true},
		{id: "cs_paused", name: "paused", steps: []step{{orders.EventSubscriptionPaused, sub("cs_paused", "paused"), 0, "sync"}}, suspended: true},
		{id: "cs_incexp", name: "incomplete_expired", steps: []step{{orders.EventSubscriptionUpdated, sub("cs_incexp", "incomplete_expired"), 0, "sync"}}, suspended: true},
		{id: "cs_cancel", name: "canceled, then active in the same second", steps: []step{
			{orders.EventSubscriptionDeleted, sub("cs_cancel", "canceled"), 0, "sync"},
			{orders.EventSubscriptionUpdated, sub("cs_cancel", "active"), 0, "stale"},
		}, suspended: true},
		{id: "cs_pastdue", name: "past_due runs for its grace", steps: []step{{orders.EventSubscriptionUpdated, sub("cs_pastdue", "past_due"), 0, "sync"}},
			suspended: true, notBefore: pastDueGrace},
		{id: "cs_refund", name: "full refund", session: map[string]any{"payment_intent": "pi_refund"}, steps: []step{{orders.EventChargeRefunded,
			map[string]any{"id": "ch_refund", "object": "charge", "refunded": true, "payment_intent": "pi_refund"}, 0, "ended"}}, suspended: true},
		{id: "cs_partial", name: "partial refund", session: map[string]any{"payment_intent": "pi_partial"}, steps: []step{{orders.EventChargeRefunded,
			map[string]any{"id": "ch_partial", "object": "charge", "refunded": false, "payment_intent": "pi_partial"}, 0, "partial refund"}}},
		{id: "cs_lost", name: "dispute lost", session: map[string]any{"payment_intent": "pi_lost"}, steps: []step{{orders.EventDisputeClosed,
			map[string]any{"id": "dp_lost", "object": "dispute", "status": "lost", "charge": "ch_lost", "payment_intent": "pi_lost"}, 0, "ended"}}, suspended: true},
		{id: "cs_won", name: "dispute won", session: map[string]any{"payment_intent": "pi_won"}, steps: []step{{orders.EventDisputeClosed,
			map[string]any{"id": "dp_won", "object": "dispute", "status": "won", "charge": "ch_won", "payment_intent": "pi_won"}, 0, "dispute won"}}},
		{id: "cs_once", name: "one-time payment's term", session: map[string]any{"mode": "payment", "subscription": nil, "payment_intent": "pi_once"},
			suspended: true, notBefore: term},
	}
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		seedReady(t, s, "basic", len(cases))
		e := newEnv(t, s, func(c *orders.Config) { c.PastDueGrace, c.PaymentTerm, c.Grace = pastDueGrace, term, time.Hour })
		start := make([]time.Time, len(cases))
		ids := make([]string, len(cases))
		for i, c := range cases {
			id := c.id
			ids[i] = id
			start[i] = time.Now()
			e.send(event("evt_paid_"+id, orders.EventCheckoutCompleted, start[i], session(id, id+"@example.test", "", c.session)))
		}
		for i := range cases {
			waitFor(t, ids[i]+" delivered", func() bool { return order(t, s, ids[i]).State == store.OrderDelivered })
		}
		for i, c := range cases {
			for j, st := range c.steps {
				rec := e.send(event("evt_"+ids[i]+"_"+string(rune('a'+j)), st.typ, start[i].Add(st.at), st.obj))
				if !strings.Contains(rec.Body.String(), st.outcome) {
					t.Fatalf("%s: step %d answered %s, want %q", c.name, j, strings.TrimSpace(rec.Body.String()), st.outcome)
				}
			}
		}
		account := func(i int) pool.Account {
			a, err := s.Get(context.Background(), order(t, s, ids[i]).AccountID)
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		for i, c := range cases {
			if !c.suspended {
				continue
			}
			waitFor(t, c.name+" suspended", func() bool { return account(i).State == pool.StateSuspended })
			if at := e.prov.suspendedAt(account(i).Slug); at.Before(start[i].Truncate(time.Second).Add(c.notBefore)) {
				t.Errorf("%s: suspended at %v, before its deadline %v", c.name, at, start[i].Add(c.notBefore))
			}
		}
		// The others keep running: every job touching them has run (suspensions above took longer).
		waitFor(t, "syncs settled", func() bool { return jobsDone(t, s, "order_deliver") })
		for i, c := range cases {
			if !c.suspended {
				if a := account(i); a.State != pool.StateDelivered {
					t.Errorf("%s: account %s, want delivered", c.name, a.State)
				}
			}
		}
	})
}
