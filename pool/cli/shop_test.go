package cli_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool/orders/stripemocktest"
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
	addr, stop := h.serve(nil)
	defer stop()

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm("http://"+addr+"/buy/basic", map[string][]string{"interval": {"year"}, "quantity": {"2"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://checkout.stripe.com/c/pay/cs_test_cli" {
		t.Fatalf("buy: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), h.logs.String())
	}
	resp, err = http.Get("http://" + addr + "/pricing/snippet")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `action="https://shop.example.test/buy/basic"`) {
		t.Fatalf("snippet: %d\n%s", resp.StatusCode, body)
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
		addr, stop := h.serve(nil)
		resp, err := http.PostForm("http://"+addr+"/buy/basic", map[string][]string{"interval": {"month"}})
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
	_, err = h.run(context.Background(), "serve", "--listen", freePort(t))
	if err == nil || !strings.Contains(err.Error(), "POOL_PUBLIC_URL") || strings.Contains(err.Error(), badKey) {
		t.Fatalf("serve with a broken storefront: %v", err)
	}
}
