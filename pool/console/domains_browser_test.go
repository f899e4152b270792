package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/cfhostnames/cfhostnamestest"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/pooltest/browsertest"
)

// The operator attaches a custom domain from the account page of a real poold with custom
// domains on: a bad name is refused with the reason and nothing stored; a good one is listed;
// Detach marks it detaching.
func TestConsoleAttachesDomains(t *testing.T) {
	cf := cfhostnamestest.New(t, "0123456789abcdef0123456789abcdef", "cf-token-0123456789abcdef")
	f := startDaemon(t, func(c *daemon.Config) {
		c.Tiers = pool.Tiers{"premium": {Name: "premium", MinReady: 0, MaxTotal: 10, MaxInFlight: 2, CustomDomains: 1}}
		c.Domains = &daemon.Domains{Cloudflare: platform.CloudflareConfig{ZoneID: cf.Zone, APIToken: cf.Token}, APIURL: cf.URL,
			Target: cfhostnamestest.Target, Platform: []string{"tenants.example.net"}, Schedule: "@every 1h"}
	})
	ctx := context.Background()
	as, err := f.store.CreateAccounts(ctx, "premium", "client", 1)
	if err != nil {
		t.Fatal(err)
	}
	a := as[0]
	for deadline := time.Now().Add(60 * time.Second); a.State != pool.StateReady && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if a, err = f.store.Get(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := f.store.Claim(ctx, "premium", "manual:domain-test"); err != nil {
		t.Fatal(err)
	}
	b := browsertest.New(t)
	signIn(t, b, f.base)
	page := f.base + "/console/accounts/" + itoa(a.ID)
	run(t, b, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#attach-domain")))
	if got := text(t, b, "#domains"); !strings.Contains(got, "none") {
		t.Fatalf("domains table: %q", got)
	}
	run(t, b, chromedp.SendKeys(chromedp.CSS("#hostname"), "x.tenants.example.net"), chromedp.Submit(chromedp.CSS("#attach-domain")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := text(t, b, ".flash"); !strings.Contains(got, "Nothing attached") || !strings.Contains(got, "platform") {
		t.Fatalf("refusal: %q", got)
	}
	if ds, _ := f.store.ListDomains(ctx); len(ds) != 0 {
		t.Fatalf("a refused name was stored: %+v", ds)
	}
	run(t, b, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#attach-domain")),
		chromedp.SendKeys(chromedp.CSS("#hostname"), "AI.acme.com"), chromedp.Submit(chromedp.CSS("#attach-domain")),
		chromedp.WaitVisible(chromedp.CSS(`#domains tr[data-hostname="ai.acme.com"]`)))
	if got := text(t, b, ".flash"); !strings.Contains(got, "ai.acme.com attached") {
		t.Fatalf("attach: %q", got)
	}
	if n := eval[int](t, b, `document.querySelectorAll("#attach-domain").length`); n != 0 {
		t.Fatalf("attach form offered beyond the allowance")
	}
	browsertest.Screenshot(t, b, "account-domains")
	run(t, b, chromedp.Submit(chromedp.CSS(`#domains tr[data-hostname="ai.acme.com"] form`)), chromedp.WaitVisible(chromedp.CSS("#attach-domain")))
	if got := text(t, b, ".flash"); !strings.Contains(got, "detaching") {
		t.Fatalf("detach: %q", got)
	}
	if d, err := f.store.GetDomain(ctx, "ai.acme.com"); err == nil && d.State != pool.DomainDetaching {
		t.Fatalf("after detach: %+v", d)
	}
}
