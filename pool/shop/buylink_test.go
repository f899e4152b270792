package shop_test

import (
	"net/http"
	"testing"
)

// GET /buy/{tier} (the credentials e-mail's upgrade link) leads to the tier's Buy button on the
// pricing page and creates no Checkout Session; an unknown tier is 404.
func TestBuyLinkLeadsToPricing(t *testing.T) {
	f := start(t, nil)
	resp, err := noRedirect.Get(f.srv.URL + "/buy/premium")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/pricing#tp-tier-premium" {
		t.Fatalf("GET /buy/premium: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := len(f.rec.calls("POST", "")); n != 0 {
		t.Fatalf("%d Stripe requests for a link", n)
	}
	resp, err = noRedirect.Get(f.srv.URL + "/buy/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /buy/nope: %d", resp.StatusCode)
	}
}
