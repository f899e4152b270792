package shop_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/axiestudio/tenantpool/pool/orders/stripemocktest"
	"github.com/axiestudio/tenantpool/pool/pooltest/browsertest"
	"github.com/axiestudio/tenantpool/pool/shop"
)

// In headless Chromium the welcome page, opened before the webhook came, goes from "waiting
// for payment confirmation" to "preparing" when the order is stored and to "ready" with the
// account's URL when it is claimed — without a reload — and the page never holds the password.
func TestWelcomePageTurnsReadyInBrowser(t *testing.T) {
	f := start(t, func(c *shop.Config) { c.PollInterval = 200 * time.Millisecond })
	ctx := browsertest.New(t)
	const id = "cs_test_browser1"

	if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/welcome?session_id="+id)); err != nil {
		t.Fatal(err)
	}
	text := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#status")))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	wait := func(state string) {
		t.Helper()
		expr := `document.getElementById("status").getAttribute("data-state") === "` + state + `"`
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
			t.Fatalf("waiting for %q (page says %q): %v", state, text(), err)
		}
	}
	wait(shop.StateWaiting)
	if got := text(); !strings.Contains(got, "Waiting for payment confirmation") {
		t.Fatalf("before the webhook: %q", got)
	}
	// A mark in the page's JavaScript state: a reload would lose it.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int]("window.noReloadMark = 42")); err != nil {
		t.Fatal(err)
	}

	o := f.paidOrder(id, "basic")
	wait(shop.StatePreparing)
	if got := text(); !strings.Contains(got, "Preparing your studio") {
		t.Fatalf("paid: %q", got)
	}

	a := f.claim(o)
	wait(shop.StateReady)
	if got := text(); !strings.Contains(got, "ready") {
		t.Fatalf("claimed: %q", got)
	}
	mark, err := chromedp.Run(ctx, chromedp.Evaluate[int]("window.noReloadMark || 0"))
	if err != nil || mark != 42 {
		t.Fatalf("the page was reloaded (mark %d, %v)", mark, err)
	}
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	if err != nil || !fits {
		t.Fatalf("the welcome page is wider than a phone's screen (%v)", err)
	}
	links, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#urls a")).map(a => a.textContent + " " + a.getAttribute("href"))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 1 || links[0] != a.URL+" "+a.URL {
		t.Fatalf("links %q, want %s", links, a.URL)
	}
	billingShown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById("billing").hidden`))
	if err != nil || !billingShown {
		t.Fatalf("billing button shown: %v %v", billingShown, err)
	}
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html, a.URL) {
		t.Fatalf("the page's HTML lacks the URL:\n%s", html)
	}
	for _, secret := range []string{a.CustomerPassword, a.OperatorPassword, a.SecretKey} {
		if strings.Contains(html, secret) {
			t.Fatal("a secret of the account is in the page's HTML")
		}
	}
}

// In headless Chromium, on a phone-sized window, the pricing page fits the screen's width,
// and its Buy form (no JavaScript involved) posts the chosen interval and seats to /buy/<tier>,
// which sends the browser on to the Checkout Session's URL.
func TestPricingBuyInBrowser(t *testing.T) {
	landed := make(chan string, 1)
	checkout := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case landed <- r.URL.Path:
		default:
		}
		w.Write([]byte("<!doctype html><title>checkout</title><p id=checkout>Stripe Checkout</p>"))
	}))
	defer checkout.Close()
	f := start(t, nil, stripemocktest.Fixture("checkout.session", map[string]any{"url": checkout.URL + "/c/pay/cs_test_browser"}))
	ctx := browsertest.New(t)

	if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/pricing"),
		chromedp.WaitVisible(chromedp.CSS("#tp-tier-basic button"))); err != nil {
		t.Fatal(err)
	}
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	if err != nil || !fits {
		t.Fatalf("the pricing page is wider than a phone's screen (%v)", err)
	}
	browsertest.Screenshot(t, ctx, "pricing")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#tp-tier-basic input[value="year"]`)),
		chromedp.SetValue(chromedp.CSS(`#tp-tier-basic input[name="quantity"]`), "4"),
		chromedp.Click(chromedp.CSS("#tp-tier-basic button")),
		chromedp.WaitVisible(chromedp.CSS("#checkout")),
	); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-landed:
		if p != "/c/pay/cs_test_browser" {
			t.Fatalf("landed on %s", p)
		}
	default:
		t.Fatal("the browser never reached the checkout URL")
	}
	calls := f.rec.calls(http.MethodPost, "/v1/checkout/sessions")
	if len(calls) != 1 || calls[0].Form.Get("line_items[0][price]") != "price_basic_year" || calls[0].Form.Get("line_items[0][quantity]") != "4" {
		t.Fatalf("sessions created: %+v", calls)
	}
}
