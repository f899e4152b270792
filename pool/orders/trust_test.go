package orders_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/orders/stripemocktest"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// The case of the issue: metadata says premium (and names the basic price), the price paid is
// basic. The order is held with its reason; no premium account is claimed, nor a basic one.
func TestMetadataDisagreeingWithThePricePaidIsHeld(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		seedReady(t, s, "premium", 1)
		seedReady(t, s, "basic", 1)
		h := handlerOnly(t, s).Handler() // stripe-mock: the session bought price_basic
		obj := session("cs_meta", "meta@example.test", "", map[string]any{
			"metadata": map[string]any{"tier": "premium", "price_id": "price_basic"}})
		payload := event("evt_meta", orders.EventCheckoutCompleted, time.Now(), obj)
		rec := post(h, payload, sign(payload, secret, time.Now()))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"held"`) {
			t.Fatalf("answered %d %s, want 200 held", rec.Code, rec.Body)
		}
		o := order(t, s, "cs_meta")
		if o.State != store.OrderHeld || o.Tier != "" || o.AccountID != 0 || !strings.Contains(o.LastError, `metadata tier "premium"`) {
			t.Fatalf("order = %+v, want held with the metadata's disagreement", o)
		}
		if count(t, s, "premium", pool.StateReady) != 1 || count(t, s, "basic", pool.StateReady) != 1 {
			t.Fatal("an account was claimed for a held order")
		}
		// Held for the operator: it is listed with its reason.
		held, err := s.ListOrders(context.Background(), store.OrderFilter{State: store.OrderHeld})
		if err != nil || len(held) != 1 || held[0].LastError == "" {
			t.Fatalf("held orders = %+v, %v", held, err)
		}
	})
}

// The storefront's own metadata keys are hints too: a session the storefront made for premium
// that paid the basic price is held, and one whose two tier hints disagree is held.
func TestStorefrontMetadataMustAgree(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		seedReady(t, s, "premium", 1)
		seedReady(t, s, "basic", 2)
		h := handlerOnly(t, s).Handler() // stripe-mock: the session bought price_basic
		for i, md := range []map[string]any{
			{pool.MetaTier: "premium", pool.MetaPrice: "price_basic"},
			{pool.MetaTier: "basic", "tier": "premium"},
		} {
			id := fmt.Sprintf("cs_shop%d", i)
			payload := event("evt_"+id, orders.EventCheckoutCompleted, time.Now(), session(id, "shop@example.test", "", map[string]any{"metadata": md}))
			if rec := post(h, payload, sign(payload, secret, time.Now())); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"held"`) {
				t.Fatalf("%v: answered %d %s, want 200 held", md, rec.Code, rec.Body)
			}
			if o := order(t, s, id); o.State != store.OrderHeld || !strings.Contains(o.LastError, "disagrees with the price paid") {
				t.Fatalf("%v: order = %+v, want held for the disagreement", md, o)
			}
		}
		// Agreeing storefront metadata is claimed.
		payload := event("evt_ok", orders.EventCheckoutCompleted, time.Now(), session("cs_shopok", "shop@example.test", "", map[string]any{
			"metadata": map[string]any{pool.MetaTier: "basic", pool.MetaPrice: "price_basic"}}))
		if rec := post(h, payload, sign(payload, secret, time.Now())); rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"held"`) {
			t.Fatalf("agreeing metadata: answered %d %s", rec.Code, rec.Body)
		}
		if count(t, s, "premium", pool.StateReady) != 1 {
			t.Fatal("a premium account was claimed")
		}
	})
}

// What Stripe charged decides: each case is a session as the API reports it (line items and
// amounts), sent through the signed webhook.
func TestThePricePaidDecides(t *testing.T) {
	usd := func(fields map[string]any) stripemocktest.Option {
		return stripemocktest.Fixture("checkout.session", fields)
	}
	item := func(fields map[string]any) stripemocktest.Option { return stripemocktest.Fixture("item", fields) }
	for _, c := range []struct {
		name    string
		price   string
		unit    int64
		qty     int64
		opts    []stripemocktest.Option
		meta    map[string]any
		status  string // payment_status of the event ("" = paid)
		outcome string // the webhook's outcome
		tier    string // the claimed order's tier; "" = none
		reason  string // part of a held order's reason
	}{
		{name: "basic price, paid in full", price: "price_basic", unit: 2900, qty: 1, outcome: "claimed", tier: "basic"},
		{name: "no metadata at all", price: "price_basic", unit: 2900, qty: 1, meta: map[string]any{}, outcome: "claimed", tier: "basic"},
		{name: "coupon: half off", price: "price_basic", unit: 2900, qty: 1, outcome: "claimed", tier: "basic",
			opts: []stripemocktest.Option{usd(map[string]any{"amount_total": 1450, "total_details": map[string]any{"amount_discount": 1450}})}},
		{name: "100 % coupon", price: "price_basic", unit: 2900, qty: 1, status: "no_payment_required", outcome: "claimed", tier: "basic",
			opts: []stripemocktest.Option{usd(map[string]any{"amount_total": 0, "total_details": map[string]any{"amount_discount": 2900}})}},
		{name: "trial: nothing due today", price: "price_basic", unit: 2900, qty: 1, status: "no_payment_required", outcome: "claimed", tier: "basic",
			opts: []stripemocktest.Option{usd(map[string]any{"amount_total": 0, "amount_subtotal": 0}), item(map[string]any{"amount_subtotal": 0, "amount_total": 0})}},
		{name: "trial: full subtotal, nothing due today", price: "price_basic", unit: 2900, qty: 1, status: "no_payment_required", outcome: "claimed", tier: "basic",
			opts: []stripemocktest.Option{usd(map[string]any{"amount_total": 0})}},
		{name: "nothing due, but marked paid", price: "price_basic", unit: 2900, qty: 1, outcome: "held", reason: "total 0",
			opts: []stripemocktest.Option{usd(map[string]any{"amount_total": 0})}},
		{name: "exclusive tax on top", price: "price_basic", unit: 2900, qty: 1, outcome: "claimed", tier: "basic",
			opts: []stripemocktest.Option{usd(map[string]any{"amount_total": 3480, "total_details": map[string]any{"amount_tax": 580}})}},
		{name: "total below the price", price: "price_basic", unit: 2900, qty: 1, outcome: "held", reason: "total 100",
			opts: []stripemocktest.Option{usd(map[string]any{"amount_total": 100})}},
		{name: "subtotal not price × quantity", price: "price_basic", unit: 2900, qty: 1, outcome: "held", reason: "subtotal 100 is not 2900",
			opts: []stripemocktest.Option{usd(map[string]any{"amount_subtotal": 100, "amount_total": 100}), item(map[string]any{"amount_subtotal": 100})}},
		{name: "currency differs", price: "price_basic", unit: 2900, qty: 1, outcome: "held", reason: `in "eur"`,
			opts: []stripemocktest.Option{item(map[string]any{"currency": "eur"})}},
		{name: "another product, no metadata of ours", price: "price_tshirt", unit: 1000, qty: 1, meta: map[string]any{}, outcome: "ignored"},
		{name: "another product, metadata of ours", price: "price_tshirt", unit: 1000, qty: 1, outcome: "held", reason: "no line item's price (price_tshirt)"},
		{name: "more seats than allowed", price: "price_basic", unit: 2900, qty: 51, outcome: "held", reason: "51 seats"},
		{name: "unpaid", price: "price_basic", unit: 2900, qty: 1, status: "unpaid", outcome: "awaiting payment"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := storetest.OpenSQLite(t, t.TempDir(), nil)
			seedReady(t, s, "basic", 1)
			sc := stripeClient(mockStripe(t, c.price, c.unit, c.qty, c.opts...))
			h := handlerOnly(t, s, func(cfg *orders.Config) { cfg.Stripe = sc }).Handler()
			extra := map[string]any{}
			if c.meta != nil {
				extra["metadata"] = c.meta
			}
			if c.status != "" {
				extra["payment_status"] = c.status
			}
			before := stateDigest(t, s)
			payload := event("evt_1", orders.EventCheckoutCompleted, time.Now(), session("cs_1", "ada@example.test", "Ada", extra))
			rec := post(h, payload, sign(payload, secret, time.Now()))
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"`+c.outcome+`"`) {
				t.Fatalf("answered %d %s, want 200 %s", rec.Code, strings.TrimSpace(rec.Body.String()), c.outcome)
			}
			switch c.outcome {
			case "claimed":
				if o := order(t, s, "cs_1"); o.Tier != c.tier || o.State != store.OrderClaimed {
					t.Fatalf("order %+v, want claimed %s", o, c.tier)
				}
			case "held":
				o := order(t, s, "cs_1")
				if o.State != store.OrderHeld || !strings.Contains(o.LastError, c.reason) {
					t.Fatalf("order %+v, want held for %q", o, c.reason)
				}
				if count(t, s, "basic", pool.StateReady) != 1 {
					t.Fatal("a held order claimed an account")
				}
			default: // ignored, awaiting payment: acknowledged, nothing written
				if after := stateDigest(t, s); after != before {
					t.Fatalf("state changed:\n%s", after)
				}
			}
		})
	}
}

