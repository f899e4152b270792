package orders_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// 500 deliveries (250 orders, each twice, shuffled, 16 concurrent senders) against 300 ready
// accounts: 250 claimed and delivered, 250 e-mails, none twice.
func TestConcurrentReplaysDeliverOneEmailPerOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		seedReady(t, s, "basic", 300)
		e := newEnv(t, s, func(c *orders.Config) { c.DeliveryConcurrency = 8 })
		const n = 250
		var payloads [][]byte
		for i := range n {
			p := paid(fmt.Sprintf("evt_%03d", i), fmt.Sprintf("cs_%03d", i))
			payloads = append(payloads, p, p)
		}
		rand.Shuffle(len(payloads), func(i, j int) { payloads[i], payloads[j] = payloads[j], payloads[i] })
		work := make(chan []byte)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		for range 16 {
			wg.Go(func() {
				for p := range work {
					rec := post(e.h, p, sign(p, secret, time.Now()))
					if rec.Code != http.StatusOK {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%d %s", rec.Code, rec.Body))
						mu.Unlock()
					}
				}
			})
		}
		for _, p := range payloads {
			work <- p
		}
		close(work)
		wg.Wait()
		if len(failures) > 0 {
			t.Fatalf("%d deliveries failed, first: %s", len(failures), failures[0])
		}
		waitFor(t, "250 accounts delivered", func() bool { return count(t, s, "basic", pool.StateDelivered) == n })
		if got := count(t, s, "basic", pool.StateReady); got != 300-n {
			t.Fatalf("ready = %d, want %d", got, 300-n)
		}
		if got := count(t, s, "basic", pool.StateClaimed); got != 0 {
			t.Fatalf("claimed (undelivered) = %d, want 0", got)
		}
		msgs := e.mail.Messages(t)
		if len(msgs) != n {
			t.Fatalf("mailpit received %d e-mails, want %d", len(msgs), n)
		}
		ids, to := map[string]bool{}, map[string]bool{}
		for _, m := range msgs {
			if ids[m.MessageID] || len(m.To) != 1 || to[m.To[0].Address] {
				t.Fatalf("duplicate e-mail: %s to %v", m.MessageID, m.To)
			}
			ids[m.MessageID], to[m.To[0].Address] = true, true
		}
		// Every e-mail carries the password of the account its order claimed.
		accounts, err := s.List(context.Background(), store.Filter{State: pool.StateDelivered})
		if err != nil {
			t.Fatal(err)
		}
		byOrder := map[string]pool.Account{}
		for _, a := range accounts {
			byOrder[a.OrderID] = a
		}
		for _, m := range msgs {
			id := strings.TrimSuffix(m.To[0].Address, "@example.test")
			a, ok := byOrder[id]
			if !ok || !strings.Contains(m.Text, a.CustomerPassword) || !strings.Contains(m.Text, a.URL+"/login") {
				t.Fatalf("e-mail to %s does not carry the credentials of its account", m.To[0].Address)
			}
		}
		// A replay days later changes nothing and sends nothing.
		before := stateDigest(t, s)
		e.send(payloads[0])
		if after := stateDigest(t, s); after != before {
			t.Fatalf("replay changed state:\n%s\nvs\n%s", before, after)
		}
	})
}

