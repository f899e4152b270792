package control_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/delivery/mailpittest"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/cfhostnames"
	"github.com/axiestudio/tenantpool/pool/cfhostnames/cfhostnamestest"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// cfTenants wraps the tenants double: every re-apply does at Cloudflare what the tenant
// program does (a custom hostname per domain not detaching, none for the others), and records
// which domains the router served.
type cfTenants struct {
	*pooltest.Provisioner
	s  *store.Store
	cf *cfhostnamestest.Server

	mu     sync.Mutex
	had    map[string][]string // slug → custom hostnames of its last apply
	routed map[string][]string // slug → routed domains of its last apply
}

func (c *cfTenants) Reapply(ctx context.Context, a pool.Account) error {
	if err := c.Provisioner.Reapply(ctx, a); err != nil {
		return err
	}
	ds, err := c.s.AccountDomains(ctx, a.ID)
	if err != nil {
		return err
	}
	custom, active := pulumiprov.DomainSpec(ds)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.had[a.Slug] {
		if !slices.Contains(custom, h) {
			c.cf.Delete(h)
		}
	}
	for _, h := range custom {
		c.cf.Create(h)
	}
	c.had[a.Slug], c.routed[a.Slug] = custom, active
	return nil
}

func (c *cfTenants) Routed(slug string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.routed[slug]
}

type domainEnv struct {
	s      *store.Store
	clock  *quartz.Mock
	cf     *cfhostnamestest.Server
	mp     *mailpittest.Server
	ten    *cfTenants
	d      *control.Domains
	ctx    context.Context
	t      *testing.T
	acct   pool.Account
	emails int
}

