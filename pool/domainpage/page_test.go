package domainpage_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/cfhostnames"
	"github.com/axiestudio/tenantpool/pool/cfhostnames/cfhostnamestest"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/domainpage"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/pooltest/browsertest"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

func TestSignerRefusesForgedAndExpiredLinks(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	s := domainpage.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	tok := s.Token(42, now.Add(time.Hour))
	if id, err := s.Verify(tok, now); err != nil || id != 42 {
		t.Fatalf("Verify = %d, %v", id, err)
	}
	if _, err := s.Verify(tok, now.Add(2*time.Hour)); err == nil {
		t.Error("expired link accepted")
	}
	other := domainpage.NewSigner([]byte("another key, another key, 32 by"))
	if _, err := other.Verify(tok, now); err == nil {
		t.Error("link of another key accepted")
	}
	forged := s.Token(43, now.Add(time.Hour))
	if _, err := s.Verify(tok[:21]+forged[21:], now); err == nil {
		t.Error("spliced link accepted")
	}
	if !strings.Contains(s.Link("https://shop.example.test/", 42, now), "https://shop.example.test/domains?t=") {
		t.Error("link shape")
	}
}

// In headless Chromium: the customer opens the link, asks for a domain, sees the CNAME, then
// (once the stack is applied) the TXT records Cloudflare asks for; a bad name is refused with
// the reason and changes nothing; Remove detaches; a forged link shows nothing.
func TestDomainPageInBrowser(t *testing.T) {
	ctx := context.Background()
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	tiers, err := pool.NewTiers(pool.DefaultTiers())
	if err != nil {
		t.Fatal(err)
	}
	as, err := s.CreateAccounts(ctx, "premium", "client", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkReady(ctx, as[0].ID, pool.Provisioned{Host: "h1", URL: "https://client01.tenants.example.net"}); err != nil {
		t.Fatal(err)
	}
	acc, _, err := s.Claim(ctx, "premium", "order-1")
	if err != nil {
		t.Fatal(err)
	}
	cf := cfhostnamestest.New(t, "zone1", "tok")
	client, err := cfhostnames.New(cf.URL, "zone1", "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	ops := admin.NewDomainOps(s, tiers, &admin.Domains{Platform: []string{"tenants.example.net"}}, nil)
	signer := domainpage.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	page, err := domainpage.New(domainpage.Config{Signer: signer, Ops: ops, Account: s.Get, Tiers: tiers,
		Hostnames: client, Target: cfhostnamestest.Target})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, h := range page.Routes() {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	b := browsertest.New(t)
	text := func() string {
		t.Helper()
		s, err := chromedp.Run(b, chromedp.Text(chromedp.CSS("main")))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	link := signer.Link(srv.URL, acc.ID, time.Now())
	if err := chromedp.Do(b, chromedp.Navigate(link)); err != nil {
		t.Fatal(err)
	}
	if got := text(); !strings.Contains(got, "0 of 1 custom domain used") {
		t.Fatalf("page: %q", got)
	}
	// next runs act, which loads a new page, and waits until the new page is loaded.
	next := func(act chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.Run(b, chromedp.Evaluate[bool]("window.oldPage = true")); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(b, act); err != nil {
			t.Fatal(err)
		}
		// Evaluations fail while the page is replaced: ask again until the new one answers.
		for range 600 {
			if done, err := chromedp.Run(b, chromedp.Evaluate[bool](`!window.oldPage && document.readyState === "complete"`)); err == nil && done {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("the next page did not load")
	}
	submit := func(host string) {
		t.Helper()
		if err := chromedp.Do(b, chromedp.SendKeys(chromedp.CSS("#hostname"), host)); err != nil {
			t.Fatal(err)
		}
		next(chromedp.Submit(chromedp.CSS("#attach")))
	}
	submit("shop.tenants.example.net")
	if got := text(); !strings.Contains(got, "platform") {
		t.Fatalf("platform name: %q", got)
	}
	if ds, _ := s.ListDomains(ctx); len(ds) != 0 {
		t.Fatalf("a refused name left rows: %+v", ds)
	}
	submit("AI.Acme.com")
	got := text()
	if !strings.Contains(got, "ai.acme.com is requested") || !strings.Contains(got, cfhostnamestest.Target) || !strings.Contains(got, "1 of 1") {
		t.Fatalf("after the request: %q", got)
	}
	if n, err := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll("#attach").length`)); err != nil || n != 0 {
		t.Fatalf("the form is offered beyond the allowance (%d, %v)", n, err)
	}

	// The daemon applies the stack (Cloudflare creates the hostname): the page shows its TXT records.
	ten := &pooltest.Provisioner{ReapplyFail: func(pool.Account, int) error { cf.Create("ai.acme.com"); return nil }}
	loop, err := control.NewDomains(control.DomainsConfig{Store: s, Tenants: ten, Hostnames: client, Target: cfhostnamestest.Target, Clock: quartz.NewReal()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loop.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(b, chromedp.Navigate(link)); err != nil {
		t.Fatal(err)
	}
	if got := text(); !strings.Contains(got, "_cf-custom-hostname.ai.acme.com") || !strings.Contains(got, "_acme-challenge.ai.acme.com") || !strings.Contains(got, "pending") {
		t.Fatalf("pending page: %q", got)
	}
	browsertest.Screenshot(t, b, "domain-page")

	next(chromedp.Click(chromedp.CSS(`section[data-hostname="ai.acme.com"] button`)))
	if got := text(); !strings.Contains(got, "ai.acme.com is being removed") {
		t.Fatalf("after remove: %q", got)
	}
	if d, _ := s.GetDomain(ctx, "ai.acme.com"); d.State != pool.DomainDetaching {
		t.Fatalf("state after remove: %q", d.State)
	}

	other := domainpage.NewSigner([]byte("another key, another key, 32 by"))
	if err := chromedp.Do(b, chromedp.Navigate(other.Link(srv.URL, acc.ID, time.Now()))); err != nil {
		t.Fatal(err)
	}
	if got := text(); !strings.Contains(got, "invalid or has expired") || strings.Contains(got, acc.Slug) {
		t.Fatalf("forged link: %q", got)
	}
}
