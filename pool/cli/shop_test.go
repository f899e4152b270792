package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/axiestudio/tenantpool/delivery/mailpittest"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/orders/stripemocktest"
	"github.com/axiestudio/tenantpool/pool/pooltest/browsertest"
)

const shopTiers = `tiers:
  - {name: basic, min_ready: 0, max_total: 2, max_in_flight: 1, memory_mb: 512, cpus: 1,
     prices: {month: price_basic_month, year: price_basic_year}}
`

// With a Stripe API key (here from a file), serve mounts the storefront beside the webhook: a buy creates a
// Checkout Session at the Stripe API it is pointed at (stripe-mock) and redirects there, and
// the pricing snippet's forms post to the public URL.
func TestServeMountsStorefront(t *testing.T) {
	mock := stripemocktest.Start(t, stripemocktest.Fixture("checkout.session", map[string]any{"url": "https://checkout.stripe.com/c/pay/cs_test_cli"}))
	h := newHarness(t)
	h.env["POOL_CONFIG"] = writeFile(t, "pool.yaml", shopTiers)
	h.env["POOL_STRIPE_API_KEY_FILE"] = writeFile(t, "stripe-key", stripemocktest.Key+"\n")
	h.env["POOL_STRIPE_API_URL"] = mock.URL
	h.env["POOL_PUBLIC_URL"] = "https://shop.example.test/"
	admin, stop := h.serve(nil)
	defer stop()

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm("http://"+h.public+"/buy/basic", map[string][]string{"interval": {"year"}, "quantity": {"2"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://checkout.stripe.com/c/pay/cs_test_cli" {
		t.Fatalf("buy: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), h.logs.String())
	}
	resp, err = http.Get("http://" + h.public + "/pricing/snippet")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `action="https://shop.example.test/buy/basic"`) {
		t.Fatalf("snippet: %d\n%s", resp.StatusCode, body)
	}
	// The storefront is public only: nothing of it on the admin listener.
	for _, path := range []string{"/pricing", "/pricing/snippet", "/welcome?session_id=cs_test_x"} {
		resp, err := http.Get("http://" + admin + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("admin listener serves %s: %d", path, resp.StatusCode)
		}
	}
	if strings.Contains(h.logs.String(), stripemocktest.Key) {
		t.Fatal("the Stripe API key reached the log")
	}
}

// Without a key, or without a public URL (the key alone may serve the webhook), the storefront
// is off (404); a malformed key, public URL, cancel URL or seat bound is refused by config check
// and serve, every problem at once and without quoting the key.
func TestStorefrontSettings(t *testing.T) {
	h := newHarness(t)
	for _, key := range []string{"", stripemocktest.Key} {
		h.env["POOL_STRIPE_API_KEY"] = key
		_, stop := h.serve(nil)
		resp, err := http.PostForm("http://"+h.public+"/buy/basic", map[string][]string{"interval": {"month"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		stop()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("storefront with key %q and no public URL: %d, want 404", key, resp.StatusCode)
		}
		out, err := h.run(context.Background(), "config", "check")
		if err != nil || !strings.Contains(out, "storefront disabled") {
			t.Fatalf("config check with key %q and no public URL: %q %v", key, out, err)
		}
	}

	const badKey = "pk_test_publishable_not_secret"
	h.env["POOL_STRIPE_API_KEY"] = badKey
	h.env["POOL_PUBLIC_URL"] = "shop.example.test"
	h.env["POOL_MAX_SEATS"] = "0"
	h.env["POOL_SHOP_CANCEL_URL"] = "/relative"
	_, err := h.run(context.Background(), "config", "check")
	if err == nil {
		t.Fatal("config check passed a broken storefront")
	}
	for _, want := range []string{"POOL_STRIPE_API_KEY", "POOL_PUBLIC_URL", "POOL_MAX_SEATS", "POOL_SHOP_CANCEL_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("config check misses %s:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), badKey) {
		t.Error("config check quotes the key")
	}
	_, err = h.run(context.Background(), "serve", "--listen", freePort(t), "--admin-listen", freePort(t))
	if err == nil || !strings.Contains(err.Error(), "POOL_PUBLIC_URL") || strings.Contains(err.Error(), badKey) {
		t.Fatalf("serve with a broken storefront: %v", err)
	}
}

// A sale end to end through poold serve's real routes, in headless Chromium: the customer's
// browser opens the welcome page (Stripe's success URL) before the webhook has come, the signed
// checkout.session.completed arrives at /webhooks/stripe, the order claims a ready account, and
// the page shows the account's URL without a reload; the password, e-mailed to the customer
// (Mailpit), is nowhere in the page.
func TestStorefrontSaleInBrowser(t *testing.T) {
	mp := mailpittest.Start(t)
	// The session and line items the Stripe API (stripe-mock) reports: one basic seat, paid.
	mock := stripemocktest.Start(t,
		stripemocktest.Fixture("checkout.session", map[string]any{"amount_subtotal": 2900, "amount_total": 2900, "currency": "usd",
			"total_details": map[string]any{"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}}),
		stripemocktest.Fixture("item", map[string]any{"quantity": 1, "currency": "usd", "amount_subtotal": 2900, "amount_total": 2900,
			"price": map[string]any{"id": "price_basic_month", "unit_amount": 2900, "currency": "usd"}}))
	h := newHarness(t)
	addr, adminAddr := freePort(t), freePort(t)
	h.env["POOL_CONFIG"] = writeFile(t, "pool.yaml", `tiers:
  - {name: basic, min_ready: 1, max_total: 2, max_in_flight: 1, memory_mb: 512, cpus: 1, prices: {month: price_basic_month}}
`)
	for k, v := range map[string]string{
		"POOL_STRIPE_API_KEY": stripemocktest.Key, "POOL_STRIPE_API_URL": mock.URL, "POOL_PUBLIC_URL": "http://" + addr,
		"POOL_STRIPE_WEBHOOK_SECRET": whsec, "POOL_SMTP_HOST": mp.SMTPHost, "POOL_SMTP_PORT": strconv.Itoa(mp.SMTPPort),
		"POOL_SMTP_TLS": "none", "POOL_SMTP_FROM": "Pool <pool@example.test>",
	} {
		h.env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.run(ctx, "serve", "--listen", addr, "--admin-listen", adminAddr, "--reconcile-schedule", "@every 1s")
		done <- err
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for readyz(adminAddr) == nil || len(h.list("--state", "ready")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no ready account:\n%s", h.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	const session = "cs_test_storefront_e2e"
	bctx := browsertest.New(t)
	if err := chromedp.Do(bctx, chromedp.Navigate("http://"+addr+"/welcome?session_id="+session)); err != nil {
		t.Fatal(err)
	}
	state := func(want string) {
		t.Helper()
		expr := `document.getElementById("status").getAttribute("data-state") === "` + want + `"`
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(90*time.Second))); err != nil {
			t.Fatalf("the page never showed %q: %v\n%s", want, err, h.logs.String())
		}
	}
	state("waiting")
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[int]("window.noReloadMark = 7")); err != nil {
		t.Fatal(err)
	}

	event, _ := json.Marshal(map[string]any{
		"id": "evt_storefront_e2e", "object": "event", "type": "checkout.session.completed",
		"api_version": "2025-07-30.basil", "created": time.Now().Unix(), "livemode": false,
		"data": map[string]any{"object": map[string]any{
			"id": session, "object": "checkout.session", "payment_status": "paid", "status": "complete", "mode": "subscription",
			"customer": "cus_storefront", "subscription": "sub_storefront", "livemode": false,
			"amount_subtotal": 2900, "amount_total": 2900, "currency": "usd",
			"customer_details": map[string]any{"email": "buyer@example.test", "name": "Buyer"},
			// As the storefront sets it (and the older tier key the webhook also reads).
			"metadata": map[string]any{"tier": "basic", pool.MetaTier: "basic", pool.MetaInterval: "month", pool.MetaPrice: "price_basic_month"},
		}},
	})
	if !postWebhook(addr, event) {
		t.Fatalf("the webhook refused the event:\n%s", h.logs.String())
	}
	state("ready")
	if mark, err := chromedp.Run(bctx, chromedp.Evaluate[int]("window.noReloadMark || 0")); err != nil || mark != 7 {
		t.Fatalf("the page was reloaded (%d, %v)", mark, err)
	}
	claimed := h.list("--state", "claimed", "--json")
	claimed = append(claimed, h.list("--state", "delivered", "--json")...)
	if len(claimed) != 1 {
		t.Fatalf("sold accounts: %v", claimed)
	}
	links, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#urls a")).map(a => a.getAttribute("href"))`))
	if err != nil || len(links) != 1 || links[0] != claimed[0]["url"] {
		t.Fatalf("links %q (%v), want the sold account's %v", links, err, claimed[0]["url"])
	}

	// The credentials e-mail carries the password; the page never does.
	var password string
	for deadline := time.Now().Add(60 * time.Second); password == ""; {
		for _, m := range mp.Search(t, `to:"buyer@example.test"`) {
			for _, line := range strings.Split(m.Text, "\n") {
				if p, ok := strings.CutPrefix(strings.TrimSpace(line), "Password:"); ok {
					password = strings.TrimSpace(p)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no credentials e-mail:\n%s", h.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	state("ready") // still, after the delivery
	html, err := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if len(password) < 8 || strings.Contains(html, password) {
		t.Fatalf("password %d characters long; on the page: %t", len(password), strings.Contains(html, password))
	}
}