func newDomainEnv(t *testing.T, open func(quartz.Clock) *store.Store) *domainEnv {
	ctx := context.Background()
	clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger)
	clock.Set(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	s := open(clock)
	as, err := s.CreateAccounts(ctx, "premium", "client", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkReady(ctx, as[0].ID, pool.Provisioned{Host: "h1", URL: "https://client01.example.test"}); err != nil {
		t.Fatal(err)
	}
	a, _, err := s.Claim(ctx, "premium", "order-1")
	if err != nil {
		t.Fatal(err)
	}
	cf := cfhostnamestest.New(t, "zone1", "tok")
	client, err := cfhostnames.New(cf.URL, "zone1", "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	mp := mailpittest.Start(t)
	tmpl, err := delivery.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := delivery.NewSender(delivery.Config{Host: mp.SMTPHost, Port: mp.SMTPPort, TLS: delivery.TLSNone,
		From: "Pool <pool@example.test>", Timeout: 5 * time.Second}, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	ten := &cfTenants{Provisioner: &pooltest.Provisioner{}, s: s, cf: cf, had: map[string][]string{}, routed: map[string][]string{}}
	d, err := control.NewDomains(control.DomainsConfig{Store: s, Tenants: ten, Hostnames: client, Mailer: sender,
		Target: cfhostnamestest.Target, PageURL: func(a pool.Account) string { return "https://shop.example.test/domains?a=" + a.Slug },
		Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return &domainEnv{s: s, clock: clock, cf: cf, mp: mp, ten: ten, d: d, ctx: ctx, t: t, acct: a}
}

// pass advances the clock by wait and runs one pass; it returns the domain's row after it
// (zero when deleted).
func (e *domainEnv) pass(wait time.Duration, host string) pool.CustomDomain {
	e.t.Helper()
	e.clock.Advance(wait)
	if _, err := e.d.RunOnce(e.ctx); err != nil {
		e.t.Fatalf("pass: %v", err)
	}
	d, err := e.s.GetDomain(e.ctx, host)
	if err != nil {
		return pool.CustomDomain{}
	}
	return d
}

func (e *domainEnv) want(d pool.CustomDomain, st pool.DomainState) {
	e.t.Helper()
	if d.State != st {
		e.t.Fatalf("state %q (reason %q), want %q", d.State, d.Reason, st)
	}
}

// newMail waits for the next e-mail and returns it.
func (e *domainEnv) newMail() mailpittest.Message {
	e.t.Helper()
	e.emails++
	for range 100 {
		if ms := e.mp.Messages(e.t); len(ms) >= e.emails {
			if len(ms) > e.emails {
				e.t.Fatalf("%d e-mails, want %d", len(ms), e.emails)
			}
			return ms[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("no e-mail %d", e.emails)
	return mailpittest.Message{}
}

func (e *domainEnv) noNewMail() {
	e.t.Helper()
	if n := len(e.mp.Messages(e.t)); n != e.emails {
		e.t.Fatalf("%d e-mails, want %d", n, e.emails)
	}
}

// The whole life of a custom domain against the Cloudflare double: requested → applied
// (custom hostname, no route) → pending (DNS records e-mailed) → active (routed, live e-mail)
// → moved (unrouted, action e-mail) → detached (hostname and row gone).
func TestDomainsFollowCloudflare(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		e := newDomainEnv(t, open)
		const host = "ai.acme.com"
		if _, _, err := e.s.AttachDomain(e.ctx, e.acct.ID, host, "ada@acme.test", 1); err != nil {
			t.Fatal(err)
		}
		d := e.pass(0, host)
		e.want(d, pool.DomainPending)
		if !e.cf.Has(host) || len(e.ten.Routed(e.acct.Slug)) != 0 {
			t.Fatalf("after the apply: at Cloudflare %v, routed %v; want the hostname, no route", e.cf.Has(host), e.ten.Routed(e.acct.Slug))
		}

		d = e.pass(0, host)
		e.want(d, pool.DomainPending)
		if d.CFStatus != "pending" || d.SSLStatus != "pending_validation" {
			t.Fatalf("statuses %s/%s", d.CFStatus, d.SSLStatus)
		}
		m := e.newMail()
		if m.To[0].Address != "ada@acme.test" || !strings.Contains(m.Subject, host) {
			t.Fatalf("records e-mail to %v: %q", m.To, m.Subject)
		}
		for _, want := range []string{"CNAME", cfhostnamestest.Target, "_cf-custom-hostname." + host, "_acme-challenge." + host, "https://shop.example.test/domains?a=" + e.acct.Slug} {
			if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, want) {
				t.Fatalf("records e-mail lacks %q:\n%s", want, m.Text)
			}
		}
		// Still pending: checked again with backoff, no second e-mail, no route.
		d = e.pass(time.Hour, host)
		e.want(d, pool.DomainPending)
		e.noNewMail()

		// The customer creates the records (values read back from the e-mail's source: Cloudflare).
		h, err := mustClient(t, e.cf).Get(e.ctx, host)
		if err != nil {
			t.Fatal(err)
		}
		e.cf.Publish(h.Ownership.Name, h.Ownership.Value)
		e.cf.Publish(h.Certificate[0].Name, h.Certificate[0].Value)
		e.cf.Publish(host, cfhostnamestest.Target)
		d = e.pass(time.Hour, host) // hostname active, certificate pending_issuance: not yet
		e.want(d, pool.DomainPending)
		if len(e.ten.Routed(e.acct.Slug)) != 0 {
			t.Fatal("routed before the certificate is active")
		}
		d = e.pass(time.Hour, host)
		e.want(d, pool.DomainActive)
		if got := e.ten.Routed(e.acct.Slug); !slices.Equal(got, []string{host}) {
			t.Fatalf("routed %v after activation", got)
		}
		if m := e.newMail(); !strings.Contains(m.Subject, "is live") || !strings.Contains(m.Text, "https://"+host+"/") {
			t.Fatalf("live e-mail %q:\n%s", m.Subject, m.Text)
		}
		d = e.pass(time.Hour, host) // still active: nothing happens
		e.want(d, pool.DomainActive)
		e.noNewMail()

		// The customer removes the CNAME: Cloudflare says moved; the route goes, then the e-mail.
		e.cf.Unpublish(host)
		d = e.pass(time.Hour, host)
		e.want(d, pool.DomainFailed)
		d = e.pass(0, host)
		e.want(d, pool.DomainFailed)
		if got := e.ten.Routed(e.acct.Slug); len(got) != 0 {
			t.Fatalf("still routed %v after moved", got)
		}
		if m := e.newMail(); !strings.Contains(m.Subject, "Action needed") || !strings.Contains(m.Text, "moved") {
			t.Fatalf("action e-mail %q:\n%s", m.Subject, m.Text)
		}

		// The customer puts the CNAME back: active and routed again.
		e.cf.Publish(host, cfhostnamestest.Target)
		e.want(e.pass(time.Hour, host), pool.DomainPending)
		e.want(e.pass(0, host), pool.DomainActive)
		if got := e.ten.Routed(e.acct.Slug); !slices.Equal(got, []string{host}) {
			t.Fatalf("routed %v after recovery", got)
		}
		e.newMail()

		// Detach: the apply removes route and hostname, then the row goes and the name is free.
		if _, err := e.s.DetachDomain(e.ctx, e.acct.ID, host); err != nil {
			t.Fatal(err)
		}
		if d := e.pass(0, host); d.ID != 0 {
			t.Fatalf("row left after detach: %+v", d)
		}
		if e.cf.Has(host) || len(e.ten.Routed(e.acct.Slug)) != 0 {
			t.Fatal("hostname or route left after detach")
		}
		e.noNewMail()
	})
}

func mustClient(t *testing.T, cf *cfhostnamestest.Server) *cfhostnames.Client {
	c, err := cfhostnames.New(cf.URL, cf.Zone, cf.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A hostname Cloudflare blocks, and one whose records never come, fail with an e-mail that
// says why; neither was ever routed. A failing apply is retried with its error kept.
func TestDomainsBlockedExpiredAndRetried(t *testing.T) {
	e := newDomainEnv(t, func(c quartz.Clock) *store.Store { return storetest.OpenSQLite(t, t.TempDir(), c) })
	if _, _, err := e.s.AttachDomain(e.ctx, e.acct.ID, "blocked.acme.com", "ada@acme.test", 2); err != nil {
		t.Fatal(err)
	}
	fails := 1
	e.ten.ReapplyFail = func(pool.Account, int) error {
		if fails > 0 {
			fails--
			return pool.ErrNoCapacity
		}
		return nil
	}
	if _, err := e.d.RunOnce(e.ctx); err == nil {
		t.Fatal("a failed apply is not reported")
	}
	d, _ := e.s.GetDomain(e.ctx, "blocked.acme.com")
	e.want(d, pool.DomainRequested)
	if !strings.Contains(d.Reason, "no docker host") || !d.CheckAt.After(e.clock.Now()) {
		t.Fatalf("retry: reason %q, check at %v", d.Reason, d.CheckAt)
	}
	e.want(e.pass(time.Minute, "blocked.acme.com"), pool.DomainPending)
	e.pass(0, "blocked.acme.com")
	e.newMail() // the records
	e.cf.Block("blocked.acme.com")
	d = e.pass(time.Hour, "blocked.acme.com")
	e.want(d, pool.DomainFailed)
	if m := e.newMail(); !strings.Contains(m.Text, "blocked") {
		t.Fatalf("blocked e-mail:\n%s", m.Text)
	}
	if len(e.ten.Routed(e.acct.Slug)) != 0 {
		t.Fatal("a blocked hostname was routed")
	}

	if _, _, err := e.s.AttachDomain(e.ctx, e.acct.ID, "slow.acme.com", "ada@acme.test", 2); err != nil {
		t.Fatal(err)
	}
	e.want(e.pass(0, "slow.acme.com"), pool.DomainPending)
	e.pass(0, "slow.acme.com")
	e.newMail()
	d = e.pass(8*24*time.Hour, "slow.acme.com")
	e.want(d, pool.DomainDetaching)
	if m := e.newMail(); !strings.Contains(m.Text, "were not found within") {
		t.Fatalf("expiry e-mail:\n%s", m.Text)
	}
	// The unverified name is released: the next pass removes it, and another tenant may take it.
	if d := e.pass(0, "slow.acme.com"); d.ID != 0 || e.cf.Has("slow.acme.com") {
		t.Fatalf("expired hostname kept: %+v", d)
	}
}