// SMTP down while orders arrive: every e-mail goes out once it is back, none twice.
func TestSMTPOutageDeliversEveryEmailOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		seedReady(t, s, "basic", 12)
		e := newEnv(t, s, nil)
		e.mail.Stop()
		const n = 10
		for i := range n {
			e.send(paid(fmt.Sprintf("evt_o%d", i), fmt.Sprintf("cs_o%d", i)))
		}
		// Wait until every delivery has failed at least once against the stopped server.
		waitFor(t, "failed delivery attempts", func() bool {
			var failed int
			err := s.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'order_deliver' AND attempt >= 1 AND state IN ('retryable', 'available', 'running', 'scheduled')`).Scan(&failed)
			if err != nil {
				t.Fatal(err)
			}
			return failed == n
		})
		if got := count(t, s, "basic", pool.StateDelivered); got != 0 {
			t.Fatalf("%d accounts delivered while SMTP was down", got)
		}
		e.mail.Restart(t)
		waitFor(t, "all delivered", func() bool { return count(t, s, "basic", pool.StateDelivered) == n })
		msgs := e.mail.Messages(t)
		if len(msgs) != n {
			t.Fatalf("mailpit received %d e-mails, want %d", len(msgs), n)
		}
		seen := map[string]bool{}
		for _, m := range msgs {
			if seen[m.MessageID] {
				t.Fatalf("e-mail %s sent twice", m.MessageID)
			}
			seen[m.MessageID] = true
		}
	})
}

// An empty pool: the order is stored pending with an on-demand account, and its e-mail goes
// out once that account is ready.
func TestPendingOrderIsDeliveredWhenAnAccountIsReady(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		triggers := 0
		var mu sync.Mutex
		e := newEnv(t, s, func(c *orders.Config) {
			c.Trigger = func() { mu.Lock(); triggers++; mu.Unlock() }
		})
		block := make(chan struct{})
		e.prov.Block = block
		rec := e.send(paid("evt_p1", "cs_p1"))
		if !strings.Contains(rec.Body.String(), `"pending"`) {
			t.Fatalf("response %s, want pending", rec.Body)
		}
		e.send(paid("evt_p1", "cs_p1")) // replay: still one on-demand account
		e.send(event("evt_p1b", "checkout.session.async_payment_succeeded", time.Now(),
			session("cs_p1", "cs_p1@example.test", "", nil))) // same session, other event
		if o := order(t, s, "cs_p1"); o.State != store.OrderPending || o.Tier != "basic" {
			t.Fatalf("order = %+v, want pending basic", o)
		}
		if got := count(t, s, "basic", pool.StateProvisioning); got != 1 {
			t.Fatalf("provisioning = %d, want 1 on-demand account", got)
		}
		mu.Lock()
		if triggers == 0 {
			t.Error("the reconciler was not triggered")
		}
		mu.Unlock()
		close(block)
		waitFor(t, "order delivered", func() bool { return order(t, s, "cs_p1").State == store.OrderDelivered })
		if msgs := e.mail.Messages(t); len(msgs) != 1 || msgs[0].To[0].Address != "cs_p1@example.test" {
			t.Fatalf("mailpit has %d e-mails, want 1 to cs_p1", len(msgs))
		}
	})
}

// A session whose price is not mapped (its metadata says it is ours) is held, not dropped:
// once the price map knows its price (a restart with a fixed config), its line items are read
// again and it is claimed and delivered.
func TestHeldOrderIsClaimedOnceItsPriceIsMapped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		seedReady(t, s, "premium", 1)
		sc := stripeClient(mockStripe(t, "price_new", 9900, 1))
		e := newEnv(t, s, func(c *orders.Config) { c.Stripe = sc })
		obj := session("cs_h1", "held@example.test", "", map[string]any{"metadata": map[string]any{"price_id": "price_new"}})
		rec := e.send(event("evt_h1", "checkout.session.completed", time.Now(), obj))
		if !strings.Contains(rec.Body.String(), `"held"`) {
			t.Fatalf("response %s, want held", rec.Body)
		}
		if o := order(t, s, "cs_h1"); o.State != store.OrderHeld || o.Tier != "" || !strings.Contains(o.LastError, "price_new") {
			t.Fatalf("order = %+v, want held, no tier, the reason", o)
		}
		// The fixed daemon: same store, price map now has the price.
		e2 := newEnv(t, s, func(c *orders.Config) { c.Stripe = sc; c.Prices = map[string]string{"price_new": "premium"} })
		waitFor(t, "held order delivered", func() bool { return order(t, s, "cs_h1").State == store.OrderDelivered })
		if o := order(t, s, "cs_h1"); o.Tier != "premium" {
			t.Fatalf("tier = %q, want premium", o.Tier)
		}
		if n := len(e.mail.Messages(t)) + len(e2.mail.Messages(t)); n != 1 {
			t.Fatalf("%d e-mails, want 1", n)
		}
	})
}

// Subscription lifecycle: paused → suspended, resumed (active) → running again, deleted →
// destroyed after the grace period; a stale event changes nothing, nor does an "active" after the
// deletion.
func TestSubscriptionLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		seedReady(t, s, "basic", 1)
		// The grace must outlast the resume below: the first suspension's teardown fires when it
		// ends, and a resume that comes later is rightly too late (300 ms was, under -race on a
		// loaded CI machine).
		e := newEnv(t, s, func(c *orders.Config) { c.Grace = 3 * time.Second })
		e.send(paid("evt_s0", "cs_s1"))
		waitFor(t, "delivered", func() bool { return order(t, s, "cs_s1").State == store.OrderDelivered })
		o := order(t, s, "cs_s1")
		a, _ := s.Get(context.Background(), o.AccountID)
		sub := func(status string) map[string]any {
			return map[string]any{"id": "sub_cs_s1", "object": "subscription", "status": status}
		}
		t0 := time.Now()
		e.send(event("evt_s1", orders.EventSubscriptionPaused, t0, sub("paused")))
		waitFor(t, "suspended", func() bool { a, _ := s.Get(context.Background(), a.ID); return a.State == pool.StateSuspended })
		// Out of order: an older "active" update arrives after the pause.
		rec := e.send(event("evt_s0b", orders.EventSubscriptionUpdated, t0.Add(-time.Hour), sub("active")))
		if !strings.Contains(rec.Body.String(), "stale") {
			t.Fatalf("stale event answered %s", rec.Body)
		}
		e.send(event("evt_s2", orders.EventSubscriptionResumed, t0.Add(time.Second), sub("active")))
		waitFor(t, "resumed", func() bool { a, _ := s.Get(context.Background(), a.ID); return a.State == pool.StateDelivered })
		if sus, res := e.prov.counts(a.Slug); sus < 1 || res < 1 {
			t.Fatalf("suspend/resume calls = %d/%d", sus, res)
		}
		// The teardown scheduled for the first suspension must not destroy the resumed tenant.
		waitFor(t, "the first suspension's teardown job", func() bool { return jobsDone(t, s, "order_retire") })
		if a, _ := s.Get(context.Background(), a.ID); a.State != pool.StateDelivered {
			t.Fatalf("resumed account is %s", a.State)
		}
		e.send(event("evt_s3", orders.EventSubscriptionDeleted, t0.Add(2*time.Second), sub("canceled")))
		e.send(event("evt_s3", orders.EventSubscriptionDeleted, t0.Add(2*time.Second), sub("canceled"))) // replay
		// Canceled is terminal: an "active" of the same second, or later, is stale.
		for i, at := range []time.Time{t0.Add(2 * time.Second), t0.Add(time.Hour)} {
			rec := e.send(event(fmt.Sprintf("evt_s4_%d", i), orders.EventSubscriptionUpdated, at, sub("active")))
			if !strings.Contains(rec.Body.String(), "stale") {
				t.Fatalf("active after canceled answered %s", rec.Body)
			}
		}
		waitFor(t, "retired and destroyed", func() bool {
			a, _ := s.Get(context.Background(), a.ID)
			return a.State == pool.StateRetired && e.prov.Destroyed(a.Slug) >= 1
		})
	})
}

// A deletion that arrives before its checkout: the tenant is delivered, then suspended.
func TestSubscriptionDeletedBeforeCheckout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		seedReady(t, s, "basic", 1)
		e := newEnv(t, s, nil)
		e.send(event("evt_d1", orders.EventSubscriptionDeleted, time.Now(),
			map[string]any{"id": "sub_cs_d1", "object": "subscription", "status": "canceled"}))
		e.send(paid("evt_d0", "cs_d1"))
		waitFor(t, "suspended", func() bool {
			o := order(t, s, "cs_d1")
			a, _ := s.Get(context.Background(), o.AccountID)
			return o.State == store.OrderDelivered && a.State == pool.StateSuspended
		})
	})
}

func TestPaymentFailedSendsOneNoticePerInvoice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		seedReady(t, s, "basic", 1)
		e := newEnv(t, s, nil)
		e.send(paid("evt_f0", "cs_f1"))
		inv := func(id string) map[string]any {
			return map[string]any{"id": id, "object": "invoice", "customer_email": "cs_f1@example.test",
				"hosted_invoice_url": "https://invoice.example.test/" + id,
				"parent":             map[string]any{"subscription_details": map[string]any{"subscription": "sub_cs_f1"}}}
		}
		e.send(event("evt_f1", orders.EventInvoicePaymentFailed, time.Now(), inv("in_1")))
		e.send(event("evt_f1", orders.EventInvoicePaymentFailed, time.Now(), inv("in_1")))
		e.send(event("evt_f2", orders.EventInvoicePaymentFailed, time.Now(), inv("in_2")))
		waitFor(t, "all e-mail jobs done", func() bool {
			return jobsDone(t, s, "order_deliver") && jobsDone(t, s, "order_payment_failed")
		})
		notices := 0
		for _, m := range e.mail.Messages(t) {
			if strings.Contains(m.Text, "https://invoice.example.test/in_") {
				notices++
			}
		}
		if notices != 2 || len(e.mail.Messages(t)) != 3 {
			t.Fatalf("%d notices in %d e-mails, want 2 in 3", notices, len(e.mail.Messages(t)))
		}
	})
}

// rotator wraps the tenants double and checks every rotation brings a new password.
type rotator struct {
	pool.Tenants
	mu    sync.Mutex
	calls int
}

func (r *rotator) RotateCustomer(_ context.Context, a pool.Account, pw string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if pw == a.CustomerPassword {
		return fmt.Errorf("same password")
	}
	r.calls++
	return nil
}

func TestResendRotatesThePassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		seedReady(t, s, "basic", 1)
		rot := &rotator{}
		e := newEnv(t, s, func(c *orders.Config) { rot.Tenants = c.Tenants; c.Tenants = rot })
		if _, err := e.svc.Resend(ctx, "cs_missing"); err == nil {
			t.Fatal("resend of an unknown order succeeded")
		}
		pooled, _ := s.List(ctx, store.Filter{State: pool.StateReady})
		e.send(paid("evt_r0", "cs_r1"))
		waitFor(t, "delivered", func() bool { return order(t, s, "cs_r1").State == store.OrderDelivered })
		before, _ := s.Get(ctx, order(t, s, "cs_r1").AccountID)
		// The first e-mail already carries a password made at delivery, not the pool's.
		if before.CustomerPassword == pooled[0].CustomerPassword || rot.calls != 1 {
			t.Fatalf("first delivery did not rotate the pool password (rotations %d)", rot.calls)
		}
		if first := e.mail.Messages(t); !strings.Contains(first[0].Text, before.CustomerPassword) || strings.Contains(first[0].Text, pooled[0].CustomerPassword) {
			t.Fatal("the first e-mail does not carry the rotated password only")
		}
		n, err := e.svc.Resend(ctx, "cs_r1")
		if err != nil || n != 1 {
			t.Fatalf("resend = %d, %v", n, err)
		}
		waitFor(t, "second e-mail", func() bool { return len(e.mail.Messages(t)) == 2 })
		after, _ := s.Get(ctx, before.ID)
		if after.CustomerPassword == before.CustomerPassword || rot.calls != 2 {
			t.Fatalf("password not rotated (rotations %d)", rot.calls)
		}
		msgs := e.mail.Messages(t) // newest first
		if !strings.Contains(msgs[0].Text, after.CustomerPassword) || strings.Contains(msgs[0].Text, before.CustomerPassword) {
			t.Fatal("the resent e-mail does not carry the new password only")
		}
		if msgs[0].MessageID == msgs[1].MessageID {
			t.Fatal("the resend reused the first e-mail's Message-ID")
		}
	})
}
