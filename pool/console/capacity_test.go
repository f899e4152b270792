package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/pooltest/browsertest"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// The pool page shows each tier's ready target and why, and warns about a tier whose pool the
// hosts cannot refill, with the hosts' forecast (the health page too); a tier that can be
// refilled gets no warning.
func TestConsoleCapacityWarning(t *testing.T) {
	f := startDaemon(t, func(c *daemon.Config) {
		c.Tiers = pool.Tiers{
			"basic":   {Name: "basic", Ready: pool.ReadyAuto, AutoReady: pool.AutoReady{Stockout: 0.06}, MinReady: 0, MaxTotal: 50, MaxInFlight: 4},
			"premium": {Name: "premium", MinReady: 0, MaxTotal: 10, MaxInFlight: 2},
		}
		// One host of 3 places. Its Docker URL leads nowhere: the stray pass fails and logs,
		// nothing is dialled.
		c.Hosts = func(context.Context) ([]platform.Host, error) {
			return []platform.Host{{Name: "a", DockerURL: "unix:///nonexistent/docker.sock", Capacity: 3}}, nil
		}
	})
	ctx := context.Background()
	if err := f.store.SetPaused(ctx, "basic", true); err != nil { // the reconciler makes nothing meanwhile
		t.Fatal(err)
	}
	// 6 basic accounts made 40 minutes ago on host a, ready 30 minutes later; 4 sold since.
	clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger)
	clock.Set(time.Now().Add(-40 * time.Minute))
	s := storetest.OpenSQLite(t, f.dir, clock)
	as, err := s.CreateAccountsFrom(ctx, pool.OriginPool, "basic", "client", 6)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Minute)
	for _, a := range as {
		if err := s.MarkReady(ctx, a.ID, pool.Provisioned{Host: "a", URL: "https://" + a.Slug + ".example.test"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		if _, _, err := s.Claim(ctx, "basic", fmt.Sprintf("order-%d", i)); err != nil {
			t.Fatal(err)
		}
	}

	b := browsertest.New(t)
	signIn(t, b, f.base)
	run(t, b, chromedp.Navigate(f.base+"/console/pool"), chromedp.WaitVisible(chromedp.CSS(`[data-capacity-warning="basic"]`)))
	browsertest.Screenshot(t, b, "capacity")
	// 4 sales/h (last 1h) × 0.5 h = 2 in the making: target 5 for ≤ 6 % stock-outs (P(N ≥ 5) =
	// 5.3 %, P(N ≥ 4) = 14 %), 2 ready; host a holds 6 of 3.
	if got := text(t, b, `[data-capacity-warning="basic"]`); got != "basic: the pool cannot be refilled within 1h: hosts have room for 0 of the 3 accounts the pool needs." {
		t.Fatalf("warning: %q", got)
	}
	if n := eval[int](t, b, `document.querySelectorAll('[data-capacity-warning]').length`); n != 1 {
		t.Fatalf("%d warnings, want basic's only", n)
	}
	if got := text(t, b, `#forecast`); got != "hosts: 0 of 3 places free: not enough for the pools' refill" {
		t.Fatalf("forecast: %q", got)
	}
	if !eval[bool](t, b, `document.querySelector('#forecast').classList.contains('warning')`) {
		t.Fatal("the exhausted forecast is not a warning")
	}
	if got := text(t, b, `tr[data-tier="basic"] td.target`); !strings.Contains(got, "target 5: 4.0 sales/h (last 1h) × 0.5 h mean provisioning = 2.0 + 3 margin (stock-outs ≤ 6 %)") {
		t.Fatalf("basic's target: %q", got)
	}
	// The health page says the same.
	run(t, b, chromedp.Navigate(f.base+"/console/health"), chromedp.WaitVisible(chromedp.CSS(`[data-capacity-warning="basic"]`)))
	if got := text(t, b, `#forecast`); got != "hosts: 0 of 3 places free: not enough for the pools' refill" {
		t.Fatalf("health page forecast: %q", got)
	}
	run(t, b, chromedp.Navigate(f.base+"/console/pool"), chromedp.WaitVisible(chromedp.CSS("#tiers")))
	if got := text(t, b, `tr[data-tier="premium"] td.target`); !strings.Contains(got, "target 0: min_ready (fixed)") || !strings.Contains(got, "at target") {
		t.Fatalf("premium's target: %q", got)
	}
}