// Events of the other mode and of Connect accounts are acknowledged (Stripe stops sending
// them) and change nothing; a live-mode endpoint takes live events.
func TestOtherModeAndConnectEventsAreIgnored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		seedReady(t, s, "basic", 2)
		test := handlerOnly(t, s).Handler()
		live := handlerOnly(t, s, func(c *orders.Config) { c.Livemode = true }).Handler()
		before := stateDigest(t, s)
		with := func(id string, fields map[string]any) []byte {
			b := paid(id, "cs_"+id)
			return withEventFields(t, b, fields)
		}
		for _, c := range []struct {
			name    string
			h       http.Handler
			payload []byte
			outcome string
		}{
			{"live event, test endpoint", test, with("lm1", map[string]any{"livemode": true}), "livemode mismatch"},
			{"test event, live endpoint", live, with("lm2", nil), "livemode mismatch"},
			{"connect event", test, with("cn1", map[string]any{"account": "acct_1"}), "connect account"},
			{"connect subscription deletion", test, withEventFields(t, event("cn2", orders.EventSubscriptionDeleted, time.Now(),
				map[string]any{"id": "sub_x", "status": "canceled"}), map[string]any{"account": "acct_1"}), "connect account"},
		} {
			rec := post(c.h, c.payload, sign(c.payload, secret, time.Now()))
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), c.outcome) {
				t.Fatalf("%s: answered %d %s", c.name, rec.Code, rec.Body)
			}
		}
		if after := stateDigest(t, s); after != before {
			t.Fatalf("ignored events changed state:\n%s", after)
		}
		// The live endpoint takes a live event (stripe-mock serves any mode).
		p := with("lm3", map[string]any{"livemode": true})
		if rec := post(live, p, sign(p, secret, time.Now())); !strings.Contains(rec.Body.String(), "claimed") {
			t.Fatalf("live event on the live endpoint: %d %s", rec.Code, rec.Body)
		}
	})
}

