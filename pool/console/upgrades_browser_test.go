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

// The rolling upgrades page in a real browser against a real poold: linked in the nav, a bad
// window is refused and starts nothing, a started upgrade shows its canary in flight, pause
// holds the next tenants back, resume finishes it, and the page shows every tenant done.
func TestConsoleRollingUpgrade(t *testing.T) {
	tiers := pool.Tiers{"basic": {Name: "basic", MinReady: 0, MaxTotal: 50, MaxInFlight: 4}, "premium": {Name: "premium", MinReady: 0, MaxTotal: 10, MaxInFlight: 2}}
	block := make(chan struct{})
	prov := &pooltest.Provisioner{Tiers: tiers, ReimageBlock: block}
	prov.SetImage("langflow@sha256:" + strings.Repeat("a", 64))
	f := startDaemon(t, func(c *daemon.Config) {
		c.Tiers = tiers
		c.Tenants = func(context.Context, *store.Store) (pool.Tenants, error) { return prov, nil }
	})
	ctx := context.Background()
	as, err := f.store.CreateAccounts(ctx, "basic", "sold", 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		for deadline := time.Now().Add(60 * time.Second); a.State != pool.StateReady && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if a, err = f.store.Get(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, order := range []string{"manual:u1", "manual:u2"} {
		if _, _, err := f.store.Claim(ctx, "basic", order); err != nil {
			t.Fatal(err)
		}
	}
	prov.SetImage("langflow@sha256:" + strings.Repeat("b", 64))
	target := prov.Build(tiers["basic"]).Generation

	b := browsertest.New(t)
	signIn(t, b, f.base)
	run(t, b, chromedp.Click(chromedp.CSS(`nav a[href="/console/upgrades"]`)), chromedp.WaitVisible(chromedp.CSS("#start-upgrade")))
	if got := text(t, b, "#main"); !strings.Contains(got, "basic "+target) || !strings.Contains(got, "No rolling upgrade yet") {
		t.Fatalf("upgrades page before any: %q", got)
	}
	run(t, b, chromedp.SendKeys(chromedp.CSS(`input[name="to"]`), target), chromedp.SendKeys(chromedp.CSS(`input[name="window"]`), "Sunday 02:00-05:00"),
		chromedp.Submit(chromedp.CSS("#start-upgrade")), chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := text(t, b, "#error"); !strings.Contains(got, "unknown day") || !strings.Contains(got, "Nothing was started") {
		t.Fatalf("bad window: %q", got)
	}
	if id, _ := f.store.ActiveRollout(ctx); id != 0 {
		t.Fatal("a refused form started a rolling upgrade")
	}

	eval[bool](t, b, `(document.querySelector('input[name="window"]').value = '', true)`)
	run(t, b, chromedp.Submit(chromedp.CSS("#start-upgrade")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := text(t, b, ".flash"); !strings.Contains(got, "2 tenants of tier basic to "+target) {
		t.Fatalf("started: %q", got)
	}
	// The canary is in flight (the double blocks it): the page shows it upgrading.
	waitPage(t, b, f.base+"/console/upgrades", `#steps tr[data-state="upgrading"]`)
	run(t, b, chromedp.Submit(chromedp.CSS("#pause")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := text(t, b, "#upgrade-state"); got != "paused" {
		t.Fatalf("after pause: %q", got)
	}
	close(block) // the canary finishes; paused, nothing else starts
	waitPage(t, b, f.base+"/console/upgrades", `#steps tr[data-state="done"]`)
	if got := text(t, b, "#upgrade-progress"); !strings.HasPrefix(got, "1/2 done") {
		t.Fatalf("paused after the canary: %q", got)
	}
	if n := prov.Reimaged(as[1].Slug); n != 0 {
		t.Fatalf("a paused upgrade re-imaged %s %d times", as[1].Slug, n)
	}
	run(t, b, chromedp.Submit(chromedp.CSS("#resume")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	waitPage(t, b, f.base+"/console/upgrades", `#upgrade[data-state="done"]`)
	if got := text(t, b, "#upgrade-progress"); !strings.HasPrefix(got, "2/2 done") {
		t.Fatalf("done: %q", got)
	}
	if n := eval[int](t, b, `document.querySelectorAll('#pause, #resume, #abort').length`); n != 0 {
		t.Fatalf("%d actions on a finished upgrade", n)
	}
	run(t, b, chromedp.Click(chromedp.CSS(`#steps a`)), chromedp.WaitVisible(chromedp.CSS(`#events li[data-kind="upgraded"]`)))
}

// waitPage reloads url until sel is on it.
func waitPage(t *testing.T, ctx context.Context, url, sel string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		run(t, ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#main")))
		if eval[int](t, ctx, `document.querySelectorAll('`+sel+`').length`) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %s:\n%s", url, sel, text(t, ctx, "#main"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
