package daemon

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/cfhostnames"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/domainpage"
	"github.com/axiestudio/tenantpool/pool/store"
)

// Domains configures custom domains (Cloudflare for SaaS custom hostnames); nil in Config:
// off.
type Domains struct {
	// Cloudflare is the zone and token (the provisioner's); APIURL is Cloudflare's API base
	// ("" = Cloudflare's; tests: the double).
	Cloudflare platform.CloudflareConfig
	APIURL     string
	// Target is the CNAME target customers point their hostnames at: the zone's fallback
	// origin, e.g. customers.<domain>.
	Target string
	// Platform are the platform's own domains no customer may attach (tenants', company's).
	Platform []string
	// PublicURL is where customers reach the public listener: the domain page's links ("":
	// no page, no link in the credentials e-mail).
	PublicURL string
	// Expiry is how long a hostname may wait for its DNS records (0: 7 days); Schedule the
	// domains loop's (default every 30 s).
	Expiry   time.Duration
	Schedule string
	// SigningKey keys the page's links (derived further; the sealing keyring's oldest key).
	SigningKey []byte
}

// links are the page's signer and an account's link; nil without a public URL or key.
func (c *Domains) links() (*domainpage.Signer, func(pool.Account) string) {
	if c == nil || c.PublicURL == "" || len(c.SigningKey) == 0 {
		return nil, nil
	}
	signer := domainpage.NewSigner(c.SigningKey)
	return signer, func(a pool.Account) string { return signer.Link(c.PublicURL, a.ID, time.Now()) }
}

// domainParts are the wired custom-domain parts.
type domainParts struct {
	loop *control.Domains
	ops  *admin.DomainOps
	link func(a pool.Account) string // nil: no page
}

// newDomains wires custom domains: the loop (on the reconcile leader), the operations the
// admin API and the page share, and the page on the public listener.
func newDomains(cfg Config, s *store.Store, tenants pool.Tenants, leading func() bool, public map[string]http.Handler) (*domainParts, error) {
	c := cfg.Domains
	if c == nil {
		return &domainParts{}, nil
	}
	client, err := cfhostnames.New(c.APIURL, c.Cloudflare.ZoneID, c.Cloudflare.APIToken, nil)
	if err != nil {
		return nil, err
	}
	signer, link := c.links()
	dcfg := control.DomainsConfig{Store: s, Tenants: tenants, Hostnames: client, Target: c.Target, PageURL: link,
		Expiry: c.Expiry, Schedule: c.Schedule, Leader: func(context.Context) (bool, error) { return leading(), nil }, Log: cfg.Log.With("component", "domains")}
	if cfg.Mail != nil {
		sender, err := delivery.NewSender(cfg.Mail.SMTP, cfg.Mail.Templates)
		if err != nil {
			return nil, err
		}
		dcfg.Mailer, dcfg.From = sender, cfg.Mail.SMTP.From
		if cfg.Orders != nil {
			dcfg.SupportContact = cfg.Orders.SupportContact
		}
	} else {
		cfg.Log.Warn("custom domains: no SMTP server, customers get no DNS-record or status e-mails (POOL_SMTP_HOST)")
	}
	loop, err := control.NewDomains(dcfg)
	if err != nil {
		return nil, err
	}
	ops := admin.NewDomainOps(s, cfg.Tiers, &admin.Domains{Platform: c.Platform, Trigger: loop.Trigger}, cfg.Log)
	if signer != nil {
		page, err := domainpage.New(domainpage.Config{Signer: signer, Ops: ops, Account: s.Get, Tiers: cfg.Tiers,
			Hostnames: client, Target: c.Target, Clock: quartz.NewReal(), Log: cfg.Log.With("component", "domainpage")})
		if err != nil {
			return nil, err
		}
		for pattern, h := range page.Routes() {
			public[pattern] = h
		}
	}
	return &domainParts{loop: loop, ops: ops, link: link}, nil
}

// domainDetacher is the plan workers' control.DomainDetacher: the store's custom domains, the
// domains loop asked for a pass after a detach.
type domainDetacher struct {
	s       *store.Store
	trigger func()
}

var _ control.DomainDetacher = domainDetacher{}

// Excess lists the account's domains beyond allowance (the newest go).
func (d domainDetacher) Excess(ctx context.Context, accountID int64, allowance int) ([]string, error) {
	return d.s.ExcessDomains(ctx, accountID, allowance)
}

// Detach marks one detaching; one already gone is no error (a retried job).
func (d domainDetacher) Detach(ctx context.Context, accountID int64, hostname string) error {
	if _, err := d.s.DetachDomain(ctx, accountID, hostname); err != nil && !errors.Is(err, pool.ErrNotFound) {
		return err
	}
	d.trigger()
	return nil
}
