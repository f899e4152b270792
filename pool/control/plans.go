package control

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/store"
)

// PlanStore is what the plan change workers need from storage (package store implements it).
type PlanStore interface {
	Get(ctx context.Context, id int64) (pool.Account, error)
	PlanChange(ctx context.Context, id int64) (pool.PlanChange, error)
	FinishPlanChange(ctx context.Context, id int64, state pool.PlanState, generation, reason string) error
	AddEvent(ctx context.Context, id int64, kind pool.EventKind, detail string) error
	GetOrder(ctx context.Context, id string) (store.Order, error)
	EmailSent(ctx context.Context, dedupeKey string) (bool, error)
	RecordEmail(ctx context.Context, orderID, dedupeKey string, markDelivered bool) error
}

var _ PlanStore = (*store.Store)(nil)

// DomainDetacher is the custom domains feature as plan changes see it: which of an account's
// attached custom domains lie beyond an allowance (the newest ones first to go), and detaching
// one. NoDomains is the default when the daemon has no custom domains: nothing to detach.
type DomainDetacher interface {
	Excess(ctx context.Context, accountID int64, allowance int) ([]string, error)
	Detach(ctx context.Context, accountID int64, domain string) error
}

// NoDomains is the DomainDetacher of a daemon without custom domains.
type NoDomains struct{}

// Excess implements DomainDetacher: there are none.
func (NoDomains) Excess(context.Context, int64, int) ([]string, error) { return nil, nil }

// Detach implements DomainDetacher: there is nothing to detach.
func (NoDomains) Detach(context.Context, int64, string) error { return nil }

// Mailer sends one e-mail, one attempt (delivery.Sender implements it).
type Mailer interface {
	Send(ctx context.Context, msg delivery.Message) error
}

// PlanConfig configures the plan change workers (WorkerConfig.Plans).
type PlanConfig struct {
	Store PlanStore
	// Domains lists and detaches custom domains beyond an allowance; nil: NoDomains.
	Domains DomainDetacher
	// Mailer sends downgrade notices; nil: no notice is e-mailed (the account's history says so)
	// and the excess domains are still detached after the notice period.
	Mailer         Mailer
	From           string
	SupportContact string
	BillingURL     string
}

// PlanApplyWorker re-applies the stack of an account whose tier changed (store.ChangePlan): the
// same stack on the same host and data volume, with the new tier's memory, CPUs, limits and
// branding, then records the generation the tenant runs.
type PlanApplyWorker struct {
	jobs.WorkerDefaults[jobs.PlanApplyArgs]
	cfg WorkerConfig
}

// Work applies one plan change. A change already finished or replaced is left alone; a tenant
// that does not run (suspended) waits for its next start, which re-applies the account's tier.
func (w *PlanApplyWorker) Work(ctx context.Context, job *river.Job[jobs.PlanApplyArgs]) error {
	st := w.cfg.Plans.Store
	c, a, err := planJob(ctx, st, job.Args.ChangeID)
	if err != nil || c.State != pool.PlanApplying {
		return err
	}
	log := w.cfg.Log.With("account", a.Slug, "tier", c.ToTier, "from", c.FromTier, "change", c.ID, "attempt", job.Attempt)
	switch {
	case a.Tier != c.ToTier:
		return st.FinishPlanChange(ctx, c.ID, pool.PlanSuperseded, "", "the account's tier changed again to "+a.Tier)
	case a.State == pool.StateSuspended:
		log.Info("plan change waits: the tenant is suspended; its next start runs the new tier")
		return st.FinishPlanChange(ctx, c.ID, pool.PlanWaiting, "", "the tenant is suspended: its next start runs the new tier")
	case a.State != pool.StateClaimed && a.State != pool.StateDelivered:
		return st.FinishPlanChange(ctx, c.ID, pool.PlanSuperseded, "", "the account is "+string(a.State))
	}
	tier, err := w.cfg.Tiers.Get(a.Tier)
	if err != nil {
		return errors.Join(st.FinishPlanChange(ctx, c.ID, pool.PlanFailed, "", err.Error()), river.JobCancel(err))
	}
	if err := w.cfg.Tenants.Reapply(ctx, a); err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return err // shutdown: retried after the restart
		}
		final := pool.IsPermanent(err) || job.Attempt >= min(job.MaxAttempts, w.cfg.Registry.Of(job.Kind).MaxAttempts)
		if !final {
			log.Warn("plan change re-apply failed; will retry", "err", err)
			return err
		}
		log.Error("plan change re-apply failed for good: the account has the new tier, its tenant does not yet; re-apply it once the cause is fixed", "err", err)
		return errors.Join(st.FinishPlanChange(ctx, c.ID, pool.PlanFailed, "", err.Error()), river.JobCancel(err))
	}
	gen := w.cfg.Tenants.Build(tier).Generation
	if err := st.FinishPlanChange(ctx, c.ID, pool.PlanApplied, gen, ""); err != nil {
		return err
	}
	log.Info("plan change applied: stack re-applied on the same volume", "generation", gen)
	return nil
}

