package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/pooltest/browsertest"
	"github.com/axiestudio/tenantpool/pool/store"
)

// readyAccount creates one account of the tier and waits until the daemon made it ready.
func readyAccount(t *testing.T, s *store.Store, tier, prefix string) pool.Account {
	t.Helper()
	ctx := context.Background()
	as, err := s.CreateAccounts(ctx, tier, prefix, 1)
	if err != nil {
		t.Fatal(err)
	}
	a := as[0]
	for deadline := time.Now().Add(60 * time.Second); a.State != pool.StateReady && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if a, err = s.Get(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	if a.State != pool.StateReady {
		t.Fatalf("%s not ready: %s", a.Slug, a.State)
	}
	return a
}

// The operator edits a sold premium account's brand on its page: saving stores it, the daemon's
// job re-applies the tenant (recorded in the history), a bad colour is refused with what to
// correct and changes nothing, and a basic account's page offers no brand at all.
func TestConsoleEditsBrand(t *testing.T) {
	prov := &pooltest.Provisioner{}
	f := startDaemon(t, func(c *daemon.Config) {
		c.Tenants = func(context.Context, *store.Store) (pool.Tenants, error) { return prov, nil }
		c.Tiers = pool.Tiers{"basic": {Name: "basic", MinReady: 0, MaxTotal: 50, MaxInFlight: 4},
			"premium": {Name: "premium", MinReady: 0, MaxTotal: 10, MaxInFlight: 2, Branding: true}}
	})
	ctx := context.Background()
	a := readyAccount(t, f.store, "premium", "brand")
	basic := readyAccount(t, f.store, "basic", "plain")
	if _, _, err := f.store.Claim(ctx, "premium", "manual:brand-test"); err != nil {
		t.Fatal(err)
	}

	b := browsertest.New(t)
	signIn(t, b, f.base)
	page := f.base + "/console/accounts/" + itoa(a.ID)
	run(t, b, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#brand")),
		chromedp.SetValue(chromedp.CSS("#brand-name"), "Acme Flows"),
		chromedp.SetValue(chromedp.CSS("#brand-logo"), "https://cdn.acme.example/logo.svg"),
		chromedp.SetValue(chromedp.CSS("#brand-color"), "#FF6600"),
		chromedp.Click(chromedp.CSS("#brand-save")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := text(t, b, ".flash"); !strings.Contains(got, "re-applied") {
		t.Fatalf("flash after saving: %q", got)
	}
	if got, _ := f.store.Brand(ctx, a.ID); got != (pool.Brand{Name: "Acme Flows", Logo: "https://cdn.acme.example/logo.svg", Color: "#ff6600"}) {
		t.Fatalf("saved brand %+v", got)
	}
	if v := eval[string](t, b, `document.getElementById("brand-name").value + "|" + document.querySelector("#brand-swatch rect").getAttribute("fill")`); v != "Acme Flows|#ff6600" {
		t.Fatalf("the page shows %q", v)
	}
	browsertest.Screenshot(t, b, "saved")
	for deadline := time.Now().Add(30 * time.Second); prov.Reapplied(a.Slug) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
	}
	if n := prov.Reapplied(a.Slug); n != 1 {
		t.Fatalf("the tenant was re-applied %d times, want once (the durable job)", n)
	}
	run(t, b, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#events")))
	if _, err := chromedp.Run(b, chromedp.Poll[bool](`document.querySelectorAll('#events li[data-kind="brand_changed"]').length === 1`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Fatalf("brand change not in the history: %v", err)
	}

	// A bad colour, past the browser's own check: the daemon refuses it, nothing changes.
	run(t, b, chromedp.SetValue(chromedp.CSS("#brand-color"), "orange"))
	eval[bool](t, b, `document.getElementById("brand").noValidate = true`)
	run(t, b, chromedp.Click(chromedp.CSS("#brand-save")), chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := text(t, b, "#error"); !strings.Contains(got, "#rrggbb") {
		t.Fatalf("refusal: %q", got)
	}
	if got, _ := f.store.Brand(ctx, a.ID); got.Color != "#ff6600" {
		t.Fatalf("a refused save changed the brand: %+v", got)
	}

	run(t, b, chromedp.Navigate(f.base+"/console/accounts/"+itoa(basic.ID)), chromedp.WaitVisible(chromedp.CSS("#facts")))
	if n := eval[int](t, b, `document.querySelectorAll("#brand").length`); n != 0 {
		t.Fatal("a basic account's page offers a brand")
	}
}
