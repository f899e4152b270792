package stripemocktest_test

import (
	"context"
	"testing"

	"github.com/stripe/stripe-go/v82"

	"github.com/axiestudio/tenantpool/pool/orders/stripemocktest"
)

func client(s *stripemocktest.Server) *stripe.Client {
	return stripe.NewClient(stripemocktest.Key, stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL: stripe.String(s.URL), MaxNetworkRetries: stripe.Int64(0), LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	})))
}

// A session retrieved with its line items expanded carries the patched price and quantity, and
// a created session echoes nothing stale: this is what the order code relies on.
func TestPatchedFixtures(t *testing.T) {
	s := stripemocktest.Start(t,
		stripemocktest.Fixture("checkout.session", map[string]any{"amount_total": 4500, "currency": "eur", "livemode": false}),
		stripemocktest.Fixture("item", map[string]any{"quantity": 5, "price": map[string]any{"id": "price_basic_month", "unit_amount": 900, "currency": "eur"}}),
	)
	ctx := context.Background()
	sc := client(s)
	params := &stripe.CheckoutSessionRetrieveParams{}
	params.AddExpand("line_items")
	sess, err := sc.V1CheckoutSessions.Retrieve(ctx, "cs_test_a", params)
	if err != nil {
		t.Fatal(err)
	}
	if sess.ID != "cs_test_a" || sess.AmountTotal != 4500 || sess.Currency != "eur" {
		t.Fatalf("session %s amount %d %s", sess.ID, sess.AmountTotal, sess.Currency)
	}
	if sess.LineItems == nil || len(sess.LineItems.Data) != 1 {
		t.Fatalf("line items %+v", sess.LineItems)
	}
	li := sess.LineItems.Data[0]
	if li.Quantity != 5 || li.Price == nil || li.Price.ID != "price_basic_month" || li.Price.UnitAmount != 900 {
		t.Fatalf("line item %+v price %+v", li, li.Price)
	}
}

// Without options the bundled fixtures are served, and creating a Checkout Session works.
func TestCreateSession(t *testing.T) {
	s := stripemocktest.Start(t)
	sess, err := client(s).V1CheckoutSessions.Create(context.Background(), &stripe.CheckoutSessionCreateParams{
		Mode:       stripe.String(string(stripe.CheckoutSessionModeSubscription)),
		SuccessURL: stripe.String("https://shop.example.test/welcome?session_id={CHECKOUT_SESSION_ID}"),
		LineItems:  []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String("price_basic_month"), Quantity: stripe.Int64(2)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if sess.ID == "" || sess.URL == "" {
		t.Fatalf("session %q url %q", sess.ID, sess.URL)
	}
}