// A session without a usable e-mail is held and shown with its reason, never answered 400 (and
// so lost once Stripe stops retrying).
func TestSessionWithoutEmailIsHeld(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		seedReady(t, s, "basic", 1)
		h := handlerOnly(t, s).Handler()
		for i, email := range []string{"", "not an address", "Ada <ada@example.test>"} {
			id := "cs_noemail_" + string(rune('a'+i))
			payload := event("evt_"+id, orders.EventCheckoutCompleted, time.Now(), session(id, email, "", nil))
			rec := post(h, payload, sign(payload, secret, time.Now()))
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "held") {
				t.Fatalf("%q: answered %d %s", email, rec.Code, rec.Body)
			}
			if o := order(t, s, id); o.State != store.OrderHeld || o.LastError != "no usable customer e-mail" {
				t.Fatalf("%q: order %+v", email, o)
			}
		}
		if count(t, s, "basic", pool.StateReady) != 1 {
			t.Fatal("an order without e-mail claimed an account")
		}
	})
}

// The Stripe API is down: the webhook answers 5xx and writes nothing, so Stripe redelivers;
// the redelivery is fulfilled once the API answers.
func TestStripeAPIOutageIsRetriedByStripe(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	seedReady(t, s, "basic", 1)
	down := mockStripe(t, "price_basic", 2900, 1)
	sc := stripeClient(down)
	down.Stop()
	h := handlerOnly(t, s, func(c *orders.Config) { c.Stripe = sc }).Handler()
	before := stateDigest(t, s)
	payload := paid("evt_down", "cs_down")
	if rec := post(h, payload, sign(payload, secret, time.Now())); rec.Code != http.StatusInternalServerError {
		t.Fatalf("answered %d %s, want 500", rec.Code, rec.Body)
	}
	if after := stateDigest(t, s); after != before {
		t.Fatalf("a failed lookup changed state:\n%s", after)
	}
	up := handlerOnly(t, s).Handler()
	if rec := post(up, payload, sign(payload, secret, time.Now())); !strings.Contains(rec.Body.String(), "claimed") {
		t.Fatalf("redelivery: %d %s", rec.Code, rec.Body)
	}
}
