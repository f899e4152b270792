package console_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/internal/testtool"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/pooltest/browsertest"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

const token = "console-test-admin-token-0123456789abcdef"

// fixture is a real poold (SQLite, the provisioner double) and a second handle on its store.
type fixture struct {
	base  string // the admin listener's URL
	store *store.Store
	dir   string // the data directory
}

func startDaemon(t *testing.T, change ...func(*daemon.Config)) fixture {
	t.Helper()
	dir := t.TempDir()
	logs := &testtool.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	cfg := daemon.Config{
		Store:   store.Options{DataDir: dir, Key: storetest.Key},
		Tiers:   pool.Tiers{"basic": {Name: "basic", MinReady: 0, MaxTotal: 50, MaxInFlight: 4}, "premium": {Name: "premium", MinReady: 0, MaxTotal: 10, MaxInFlight: 2}},
		Prefix:  "client",
		Tenants: func(context.Context, *store.Store) (pool.Tenants, error) { return &pooltest.Provisioner{}, nil },
		Listen:  "127.0.0.1:0", AdminListen: "127.0.0.1:0", ReconcileSchedule: "@every 1h", StuckTimeout: time.Hour,
		ProvisionConcurrency: 4, HardFailureLimit: 10, ShutdownTimeout: 30 * time.Second,
		Probe:       daemon.Probe{Schedule: "off"},
		AdminTokens: []string{token},
		Jobs:        daemon.Jobs{PollInterval: 50 * time.Millisecond, RetryPolicy: pooltest.FastRetry{}},
		Log:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, ch := range change {
		ch(&cfg)
	}
	d, err := daemon.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	s := storetest.OpenSQLite(t, dir, nil)
	return fixture{base: "http://" + d.AdminAddr().String(), store: s, dir: dir}
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func signIn(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	run(t, ctx, chromedp.Navigate(base+"/console/pool"), chromedp.WaitVisible(chromedp.CSS("#signin")),
		chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Submit(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#tiers")))
}

// The whole operator path in a real browser against a real poold: a wrong token is refused,
// sign-in lands on the pool page, a mass create of 10 turns ready without a reload, an export
// downloads a CSV and reserves its accounts, retiring asks for the slug (and force for a sold
// account), and a flagged tenant is unflagged from its page.
func TestConsoleInBrowser(t *testing.T) {
	f := startDaemon(t)
	ctx := browsertest.New(t)

	// A wrong token: the sign-in page again, with what to do.
	run(t, ctx, chromedp.Navigate(f.base+"/console/pool"), chromedp.WaitVisible(chromedp.CSS("#signin")),
		chromedp.SendKeys(chromedp.CSS("#token"), "wrong-token-wrong-token-wrong-token-0"), chromedp.Submit(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := text(t, ctx, "#error"); !strings.Contains(got, "not one of this daemon's admin tokens") {
		t.Fatalf("wrong token: %q", got)
	}
	signIn(t, ctx, f.base)
	browsertest.Screenshot(t, ctx, "pool-empty")

	// Mass create 10: the progress page turns every account ready by itself.
	run(t, ctx, chromedp.Navigate(f.base+"/console/create"), chromedp.WaitVisible(chromedp.CSS("#create")),
		chromedp.SetValue(chromedp.CSS("#count"), "10"), chromedp.SetValue(chromedp.CSS("#prefix"), "mass"),
		chromedp.Submit(chromedp.CSS("#create")), chromedp.WaitVisible(chromedp.CSS("#progress")))
	eval[int](t, ctx, "window.noReloadMark = 42")
	rows := eval[int](t, ctx, `document.querySelectorAll("#progress tbody tr").length`)
	if rows != 10 {
		t.Fatalf("progress rows: %d, want 10", rows)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("summary").getAttribute("data-done") === "true" &&
		document.querySelectorAll('#progress td[data-status="ready"]').length === 10`, chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		t.Fatalf("the 10 accounts did not turn ready on the page (%q): %v", text(t, ctx, "#summary"), err)
	}
	if mark := eval[int](t, ctx, `window.noReloadMark || 0`); mark != 42 {
		t.Fatal("the progress page reloaded instead of updating itself")
	}
	browsertest.Screenshot(t, ctx, "create-progress")

	// The pool page counts them.
	run(t, ctx, chromedp.Navigate(f.base+"/console/pool"), chromedp.WaitVisible(chromedp.CSS("#tiers")))
	if got := text(t, ctx, `tr[data-tier="basic"] td[data-state="ready"]`); strings.TrimSpace(got) != "10" {
		t.Fatalf("pool page: basic ready %q, want 10", got)
	}
	// and counts them per generation: all 10 run the tier's current one.
	if got := text(t, ctx, `#generations tr[data-tier="basic"][data-current="true"] td[data-total]`); strings.TrimSpace(got) != "10" {
		t.Fatalf("pool page: basic accounts of the current generation %q, want 10", got)
	}
	if !eval[bool](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Error("the pool page is wider than a phone's screen")
	}
	browsertest.Screenshot(t, ctx, "pool")

	// Export 2: a CSV download, and 2 accounts reserved.
	dl := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl}); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Navigate(f.base+"/console/export"), chromedp.WaitVisible(chromedp.CSS("#export")))
	browsertest.Screenshot(t, ctx, "export")
	run(t, ctx, chromedp.SetValue(chromedp.CSS("#etier"), "basic"), chromedp.SetValue(chromedp.CSS("#ecount"), "2"),
		chromedp.Click(chromedp.CSS("#understood")), chromedp.Submit(chromedp.CSS("#export")))
	var csv []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && csv == nil; time.Sleep(100 * time.Millisecond) {
		ms, _ := filepath.Glob(filepath.Join(dl, "*.csv"))
		if len(ms) == 1 {
			csv, _ = os.ReadFile(ms[0])
		}
	}
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) != 3 || lines[0] != "username,password,url,tier,state" {
		t.Fatalf("export CSV:\n%s", csv)
	}
	reserved, err := f.store.List(t.Context(), store.Filter{State: pool.StateReserved})
	if err != nil || len(reserved) != 2 {
		t.Fatalf("reserved after export: %d (%v)", len(reserved), err)
	}

	// Accounts list, then retire a ready account: the wrong confirmation changes nothing.
	run(t, ctx, chromedp.Navigate(f.base+"/console/accounts?state=ready"), chromedp.WaitVisible(chromedp.CSS("#accounts")))
	browsertest.Screenshot(t, ctx, "accounts")
	ready, err := f.store.List(t.Context(), store.Filter{State: pool.StateReady, Limit: 1})
	if err != nil || len(ready) != 1 {
		t.Fatal(err)
	}
	acc := ready[0]
	detail := f.base + "/console/accounts/" + itoa(acc.ID)
	run(t, ctx, chromedp.Navigate(detail+"/retire"), chromedp.WaitVisible(chromedp.CSS("#retireform")),
		chromedp.SendKeys(chromedp.CSS("#confirm"), "nope"), chromedp.Submit(chromedp.CSS("#retireform")),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	if got, _ := f.store.Get(t.Context(), acc.ID); got.State != pool.StateReady {
		t.Fatalf("retired without confirmation: %s", got.State)
	}
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#confirm"), acc.Slug), chromedp.Submit(chromedp.CSS("#retireform")),
		chromedp.WaitVisible(chromedp.CSS("#facts")))
	if got, _ := f.store.Get(t.Context(), acc.ID); got.State != pool.StateRetired {
		t.Fatalf("after a confirmed retire: %s", got.State)
	}

	// A sold (reserved) account needs force: refused without it, suspended with it.
	sold := reserved[0]
	run(t, ctx, chromedp.Navigate(f.base+"/console/accounts/"+itoa(sold.ID)+"/retire"), chromedp.WaitVisible(chromedp.CSS("#retireform")),
		chromedp.SendKeys(chromedp.CSS("#confirm"), sold.Slug), chromedp.Submit(chromedp.CSS("#retireform")),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := text(t, ctx, "#error"); !strings.Contains(got, "retire it anyway") {
		t.Fatalf("sold without force: %q", got)
	}
	if got, _ := f.store.Get(t.Context(), sold.ID); got.State != pool.StateReserved {
		t.Fatalf("a sold account retired without force: %s", got.State)
	}
	run(t, ctx, chromedp.Click(chromedp.CSS("#force")), chromedp.SendKeys(chromedp.CSS("#confirm"), sold.Slug),
		chromedp.Submit(chromedp.CSS("#retireform")), chromedp.WaitVisible(chromedp.CSS("#facts")))
	if got, _ := f.store.Get(t.Context(), sold.ID); got.State != pool.StateSuspended {
		t.Fatalf("a sold account retired with force: %s, want suspended", got.State)
	}

	// Unflag a flagged tenant from its page; the health page lists it first before.
	flagged := reserved[1]
	if _, err := f.store.Flag(t.Context(), flagged.ID, "3 consecutive failed health probes"); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Navigate(f.base+"/console/health"), chromedp.WaitVisible(chromedp.CSS("#health")))
	if got := text(t, ctx, "#health tbody tr:first-child td:first-child"); got != flagged.Slug {
		t.Fatalf("health page first row %q, want %s", got, flagged.Slug)
	}
	browsertest.Screenshot(t, ctx, "health")
	run(t, ctx, chromedp.Navigate(f.base+"/console/accounts/"+itoa(flagged.ID)), chromedp.WaitVisible(chromedp.CSS("#unflag")),
		chromedp.Submit(chromedp.CSS("#unflag")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := text(t, ctx, "#flagged"); got != "no" {
		t.Fatalf("after unflag the page says flagged %q", got)
	}
	st, err := f.store.ProbeStatus(t.Context(), flagged.ID)
	if err != nil || !st.FlaggedAt.IsZero() {
		t.Fatalf("still flagged in the store: %+v %v", st, err)
	}
	browsertest.Screenshot(t, ctx, "account")

	run(t, ctx, chromedp.Navigate(f.base+"/console/orders"), chromedp.WaitVisible(chromedp.CSS("#empty")))
	browsertest.Screenshot(t, ctx, "orders-empty")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A form posted without the session's CSRF token changes nothing (403), even with a valid
// session cookie; with the token it works.
func TestConsoleRefusesFormsWithoutCSRF(t *testing.T) {
	f := startDaemon(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(f.base+"/console/signin", url.Values{"token": {token}, "next": {"/console/pool"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	for _, form := range []url.Values{{}, {"csrf": {"forged"}}} {
		resp, err = c.PostForm(f.base+"/console/tiers/basic/pause", form)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "CSRF") {
			t.Fatalf("pause without the CSRF token: %d %s", resp.StatusCode, body)
		}
	}
	_, st, err := f.store.Counts(t.Context())
	if err != nil || st["basic"].Paused {
		t.Fatalf("paused without a CSRF token (%v)", err)
	}
	// The page's token works.
	resp, err = c.Get(f.base + "/console/pool")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, rest, ok := strings.Cut(string(body), `name="csrf" value="`)
	if !ok {
		t.Fatalf("no CSRF token on the pool page:\n%s", body)
	}
	csrf, _, _ := strings.Cut(rest, `"`)
	resp, err = c.PostForm(f.base+"/console/tiers/basic/pause", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pause with the token: %d", resp.StatusCode)
	}
	if _, st, _ = f.store.Counts(t.Context()); !st["basic"].Paused {
		t.Fatal("not paused with the token")
	}
	// Without a session at all: 401, not the page.
	resp, err = http.PostForm(f.base+"/console/tiers/basic/resume", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("resume without a session: %d", resp.StatusCode)
	}
}

// A held order shows why it is held; releasing it with a tier makes it pending, provisions its
// account and the queued claim job claims it once the account is ready.
func TestConsoleReleasesHeldOrder(t *testing.T) {
	tmpl, err := delivery.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	f := startDaemon(t, func(c *daemon.Config) {
		c.Orders = &daemon.Orders{Secrets: []string{"whsec_console_test"}}
		c.Mail = &daemon.Mail{SMTP: delivery.Config{Host: "127.0.0.1", Port: 1, TLS: delivery.TLSNone, From: "pool@example.test"}, Templates: tmpl}
	})
	const id = "cs_test_held_console"
	if _, err := f.store.AddPendingOrder(t.Context(), store.Order{ID: id, State: store.OrderHeld, CustomerEmail: "held@example.test"},
		"evt_held_console", "checkout.session.completed", "client"); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetOrderError(t.Context(), id, "price price_unknown is not mapped to a tier"); err != nil {
		t.Fatal(err)
	}
	ctx := browsertest.New(t)
	signIn(t, ctx, f.base)
	run(t, ctx, chromedp.Navigate(f.base+"/console/orders?state=held"), chromedp.WaitVisible(chromedp.CSS("#orders")))
	if got := text(t, ctx, `tr[data-order="`+id+`"] td[data-state]`); !strings.Contains(got, "price_unknown is not mapped") {
		t.Fatalf("held order's reason not shown: %q", got)
	}
	browsertest.Screenshot(t, ctx, "orders-held")
	run(t, ctx, chromedp.SetValue(chromedp.CSS(`tr[data-order="`+id+`"] select[name=tier]`), "premium"),
		chromedp.Submit(chromedp.CSS(`tr[data-order="`+id+`"] form`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
	var o store.Order
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if o, err = f.store.GetOrder(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		if o.State == store.OrderClaimed || o.State == store.OrderDelivered {
			break
		}
	}
	if o.Tier != "premium" || (o.State != store.OrderClaimed && o.State != store.OrderDelivered) || o.AccountID == 0 {
		t.Fatalf("released order: %+v", o)
	}
}

// Cancelling a mass create retires the accounts still provisioning and says so.
func TestConsoleCancelsMassCreate(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	f := startDaemon(t, func(c *daemon.Config) {
		c.Tenants = func(context.Context, *store.Store) (pool.Tenants, error) {
			return &pooltest.Provisioner{Block: block}, nil
		}
	})
	ctx := browsertest.New(t)
	signIn(t, ctx, f.base)
	run(t, ctx, chromedp.Navigate(f.base+"/console/create"), chromedp.WaitVisible(chromedp.CSS("#create")),
		chromedp.SetValue(chromedp.CSS("#count"), "3"), chromedp.Submit(chromedp.CSS("#create")),
		chromedp.WaitVisible(chromedp.CSS("#cancel")), chromedp.Submit(chromedp.CSS("#cancel")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := text(t, ctx, ".flash"); !strings.Contains(got, "3 accounts still provisioning were retired") {
		t.Fatalf("cancel: %q", got)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#progress td[data-status="cancelled"]').length`); n != 3 {
		t.Fatalf("cancelled rows: %d", n)
	}
	left, err := f.store.List(t.Context(), store.Filter{State: pool.StateProvisioning})
	if err != nil || len(left) != 0 {
		t.Fatalf("still provisioning after cancel: %d %v", len(left), err)
	}
}

// Re-applying a sold tenant from its page runs the provisioner's re-apply and records it in the
// account's history and on the health page; a failed one is recorded as reapply_failed with
// what to do.
func TestConsoleReapplies(t *testing.T) {
	var failing atomic.Bool
	prov := &pooltest.Provisioner{ReapplyFail: func(pool.Account, int) error {
		if failing.Load() {
			return errors.New("pulumi up: connection refused")
		}
		return nil
	}}
	f := startDaemon(t, func(c *daemon.Config) {
		c.Tenants = func(context.Context, *store.Store) (pool.Tenants, error) { return prov, nil }
	})
	ctx := context.Background()
	as, err := f.store.CreateAccounts(ctx, "basic", "sold", 1)
	if err != nil {
		t.Fatal(err)
	}
	a := as[0]
	for deadline := time.Now().Add(60 * time.Second); a.State != pool.StateReady && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if a, err = f.store.Get(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := f.store.Claim(ctx, "basic", "manual:reapply-test"); err != nil {
		t.Fatal(err)
	}
	b := browsertest.New(t)
	signIn(t, b, f.base)
	page := f.base + "/console/accounts/" + itoa(a.ID)
	run(t, b, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#reapply")),
		chromedp.Submit(chromedp.CSS("#reapply")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if prov.Reapplied(a.Slug) != 1 {
		t.Fatalf("re-applied %d times", prov.Reapplied(a.Slug))
	}
	if n := eval[int](t, b, `document.querySelectorAll('#events li[data-kind="reapplied"]').length`); n != 1 {
		t.Fatalf("reapplied events on the page: %d", n)
	}
	failing.Store(true)
	run(t, b, chromedp.Submit(chromedp.CSS("#reapply")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := text(t, b, ".flash"); !strings.Contains(got, "failed") {
		t.Fatalf("failed re-apply: %q", got)
	}
	run(t, b, chromedp.Navigate(f.base+"/console/health"), chromedp.WaitVisible(chromedp.CSS("#reapplies")))
	if n := eval[int](t, b, `document.querySelectorAll('#reapplies li').length`); n != 2 {
		t.Fatalf("re-apply history rows: %d", n)
	}
}

// The operator changes a sold account's plan from its page (a CSRF-carrying form): the same
// account moves to the new tier, the daemon's job re-applies its stack with it and the history
// shows the change and its re-apply; the same tier again changes nothing; an unsold account has
// no plan control.
func TestConsoleChangesPlan(t *testing.T) {
	var (
		mu    sync.Mutex
		tiers []string
	)
	prov := &pooltest.Provisioner{ReapplyFail: func(a pool.Account, _ int) error {
		mu.Lock()
		defer mu.Unlock()
		tiers = append(tiers, a.Tier)
		return nil
	}}
	f := startDaemon(t, func(c *daemon.Config) {
		c.Tenants = func(context.Context, *store.Store) (pool.Tenants, error) { return prov, nil }
	})
	ctx := context.Background()
	as, err := f.store.CreateAccounts(ctx, "basic", "plan", 2)
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
	sold, _, err := f.store.Claim(ctx, "basic", "manual:plan-test")
	if err != nil {
		t.Fatal(err)
	}
	unsold := as[0]
	if unsold.ID == sold.ID {
		unsold = as[1]
	}
	b := browsertest.New(t)
	signIn(t, b, f.base)
	run(t, b, chromedp.Navigate(f.base+"/console/accounts/"+itoa(unsold.ID)), chromedp.WaitVisible(chromedp.CSS("#facts")))
	if n := eval[int](t, b, `document.querySelectorAll('#set-tier').length`); n != 0 {
		t.Fatal("an unsold account offers a plan change")
	}
	page := f.base + "/console/accounts/" + itoa(sold.ID)
	run(t, b, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#set-tier")),
		chromedp.SetValue(chromedp.CSS("#tier"), "premium"), chromedp.Submit(chromedp.CSS("#set-tier")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := text(t, b, ".flash"); !strings.Contains(got, "moved from basic to premium") {
		t.Fatalf("flash %q", got)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		cs, err := f.store.PlanChanges(ctx, sold.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 1 && cs[0].State == pool.PlanApplied {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plan change not applied: %+v", cs)
		}
	}
	a, err := f.store.Get(ctx, sold.ID)
	if err != nil || a.Tier != "premium" || a.Slug != sold.Slug || a.State != sold.State {
		t.Fatalf("after the change: %+v, %v", a, err)
	}
	mu.Lock()
	got := slices.Clone(tiers)
	mu.Unlock()
	if !slices.Equal(got, []string{"premium"}) {
		t.Fatalf("re-applies with tiers %v, want [premium]", got)
	}
	run(t, b, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#events")))
	for _, kind := range []string{"plan_changed", "plan_applied"} {
		if n := eval[int](t, b, `document.querySelectorAll('#events li[data-kind="`+kind+`"]').length`); n != 1 {
			t.Fatalf("%s events on the page: %d", kind, n)
		}
	}
	if n := eval[int](t, b, `document.querySelectorAll('#plans tr[data-state="applied"]').length`); n != 1 {
		t.Fatalf("applied plan changes listed on the page: %d", n)
	}
	if sel := eval[string](t, b, `document.querySelector('#tier').value`); sel != "premium" {
		t.Fatalf("the plan control shows %q", sel)
	}
	run(t, b, chromedp.Submit(chromedp.CSS("#set-tier")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := text(t, b, ".flash"); !strings.Contains(got, "already premium") {
		t.Fatalf("the same tier again: %q", got)
	}
}

// The Business page reads the MRR of a known set of orders through the console, in a real
// browser: basic 29.00/month (one seat), basic 290.00/year (two seats: 2 × 290 ÷ 12 = 48.33),
// premium 99.00/month, and a trialing subscription that pays nothing yet → 176.33 USD. Its CSV
// carries the same figure.
func TestConsoleBusinessInBrowser(t *testing.T) {
	tiers, err := pool.NewTiers([]pool.Tier{
		{Name: "basic", MinReady: 0, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 1024, CPUs: 1,
			Prices: map[string]pool.Price{"month": {ID: "price_bm", AmountCents: 2900, Currency: "usd"},
				"year": {ID: "price_by", AmountCents: 29000, Currency: "usd"}}},
		{Name: "premium", MinReady: 0, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 2048, CPUs: 1.5,
			Prices: map[string]pool.Price{"month": {ID: "price_pm", AmountCents: 9900, Currency: "usd"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := startDaemon(t, func(c *daemon.Config) { c.Tiers = tiers })
	ctx := context.Background()
	for _, o := range []store.Order{
		{ID: "o1", Tier: "basic", TierKeys: []string{"price_bm"}, CustomerEmail: "c1@example.test", CustomerID: "c1", SubscriptionID: "s1"},
		{ID: "o2", Tier: "basic", TierKeys: []string{"price_by"}, CustomerEmail: "c2@example.test", CustomerID: "c2", SubscriptionID: "s2", Seats: 2},
		{ID: "o3", Tier: "premium", TierKeys: []string{"price_pm"}, CustomerEmail: "c3@example.test", CustomerID: "c3", SubscriptionID: "s3"},
		{ID: "o4", Tier: "basic", TierKeys: []string{"price_bm"}, CustomerEmail: "c4@example.test", CustomerID: "c4", SubscriptionID: "s4"},
	} {
		if _, err := f.store.AddPendingOrder(ctx, o, "evt_"+o.ID, "checkout.session.completed", "client"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := f.store.SetSubscriptionStatus(ctx, "evt_s4", "customer.subscription.updated", "s4", "trialing", time.Now()); err != nil {
		t.Fatal(err)
	}

	b := browsertest.New(t)
	signIn(t, b, f.base)
	run(t, b, chromedp.Click(chromedp.CSS(`nav a[href="/console/business"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-figure="mrr"]`)))
	attr, err := chromedp.Run(b, chromedp.AttributeValue(chromedp.CSS(`[data-figure="mrr"]`), "data-cents"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(text(t, b, `[data-figure="mrr"]`)); attr.Value != "17633" || !strings.Contains(got, "176.33 USD") {
		t.Fatalf("MRR on the console's Business page: %q (data-cents %q), want 176.33 USD (17633)", got, attr.Value)
	}
	// The stylesheet loads under the console's Content-Security-Policy: the figures are a grid,
	// and the charts are drawn.
	if !eval[bool](t, b, `getComputedStyle(document.querySelector(".business .figures")).display === "grid"`) {
		t.Error("the business stylesheet did not apply")
	}
	if n := eval[int](t, b, `document.querySelectorAll("#business-mrr-monthly rect").length`); n == 0 {
		t.Error("no bars in the MRR chart")
	}
	if !eval[bool](t, b, `document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Error("the business page is wider than the screen")
	}
	browsertest.Screenshot(t, b, "business")

	// The CSV link downloads the same figures (with the session's cookie).
	dl := t.TempDir()
	if _, err := chromedp.CallBrowser(b, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl}); err != nil {
		t.Fatal(err)
	}
	run(t, b, chromedp.Click(chromedp.CSS("#businesscsv")))
	var csv []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && csv == nil; time.Sleep(100 * time.Millisecond) {
		if ms, _ := filepath.Glob(filepath.Join(dl, "*.csv")); len(ms) == 1 {
			csv, _ = os.ReadFile(ms[0])
		}
	}
	if !strings.Contains(string(csv), "\nmrr_cents,,,,17633\n") {
		t.Fatalf("business CSV does not carry the MRR:\n%s", csv)
	}
}
