package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/cfhostnames"
)

// DomainStore is what the domains loop needs from storage (package store implements it).
type DomainStore interface {
	DueDomains(ctx context.Context, now time.Time, limit int) ([]pool.CustomDomain, error)
	UpdateDomain(ctx context.Context, id int64, u pool.DomainUpdate) (bool, error)
	DeleteDomain(ctx context.Context, id int64) error
	Get(ctx context.Context, id int64) (pool.Account, error)
}

// Hostnames reads a custom hostname's status at Cloudflare (cfhostnames.Client).
type Hostnames interface {
	Get(ctx context.Context, hostname string) (cfhostnames.Hostname, error)
}

// DomainsConfig configures Domains.
type DomainsConfig struct {
	Store     DomainStore
	Tenants   pool.Tenants // Reapply: the stack takes the account's domains as they are stored
	Hostnames Hostnames
	// Mailer e-mails the customer (the domain's contact); nil: no e-mails (logged).
	Mailer Mailer
	// Target is the CNAME target customers point their hostname at (the Cloudflare for SaaS
	// fallback origin's hostname, e.g. customers.<domain>).
	Target string
	// PageURL, if set, is the customer's domain page of an account (a signed link).
	PageURL        func(a pool.Account) string
	From           string
	SupportContact string
	// Expiry is how long a hostname may wait for its DNS records before it fails (default 7
	// days); Poll is the first wait between checks of a pending one, doubling up to MaxPoll
	// (defaults 1 minute, 1 hour); ActiveEvery is how often an active or failed one is
	// checked again (default 1 hour).
	Expiry, Poll, MaxPoll, ActiveEvery time.Duration
	// Limit bounds the domains one pass handles (default 100).
	Limit int
	// Leader reports whether this process may act (Run only); nil means always.
	Leader   func(ctx context.Context) (bool, error)
	Schedule string // default every 30 seconds
	Clock    quartz.Clock
	Log      *slog.Logger
}

// Domains walks every custom domain through its states: it applies the tenant's stack with a
// requested hostname (the Cloudflare custom hostname), e-mails the customer the DNS records,
// polls Cloudflare until the hostname and its certificate are active (then applies the stack
// again to route it, and e-mails that it is live) or it is moved, blocked or not verified in
// time (e-mails that it needs action), keeps watching active ones, and applies the stack
// without a detached one before deleting its row. Every step is stored before the next: a
// crash repeats at most the last one.
type Domains struct {
	cfg  DomainsConfig
	loop *Loop
}

// DomainReport counts what one pass did.
type DomainReport struct {
	Checked, Applied, Activated, Failed, Detached, Emailed, Errors int
}

