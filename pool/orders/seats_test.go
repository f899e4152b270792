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

// A checkout for 5 seats claims 5 accounts in one transaction and sends one e-mail (through
// Mailpit) listing the 5 logins, each with its freshly rotated password; a cancellation
// suspends all 5.
func TestFiveSeatsClaimFiveAccountsAndOneEmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		seedReady(t, s, "basic", 6)
		e := newEnv(t, s, func(c *orders.Config) { c.Stripe = stripeClient(mockStripe(t, "price_basic", 2900, 5)) })
		rec := e.send(paid("evt_q5", "cs_q5"))
		if !strings.Contains(rec.Body.String(), `"claimed"`) {
			t.Fatalf("answered %s, want claimed", rec.Body)
		}
		if got := count(t, s, "basic", pool.StateReady); got != 1 {
			t.Fatalf("%d ready left, want 1 (5 claimed)", got)
		}
		e.send(paid("evt_q5", "cs_q5")) // replay: still 5
		waitFor(t, "delivered", func() bool { return order(t, s, "cs_q5").State == store.OrderDelivered })
		as, err := s.OrderAccounts(ctx, "cs_q5")
		if err != nil || len(as) != 5 {
			t.Fatalf("order accounts = %d (%v), want 5", len(as), err)
		}
		msgs := e.mail.Messages(t)
		if len(msgs) != 1 {
			t.Fatalf("%d e-mails, want one", len(msgs))
		}
		seen := map[int64]bool{}
		for _, a := range as {
			if seen[a.ID] || a.State != pool.StateDelivered {
				t.Fatalf("account %d twice or %s", a.ID, a.State)
			}
			seen[a.ID] = true
			if !strings.Contains(msgs[0].Text, a.CustomerUser) || !strings.Contains(msgs[0].Text, a.CustomerPassword) ||
				!strings.Contains(msgs[0].Text, a.URL+"/login") {
				t.Fatalf("the e-mail lacks the login of %s:\n%s", a.Slug, msgs[0].Text)
			}
		}
		if n := strings.Count(msgs[0].Text, "Workspace "); n != 5 {
			t.Fatalf("the e-mail lists %d workspaces, want 5", n)
		}
		e.send(event("evt_q5_del", orders.EventSubscriptionDeleted, time.Now(),
			map[string]any{"id": "sub_cs_q5", "object": "subscription", "status": "canceled"}))
		waitFor(t, "all 5 suspended", func() bool {
			as, _ := s.OrderAccounts(ctx, "cs_q5")
			for _, a := range as {
				if a.State != pool.StateSuspended {
					return false
				}
			}
			return len(as) == 5
		})
	})
}

// Fewer ready accounts than seats: the order waits, with on-demand accounts for the shortfall,
// and claims all its seats at once when they are ready.
func TestSeatsShortfallIsProvisioned(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		seedReady(t, s, "basic", 2)
		e := newEnv(t, s, func(c *orders.Config) { c.Stripe = stripeClient(mockStripe(t, "price_basic", 2900, 5)) })
		block := make(chan struct{})
		e.prov.Block = block
		if rec := e.send(paid("evt_q3", "cs_q3")); !strings.Contains(rec.Body.String(), `"pending"`) {
			t.Fatalf("answered %s, want pending", rec.Body)
		}
		if got := count(t, s, "basic", pool.StateProvisioning); got != 3 {
			t.Fatalf("%d on-demand accounts, want 3 (5 seats, 2 ready)", got)
		}
		if got := count(t, s, "basic", pool.StateReady); got != 2 {
			t.Fatalf("%d ready, want 2: a partial claim took some", got)
		}
		close(block)
		waitFor(t, "delivered", func() bool { return order(t, s, "cs_q3").State == store.OrderDelivered })
		if as, err := s.OrderAccounts(ctx, "cs_q3"); err != nil || len(as) != 5 {
			t.Fatalf("order accounts = %d (%v), want 5", len(as), err)
		}
		if msgs := e.mail.Messages(t); len(msgs) != 1 || strings.Count(msgs[0].Text, "Workspace ") != 5 {
			t.Fatalf("%d e-mails, want one listing 5 workspaces", len(msgs))
		}
	})
}

// One seat keeps the single-account e-mail.
func TestOneSeatKeepsTheSingleEmail(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	seedReady(t, s, "basic", 1)
	e := newEnv(t, s, nil)
	e.send(paid("evt_q1", "cs_q1"))
	waitFor(t, "delivered", func() bool { return order(t, s, "cs_q1").State == store.OrderDelivered })
	msgs := e.mail.Messages(t)
	if len(msgs) != 1 || strings.Contains(msgs[0].Text, "Workspace ") || !strings.Contains(msgs[0].Text, "Here are your login details") {
		t.Fatalf("single-seat e-mail changed:\n%s", msgs[0].Text)
	}
}