// PlanNoticeWorker e-mails the customer of a downgrade the custom domains beyond the new
// allowance and when they go.
type PlanNoticeWorker struct {
	jobs.WorkerDefaults[jobs.PlanNoticeArgs]
	cfg WorkerConfig
}

// Work sends one notice per plan change (its dedupe key is recorded once the SMTP server took
// it). Nothing beyond the allowance: nothing to tell.
func (w *PlanNoticeWorker) Work(ctx context.Context, job *river.Job[jobs.PlanNoticeArgs]) error {
	pc := w.cfg.Plans
	c, a, err := planJob(ctx, pc.Store, job.Args.ChangeID)
	if err != nil {
		return err
	}
	log := w.cfg.Log.With("account", a.Slug, "tier", a.Tier, "change", c.ID)
	excess, err := w.excess(ctx, a)
	if err != nil || len(excess) == 0 {
		return err
	}
	orderID := orderOf(a)
	var o store.Order
	if orderID != "" {
		if o, err = pc.Store.GetOrder(ctx, orderID); err != nil && !errors.Is(err, pool.ErrNotFound) {
			return err
		}
	}
	why := ""
	switch {
	case pc.Mailer == nil:
		why = "no SMTP server is configured"
	case o.CustomerEmail == "":
		why = "no customer e-mail is on record (a manual sale)"
	}
	if why != "" {
		log.Warn("downgrade notice not e-mailed; tell the customer yourself", "reason", why, "domains", excess)
		return pc.Store.AddEvent(ctx, a.ID, pool.EventDowngradeNotice, fmt.Sprintf("not e-mailed: %s; %s detached after %s",
			why, strings.Join(excess, ", "), c.DetachAt.UTC().Format(time.RFC3339)))
	}
	msg := delivery.Message{Kind: delivery.KindDowngradeNotice, OrderID: o.ID, Ref: "plan-" + strconv.FormatInt(c.ID, 10),
		CustomerName: o.CustomerName, CustomerEmail: o.CustomerEmail, Tier: a.Tier, Domains: excess, DetachAt: c.DetachAt,
		SupportContact: pc.SupportContact, BillingURL: pc.BillingURL, From: pc.From}
	key := msg.DedupeKey()
	if sent, err := pc.Store.EmailSent(ctx, key); err != nil || sent {
		return err
	}
	if err := pc.Mailer.Send(ctx, msg); err != nil {
		if delivery.IsPermanent(err) {
			log.Error("downgrade notice refused for good", "err", err)
			return errors.Join(pc.Store.AddEvent(ctx, a.ID, pool.EventDowngradeNotice, "refused by the mail server: "+err.Error()), river.JobCancel(err))
		}
		log.Warn("downgrade notice failed; will retry", "err", err)
		return err
	}
	if err := pc.Store.RecordEmail(ctx, o.ID, key, false); err != nil {
		return err
	}
	log.Info("downgrade notice sent", "domains", excess)
	return pc.Store.AddEvent(ctx, a.ID, pool.EventDowngradeNotice, fmt.Sprintf("e-mailed to the customer: %s detached after %s",
		strings.Join(excess, ", "), c.DetachAt.UTC().Format(time.RFC3339)))
}