// NewDomains validates cfg.
func NewDomains(cfg DomainsConfig) (*Domains, error) {
	if cfg.Store == nil || cfg.Tenants == nil || cfg.Hostnames == nil || cfg.Target == "" {
		return nil, errors.New("domains: store, tenants, hostnames and target are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Expiry, 7*24*time.Hour)
	def(&cfg.Poll, time.Minute)
	def(&cfg.MaxPoll, time.Hour)
	def(&cfg.ActiveEvery, time.Hour)
	if cfg.Limit <= 0 {
		cfg.Limit = 100
	}
	if cfg.Clock == nil {
		cfg.Clock = quartz.NewReal()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Schedule == "" {
		cfg.Schedule = "@every 30s"
	}
	loop, err := NewLoop("domains", cfg.Schedule, cfg.Clock)
	if err != nil {
		return nil, err
	}
	return &Domains{cfg: cfg, loop: loop}, nil
}

// Trigger asks for a pass as soon as possible (a domain was attached or detached).
func (d *Domains) Trigger() { d.loop.Trigger() }

// Run handles due domains on the schedule until ctx ends.
func (d *Domains) Run(ctx context.Context) error {
	d.loop.Run(ctx, func(ctx context.Context) {
		if d.cfg.Leader != nil {
			if ok, err := d.cfg.Leader(ctx); err != nil || !ok {
				return
			}
		}
		rep, err := d.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.cfg.Log.Error("domains", "err", err)
		}
		if rep != (DomainReport{}) && rep.Checked > 0 {
			d.cfg.Log.Info("domains pass", "checked", rep.Checked, "applied", rep.Applied, "activated", rep.Activated,
				"failed", rep.Failed, "detached", rep.Detached, "emailed", rep.Emailed, "errors", rep.Errors)
		}
	})
	return nil
}

// RunOnce handles every domain due now, one after the other.
func (d *Domains) RunOnce(ctx context.Context) (DomainReport, error) {
	var rep DomainReport
	due, err := d.cfg.Store.DueDomains(ctx, d.cfg.Clock.Now(), d.cfg.Limit)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, dom := range due {
		rep.Checked++
		if err := d.handle(ctx, &rep, dom); err != nil {
			rep.Errors++
			d.cfg.Log.Warn("custom domain", "domain", dom.Hostname, "account", dom.Slug, "state", dom.State, "err", err)
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

// backoff is the wait before the next check after n checks in the same state.
func (d *Domains) backoff(n int) time.Duration {
	w := d.cfg.Poll
	for range min(n, 20) {
		w *= 2
		if w >= d.cfg.MaxPoll {
			return d.cfg.MaxPoll
		}
	}
	return w
}

func (d *Domains) handle(ctx context.Context, rep *DomainReport, dom pool.CustomDomain) error {
	now := d.cfg.Clock.Now()
	a, err := d.cfg.Store.Get(ctx, dom.AccountID)
	if err != nil {
		return err
	}
	// u starts as "nothing changed, check again after a backoff".
	u := pool.DomainUpdate{From: dom.State, State: dom.State, CFStatus: dom.CFStatus, SSLStatus: dom.SSLStatus,
		Reason: dom.Reason, Notified: dom.Notified, Attempts: dom.Attempts + 1}
	u.CheckAt = now.Add(d.backoff(dom.Attempts))
	save := func() error {
		_, err := d.cfg.Store.UpdateDomain(ctx, dom.ID, u)
		return err
	}
	moveTo := func(st pool.DomainState, reason string) {
		u.State, u.Reason, u.Attempts, u.CheckAt = st, reason, 0, now
	}
	// retry stores a failed step's error and keeps the state: the step runs again later.
	retry := func(err error) error {
		u.Reason = err.Error()
		return errors.Join(err, save())
	}

	if a.State == pool.StateRetired {
		// The teardown destroys the stack with everything at Cloudflare: the row just goes.
		if dom.State != pool.DomainDetaching {
			moveTo(pool.DomainDetaching, "the account is retired")
			if err := save(); err != nil {
				return err
			}
		}
		rep.Detached++
		return d.cfg.Store.DeleteDomain(ctx, dom.ID)
	}

	switch dom.State {
	case pool.DomainRequested:
		if err := d.cfg.Tenants.Reapply(ctx, a); err != nil {
			return retry(fmt.Errorf("apply with %s: %w", dom.Hostname, err))
		}
		rep.Applied++
		moveTo(pool.DomainPending, "")
		return save()

	case pool.DomainPending:
		h, err := d.cfg.Hostnames.Get(ctx, dom.Hostname)
		if errors.Is(err, cfhostnames.ErrNotFound) {
			// The stack does not have it (yet, or any more): apply it again.
			moveTo(pool.DomainRequested, "Cloudflare has no custom hostname "+dom.Hostname)
			return save()
		}
		if err != nil {
			return retry(err)
		}
		u.CFStatus, u.SSLStatus = h.Status, h.SSLStatus
		// Waiting: the hostname, or its certificate, is not verified yet.
		waiting := h.Status == cfhostnames.StatusPending || h.Status == cfhostnames.StatusActive
		switch {
		case h.Active():
			// Active first, so that the apply routes it; "live" is told once the apply is done.
			moveTo(pool.DomainActive, "")
			if err := save(); err != nil {
				return err
			}
			dom.State, dom.Attempts = pool.DomainActive, 0
			return d.route(ctx, rep, a, dom)
		case waiting && now.Sub(dom.RequestedAt) > d.cfg.Expiry:
			// Never verified: the name is released (detached), so that a request nobody
			// completes cannot hold a hostname its real owner wants.
			if err := d.fail(ctx, rep, a, dom, &u, fmt.Sprintf("its DNS records were not found within %s of the request, so it was removed; ask for it again once they are in place", d.cfg.Expiry)); err != nil {
				return err
			}
			u.From, u.State, u.Attempts, u.CheckAt = pool.DomainFailed, pool.DomainDetaching, 0, now
			_, err := d.cfg.Store.UpdateDomain(ctx, dom.ID, u)
			return err
		case waiting:
			if err := save(); err != nil {
				return err
			}
			if dom.Notified == delivery.DomainRecords {
				return nil
			}
			return d.notify(ctx, rep, a, dom, &u, delivery.DomainRecords, d.records(dom.Hostname, h), "")
		default:
			return d.fail(ctx, rep, a, dom, &u, statusReason(dom.Hostname, h, d.cfg.Target))
		}

	case pool.DomainActive:
		if dom.Notified != delivery.DomainLive {
			return d.route(ctx, rep, a, dom)
		}
		h, err := d.cfg.Hostnames.Get(ctx, dom.Hostname)
		if err != nil && !errors.Is(err, cfhostnames.ErrNotFound) {
			return retry(err)
		}
		u.CFStatus, u.SSLStatus = h.Status, h.SSLStatus
		if err == nil && h.Active() {
			u.Attempts, u.CheckAt = 0, now.Add(d.cfg.ActiveEvery)
			return save()
		}
		reason := statusReason(dom.Hostname, h, d.cfg.Target)
		if err != nil {
			reason = "Cloudflare no longer has it"
		}
		// No longer active: stop routing it. Notified stays "live", so the failed state's next
		// check re-applies the stack (no route) before it tells the customer.
		moveTo(pool.DomainFailed, reason)
		rep.Failed++
		return save()

	case pool.DomainFailed:
		if dom.Notified == delivery.DomainLive {
			// It was routed: apply without the route first, then tell the customer.
			if err := d.cfg.Tenants.Reapply(ctx, a); err != nil {
				return retry(fmt.Errorf("unroute %s: %w", dom.Hostname, err))
			}
			rep.Applied++
			u.Attempts, u.CheckAt = 0, now.Add(d.cfg.ActiveEvery)
			if err := save(); err != nil {
				return err
			}
			return d.notify(ctx, rep, a, dom, &u, delivery.DomainAction, nil, dom.Reason)
		}
		// Cloudflare may report it active again (the customer fixed the CNAME).
		h, err := d.cfg.Hostnames.Get(ctx, dom.Hostname)
		if err == nil && h.Active() {
			moveTo(pool.DomainPending, "")
			return save()
		}
		u.Attempts, u.CheckAt = 0, now.Add(d.cfg.ActiveEvery)
		return save()

	case pool.DomainDetaching:
		if err := d.cfg.Tenants.Reapply(ctx, a); err != nil {
			u.CheckAt = now.Add(d.backoff(dom.Attempts))
			return retry(fmt.Errorf("apply without %s: %w", dom.Hostname, err))
		}
		rep.Applied++
		rep.Detached++
		return d.cfg.Store.DeleteDomain(ctx, dom.ID)
	}
	return fmt.Errorf("domain %s: unknown state %q", dom.Hostname, dom.State)
}

// route applies the stack of an active domain (which routes it) and tells the customer it is
// live; a failed apply is retried at the next check.
func (d *Domains) route(ctx context.Context, rep *DomainReport, a pool.Account, dom pool.CustomDomain) error {
	now := d.cfg.Clock.Now()
	u := pool.DomainUpdate{From: dom.State, State: dom.State, CFStatus: dom.CFStatus, SSLStatus: dom.SSLStatus,
		Notified: dom.Notified, Attempts: dom.Attempts + 1, CheckAt: now.Add(d.backoff(dom.Attempts))}
	if err := d.cfg.Tenants.Reapply(ctx, a); err != nil {
		u.Reason = fmt.Sprintf("route %s: %v", dom.Hostname, err)
		_, serr := d.cfg.Store.UpdateDomain(ctx, dom.ID, u)
		return errors.Join(errors.New(u.Reason), serr)
	}
	rep.Applied++
	rep.Activated++
	u.Attempts, u.CheckAt = 0, now.Add(d.cfg.ActiveEvery)
	return d.notify(ctx, rep, a, dom, &u, delivery.DomainLive, nil, "")
}

// fail moves a never-routed domain to failed and tells the customer at once.
func (d *Domains) fail(ctx context.Context, rep *DomainReport, a pool.Account, dom pool.CustomDomain, u *pool.DomainUpdate, reason string) error {
	u.State, u.Reason, u.Attempts, u.CheckAt = pool.DomainFailed, reason, 0, d.cfg.Clock.Now().Add(d.cfg.ActiveEvery)
	u.Notified = "" // never routed: nothing to re-apply
	if _, err := d.cfg.Store.UpdateDomain(ctx, dom.ID, *u); err != nil {
		return err
	}
	rep.Failed++
	u.From = pool.DomainFailed
	return d.notify(ctx, rep, a, dom, u, delivery.DomainAction, nil, reason)
}

// notify e-mails the customer about step and records it (u.From must be the stored state). A
// send that fails is retried at the next check; one refused for good is logged and not
// retried.
func (d *Domains) notify(ctx context.Context, rep *DomainReport, a pool.Account, dom pool.CustomDomain, u *pool.DomainUpdate, step string, records []delivery.DNSRecord, reason string) error {
	u.From = u.State
	if d.cfg.Mailer == nil || dom.Contact == "" {
		d.cfg.Log.Info("custom domain: no e-mail (no contact or no SMTP)", "domain", dom.Hostname, "account", a.Slug, "step", step)
	} else {
		order := a.OrderID
		if order == "" {
			order = a.Slug
		}
		msg := delivery.Message{Kind: delivery.KindCustomDomain, OrderID: order,
			Ref:           fmt.Sprintf("%s:%d:%s", dom.Hostname, dom.RequestedAt.UnixMilli(), step),
			CustomerEmail: dom.Contact, Tier: a.Tier, Hostname: dom.Hostname, DomainStep: step, DNSRecords: records,
			Reason: reason, SupportContact: d.cfg.SupportContact, From: d.cfg.From}
		if d.cfg.PageURL != nil {
			msg.DomainURL = d.cfg.PageURL(a)
		}
		if err := d.cfg.Mailer.Send(ctx, msg); err != nil {
			if !delivery.IsPermanent(err) {
				return fmt.Errorf("e-mail %s about %s: %w", step, dom.Hostname, err)
			}
			d.cfg.Log.Error("custom domain e-mail refused for good", "domain", dom.Hostname, "err", err)
		} else {
			rep.Emailed++
		}
	}
	u.Notified = step
	_, err := d.cfg.Store.UpdateDomain(ctx, dom.ID, *u)
	return err
}

// records are the DNS records the customer creates: the CNAME to the target, and the TXT
// records Cloudflare asks for (ownership, certificate).
func (d *Domains) records(hostname string, h cfhostnames.Hostname) []delivery.DNSRecord {
	out := []delivery.DNSRecord{{Type: "CNAME", Name: hostname, Value: d.cfg.Target}}
	if o := h.Ownership; o != nil {
		out = append(out, delivery.DNSRecord{Type: o.Type, Name: o.Name, Value: o.Value})
	}
	for _, r := range h.Certificate {
		out = append(out, delivery.DNSRecord{Type: r.Type, Name: r.Name, Value: r.Value})
	}
	return out
}

// Records are the DNS records of a hostname as Cloudflare states it now (the domain page).
func Records(target, hostname string, h cfhostnames.Hostname) []delivery.DNSRecord {
	return (&Domains{cfg: DomainsConfig{Target: target}}).records(hostname, h)
}

// statusReason says, in the customer's terms, why Cloudflare does not serve the hostname.
func statusReason(hostname string, h cfhostnames.Hostname, target string) string {
	var why string
	switch h.Status {
	case cfhostnames.StatusMoved:
		why = fmt.Sprintf("Cloudflare reports it moved: %s no longer has a CNAME to %s", hostname, target)
	case cfhostnames.StatusBlocked:
		why = "Cloudflare blocked it; contact support"
	case cfhostnames.StatusPendingDeletion, cfhostnames.StatusDeleted:
		why = "Cloudflare is deleting it"
	case cfhostnames.StatusActive:
		why = "its certificate is " + strings.ReplaceAll(h.SSLStatus, "_", " ")
	default:
		why = "Cloudflare reports it " + strings.ReplaceAll(h.Status, "_", " ")
	}
	if len(h.Errors) > 0 {
		why += " (" + strings.Join(h.Errors, "; ") + ")"
	}
	return why
}
