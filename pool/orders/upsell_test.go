package orders_test

import (
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// The credentials e-mail's upsell: a Basic customer gets the upgrade link, a Premium one the
// link to their own custom-domain page (and not the upgrade).
func TestCredentialsUpsellByTier(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	seedReady(t, s, "basic", 1)
	seedReady(t, s, "premium", 1)
	link := func(a pool.Account) string { return "https://shop.example.test/domains?t=signed-" + a.Slug }

	basic := newEnv(t, s, func(c *orders.Config) { c.DomainLink = link })
	basic.send(paid("evt_b", "cs_basic"))
	waitFor(t, "basic delivered", func() bool { return order(t, s, "cs_basic").State == store.OrderDelivered })
	m := basic.mail.Messages(t)
	if len(m) != 1 || !strings.Contains(m[0].Text, "Upgrade to Premium") || !strings.Contains(m[0].Text, "https://example.test/upgrade") || strings.Contains(m[0].Text, "/domains?t=") {
		t.Fatalf("basic e-mail:\n%s", m[0].Text)
	}

	sc := stripeClient(mockStripe(t, "price_premium", 9900, 1))
	premium := newEnv(t, s, func(c *orders.Config) {
		c.Stripe, c.Prices, c.DomainLink = sc, map[string]string{"price_premium": "premium"}, link
	})
	premium.send(event("evt_p", "checkout.session.completed", time.Now(),
		session("cs_premium", "p@example.test", "", map[string]any{"metadata": map[string]any{"price_id": "price_premium"}})))
	waitFor(t, "premium delivered", func() bool { return order(t, s, "cs_premium").State == store.OrderDelivered })
	as, err := s.OrderAccounts(t.Context(), "cs_premium")
	if err != nil || len(as) != 1 {
		t.Fatal(as, err)
	}
	// Either daemon's job client may have sent it (they share the store).
	m = nil
	for _, x := range append(premium.mail.Messages(t), basic.mail.Messages(t)...) {
		if x.To[0].Address == "p@example.test" {
			m = append(m, x)
		}
	}
	if len(m) != 1 {
		t.Fatalf("%d premium e-mails", len(m))
	}
	if !strings.Contains(m[0].Text, "https://shop.example.test/domains?t=signed-"+as[0].Slug) ||
		strings.Contains(m[0].Text, "Upgrade to Premium") || !strings.Contains(m[0].HTML, "set it up here") {
		t.Fatalf("premium e-mail:\n%s", m[0].Text)
	}
}
