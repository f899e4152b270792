package shop_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/orders/stripemocktest"
	"github.com/axiestudio/tenantpool/pool/shop"
)

const checkoutURL = "https://checkout.stripe.com/c/pay/cs_test_storefront"

var sessionFixture = stripemocktest.Fixture("checkout.session", map[string]any{"url": checkoutURL})

// A form buy creates one subscription-mode Checkout Session for the tier's price of the
// interval, with the quantity, the e-mail, the daemon's own metadata and the success and cancel
// URLs, and sends the browser there with 303; a JSON client gets the URL.
func TestBuyCreatesSubscriptionCheckout(t *testing.T) {
	f := start(t, nil, sessionFixture)
	resp, body := f.do(http.MethodPost, "/buy/basic", form, "interval=year&quantity=3&email=buyer%40example.test")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != checkoutURL {
		t.Fatalf("buy: %d Location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	calls := f.rec.calls(http.MethodPost, "/v1/checkout/sessions")
	if len(calls) != 1 {
		t.Fatalf("%d session creates, want 1", len(calls))
	}
	want := map[string]string{
		"mode":                                "subscription",
		"line_items[0][price]":                "price_basic_year",
		"line_items[0][quantity]":             "3",
		"customer_email":                      "buyer@example.test",
		"success_url":                         f.srv.URL + "/welcome?session_id={CHECKOUT_SESSION_ID}",
		"cancel_url":                          f.srv.URL + "/pricing",
		"metadata[" + pool.MetaTier + "]":     "basic",
		"metadata[" + pool.MetaInterval + "]": "year",
		"metadata[" + pool.MetaPrice + "]":    "price_basic_year",
		"subscription_data[metadata][" + pool.MetaTier + "]":     "basic",
		"subscription_data[metadata][" + pool.MetaInterval + "]": "year",
	}
	for k, v := range want {
		if got := calls[0].Form.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	// JSON, defaults (month, one seat), no e-mail, a configured cancel URL.
	f = start(t, func(c *shop.Config) { c.CancelURL = "https://shop.example.test/plans" }, sessionFixture)
	resp, body = f.do(http.MethodPost, "/buy/premium", "application/json", `{}`)
	var got struct{ URL string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.URL != checkoutURL {
		t.Fatalf("JSON buy: %d %s", resp.StatusCode, body)
	}
	calls = f.rec.calls(http.MethodPost, "/v1/checkout/sessions")
	if len(calls) != 1 {
		t.Fatalf("%d session creates, want 1", len(calls))
	}
	c := calls[0].Form
	if c.Get("line_items[0][price]") != "price_premium_month" || c.Get("line_items[0][quantity]") != "1" ||
		c.Has("customer_email") || c.Get("cancel_url") != "https://shop.example.test/plans" {
		t.Errorf("JSON buy sent %v", c)
	}
}

// Bad input gets a clear 4xx and creates nothing at Stripe.
func TestBuyRefusesBadInput(t *testing.T) {
	f := start(t, func(c *shop.Config) { c.MaxQuantity = 10 }, sessionFixture)
	for _, tc := range []struct {
		name, method, path, ctype, body string
		code                            int
		says                            string
	}{
		{"unknown tier", "POST", "/buy/gold", form, "interval=month", 404, "no tier"},
		{"tier not sold", "POST", "/buy/enterprise", form, "interval=month", 404, "not sold"},
		{"no yearly price", "POST", "/buy/premium", form, "interval=year", 404, "not sold by the year"},
		{"bad interval", "POST", "/buy/basic", form, "interval=week", 400, "interval"},
		{"zero seats", "POST", "/buy/basic", form, "quantity=0", 400, "choose 1 to 10"},
		{"negative seats", "POST", "/buy/basic", form, "quantity=-2", 400, "choose 1 to 10"},
		{"too many seats", "POST", "/buy/basic", form, "quantity=11", 400, "choose 1 to 10"},
		{"seats not a number", "POST", "/buy/basic", form, "quantity=3x", 400, "whole number"},
		{"bad e-mail", "POST", "/buy/basic", form, "email=not-an-address", 400, "not an e-mail"},
		{"e-mail with a name", "POST", "/buy/basic", form, "email=Eve+%3Ceve%40example.test%3E", 400, "not an e-mail"},
		{"e-mail with a newline", "POST", "/buy/basic", form, "email=eve%40example.test%0Abcc%3Ax%40example.test", 400, "not an e-mail"},
		{"JSON zero seats", "POST", "/buy/basic", "application/json", `{"quantity":0}`, 400, "choose 1 to 10"},
		{"JSON unknown field", "POST", "/buy/basic", "application/json", `{"price":"price_x"}`, 400, "not valid"},
		{"JSON two objects", "POST", "/buy/basic", "application/json", `{}{}`, 400, "one object"},
		{"other content type", "POST", "/buy/basic", "text/plain", "interval=month", 415, "form or JSON"},
		{"GET", "GET", "/buy/basic", "", "", 405, ""},
		{"huge body", "POST", "/buy/basic", form, "email=" + strings.Repeat("a", 20<<10), 400, "could not be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(tc.method, tc.path, tc.ctype, tc.body)
			if resp.StatusCode != tc.code || !strings.Contains(body, tc.says) {
				t.Fatalf("%d, want %d saying %q:\n%s", resp.StatusCode, tc.code, tc.says, body)
			}
		})
	}
	if n := len(f.rec.calls(http.MethodPost, "/v1/checkout/sessions")); n != 0 {
		t.Fatalf("bad input created %d Checkout Sessions", n)
	}
	if n := len(f.rec.reqs); n != 0 {
		t.Fatalf("bad input made %d Stripe calls", n)
	}
}

// A Stripe that does not answer is a 502 with a message for the customer, not a redirect.
func TestBuyStripeDown(t *testing.T) {
	f := start(t, func(c *shop.Config) {
		c.Stripe = shop.NewStripeClient(stripemocktest.Key, "http://127.0.0.1:1", nil)
	})
	resp, body := f.do(http.MethodPost, "/buy/basic", form, "interval=month")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "could not be started") || resp.Header.Get("Location") != "" {
		t.Fatalf("%d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

func status(t *testing.T, f *fixture, id string) shop.Status {
	t.Helper()
	resp, body := f.do(http.MethodGet, "/welcome/status?session_id="+url.QueryEscape(id), "", "")
	var st shop.Status
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("status %s: %d %s", id, resp.StatusCode, body)
	}
	return st
}

// The welcome page and its status follow the order in the store: unknown (the webhook has not
// come) → waiting; paid, no account → preparing; held → looking into it; claimed → ready with
// the account's URL and never its password; another order's data never shows.
func TestWelcomeFollowsTheOrder(t *testing.T) {
	f := start(t, nil)
	const id, other = "cs_test_welcome1", "cs_test_other2"

	if st := status(t, f, id); st.State != shop.StateWaiting || len(st.URLs) != 0 || st.Billing {
		t.Fatalf("unknown order: %+v", st)
	}
	_, page := f.do(http.MethodGet, "/welcome?session_id="+id, "", "")
	if !strings.Contains(page, "Waiting for payment confirmation") || !strings.Contains(page, `<noscript><meta http-equiv="refresh"`) {
		t.Fatalf("unknown order page (without JavaScript it must refresh itself):\n%s", page)
	}

	o := f.paidOrder(id, "basic")
	if st := status(t, f, id); st.State != shop.StatePreparing || !st.Billing {
		t.Fatalf("pending order: %+v", st)
	}
	held := f.paidOrder("cs_test_held3", "")
	if st := status(t, f, held.ID); st.State != shop.StateHeld || !strings.Contains(st.Message, "looking into") {
		t.Fatalf("held order: %+v", st)
	}

	f.paidOrder(other, "basic")
	a := f.claim(o)
	st := status(t, f, id)
	if st.State != shop.StateReady || len(st.URLs) != 1 || st.URLs[0] != a.URL {
		t.Fatalf("claimed order: %+v (account %s)", st, a.URL)
	}
	resp, page := f.do(http.MethodGet, "/welcome?session_id="+id, "", "")
	if !strings.Contains(page, a.URL) || !strings.Contains(page, "ready") || strings.Contains(page, `http-equiv="refresh"`) {
		t.Fatalf("ready page (no more refreshes):\n%s", page)
	}
	for _, secret := range []string{a.CustomerPassword, a.OperatorPassword, a.SecretKey} {
		if strings.Contains(page, secret) {
			t.Fatal("a secret of the account is on the page")
		}
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cache-Control") != "no-store" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("welcome headers %v", resp.Header)
	}
	// The other order is still preparing: nothing of this one shows there.
	if st := status(t, f, other); st.State != shop.StatePreparing || len(st.URLs) != 0 {
		t.Fatalf("other order: %+v", st)
	}

	for _, bad := range []string{"", "not-a-session", "cs_test_x'><script>", "cs_" + strings.Repeat("a", 300)} {
		resp, _ := f.do(http.MethodGet, "/welcome?session_id="+url.QueryEscape(bad), "", "")
		sresp, _ := f.do(http.MethodGet, "/welcome/status?session_id="+url.QueryEscape(bad), "", "")
		if resp.StatusCode != http.StatusBadRequest || sresp.StatusCode != http.StatusBadRequest {
			t.Errorf("session id %q: page %d, status %d, want 400", bad, resp.StatusCode, sresp.StatusCode)
		}
	}
}

// The billing link opens a Customer Portal session for the order's Stripe customer, coming
// back to the welcome page; unknown orders are refused without a Stripe call.
func TestBillingPortal(t *testing.T) {
	const portal = "https://billing.stripe.com/p/session/test_storefront"
	f := start(t, nil, stripemocktest.Fixture("billing_portal.session", map[string]any{"url": portal}))
	const id = "cs_test_billing1"

	resp, body := f.do(http.MethodPost, "/billing", form, "session_id="+id)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "do not know this order") {
		t.Fatalf("unknown order: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = f.do(http.MethodPost, "/billing", form, "session_id=bogus")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad session id: %d", resp.StatusCode)
	}
	resp, _ = f.do(http.MethodGet, "/billing", "", "")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /billing: %d", resp.StatusCode)
	}
	if n := len(f.rec.reqs); n != 0 {
		t.Fatalf("refused requests made %d Stripe calls", n)
	}

	f.paidOrder(id, "basic")
	resp, body = f.do(http.MethodPost, "/billing", form, "session_id="+id)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != portal {
		t.Fatalf("billing: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	calls := f.rec.calls(http.MethodPost, "/v1/billing_portal/sessions")
	if len(calls) != 1 || calls[0].Form.Get("customer") != "cus_test_buyer" ||
		calls[0].Form.Get("return_url") != f.srv.URL+"/welcome?session_id="+id {
		t.Fatalf("portal sessions created: %+v", calls)
	}
}

// The pricing snippet lists the tiers that have prices, each with a form posting to the
// public URL's /buy/<tier>, and the amounts Stripe has for the prices, fetched once per TTL.
func TestPricingSnippet(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	f := start(t, func(c *shop.Config) { c.Now = func() time.Time { return now } },
		stripemocktest.Fixture("price", map[string]any{"unit_amount": 2900, "currency": "eur",
			"recurring": map[string]any{"interval": "month", "interval_count": 1}}))

	resp, snippet := f.do(http.MethodGet, "/pricing/snippet", "", "")
	if resp.StatusCode != http.StatusOK || strings.Contains(snippet, "<html") || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("snippet: %d\n%s", resp.StatusCode, snippet)
	}
	for _, want := range []string{
		`<form method="post" action="` + f.srv.URL + `/buy/basic">`,
		`<form method="post" action="` + f.srv.URL + `/buy/premium">`,
		`value="month" checked`, `value="year"`, `29.00 EUR`, `max="50"`, `1 GB memory, 1 CPU`, `2 GB memory, 1.5 CPU`,
		`1 custom domain`, `white-label branding`,
	} {
		if !strings.Contains(snippet, want) {
			t.Errorf("snippet lacks %q:\n%s", want, snippet)
		}
	}
	if strings.Contains(snippet, "/buy/enterprise") {
		t.Error("a tier without prices is offered")
	}
	if strings.Index(snippet, "/buy/basic") > strings.Index(snippet, "/buy/premium") {
		t.Error("tiers are not smallest first")
	}
	fetched := len(f.rec.calls(http.MethodGet, "/v1/prices/"))
	if fetched != 3 {
		t.Fatalf("%d price fetches, want one per price (3)", fetched)
	}
	_, page := f.do(http.MethodGet, "/pricing", "", "")
	if !strings.Contains(page, "<html") || !strings.Contains(page, "29.00 EUR") || !strings.Contains(page, `name="viewport"`) {
		t.Fatalf("pricing page:\n%s", page)
	}
	if n := len(f.rec.calls(http.MethodGet, "/v1/prices/")); n != fetched {
		t.Fatalf("the cache did not hold: %d fetches", n)
	}
	now = now.Add(shop.DefaultPriceTTL + time.Second)
	f.do(http.MethodGet, "/pricing/snippet", "", "")
	if n := len(f.rec.calls(http.MethodGet, "/v1/prices/")); n != 2*fetched {
		t.Fatalf("after the TTL: %d fetches, want %d", n, 2*fetched)
	}
}

// Beyond the session rate, buys get 429 with Retry-After and create nothing more.
func TestBuyRateLimited(t *testing.T) {
	f := start(t, func(c *shop.Config) { c.SessionRate, c.SessionBurst = rate.Every(time.Hour), 2 }, sessionFixture)
	for i := range 2 {
		if resp, body := f.do(http.MethodPost, "/buy/basic", form, "interval=month"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("buy %d: %d\n%s", i, resp.StatusCode, body)
		}
	}
	resp, body := f.do(http.MethodPost, "/buy/basic", form, "interval=month")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "try again") {
		t.Fatalf("third buy: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	if n := len(f.rec.calls(http.MethodPost, "/v1/checkout/sessions")); n != 2 {
		t.Fatalf("%d sessions created, want 2", n)
	}
}