// PlanDetachWorker detaches, once a downgrade's notice period is over, the custom domains
// beyond the allowance of the account's tier then (an upgrade meanwhile keeps them).
type PlanDetachWorker struct {
	jobs.WorkerDefaults[jobs.PlanDetachArgs]
	cfg WorkerConfig
}

// Work detaches the excess domains; Detach is idempotent, so retries are safe.
func (w *PlanDetachWorker) Work(ctx context.Context, job *river.Job[jobs.PlanDetachArgs]) error {
	pc := w.cfg.Plans
	c, a, err := planJob(ctx, pc.Store, job.Args.ChangeID)
	if err != nil {
		return err
	}
	if a.State == pool.StateRetired {
		return nil // its teardown takes everything
	}
	excess, err := w.excess(ctx, a)
	if err != nil || len(excess) == 0 {
		return err
	}
	for _, d := range excess {
		if err := w.domains().Detach(ctx, a.ID, d); err != nil {
			w.cfg.Log.Warn("detaching a custom domain failed; will retry", "account", a.Slug, "domain", d, "err", err)
			return err
		}
	}
	w.cfg.Log.Info("custom domains beyond the plan's allowance detached", "account", a.Slug, "tier", a.Tier, "change", c.ID, "domains", excess)
	return pc.Store.AddEvent(ctx, a.ID, pool.EventDomainsDetached, fmt.Sprintf("beyond the %s plan's allowance: %s", a.Tier, strings.Join(excess, ", ")))
}

func (w *PlanNoticeWorker) excess(ctx context.Context, a pool.Account) ([]string, error) {
	return excessDomains(ctx, w.cfg, a)
}

func (w *PlanDetachWorker) excess(ctx context.Context, a pool.Account) ([]string, error) {
	return excessDomains(ctx, w.cfg, a)
}

func (w *PlanDetachWorker) domains() DomainDetacher { return detacher(w.cfg) }

func detacher(cfg WorkerConfig) DomainDetacher {
	if cfg.Plans == nil || cfg.Plans.Domains == nil {
		return NoDomains{}
	}
	return cfg.Plans.Domains
}

// excessDomains lists the account's custom domains beyond its current tier's allowance.
func excessDomains(ctx context.Context, cfg WorkerConfig, a pool.Account) ([]string, error) {
	t, err := cfg.Tiers.Get(a.Tier)
	if err != nil {
		return nil, river.JobCancel(err)
	}
	ds, err := detacher(cfg).Excess(ctx, a.ID, t.CustomDomains)
	if err != nil {
		return nil, fmt.Errorf("custom domains of %s: %w", a.Slug, err)
	}
	return ds, nil
}

// planJob loads a plan job's change and account; a job whose change does not exist is
// cancelled.
func planJob(ctx context.Context, st PlanStore, id int64) (pool.PlanChange, pool.Account, error) {
	c, err := st.PlanChange(ctx, id)
	if errors.Is(err, pool.ErrNotFound) {
		return c, pool.Account{}, river.JobCancel(err)
	}
	if err != nil {
		return c, pool.Account{}, err
	}
	a, err := st.Get(ctx, c.AccountID)
	if errors.Is(err, pool.ErrNotFound) {
		return c, a, river.JobCancel(err)
	}
	return c, a, err
}

// orderOf is the order an account was sold by: its claim key without the seat ("<order>#<n>"),
// "" for none or a manual claim.
func orderOf(a pool.Account) string {
	id, _, _ := strings.Cut(a.OrderID, "#")
	if strings.HasPrefix(id, store.ManualOrderPrefix) {
		return ""
	}
	return id
}
