package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/store"
)

// Register adds the order workers and their queues to the daemon's job client (use it as
// control.WorkerConfig.Configure). Their timeouts, attempts and retry delays are the job
// registry's (pool/jobs).
func (s *Service) Register(workers *river.Workers, queues map[string]river.QueueConfig) {
	river.AddWorker(workers, &deliverWorker{s: s})
	river.AddWorker(workers, &noticeWorker{s: s})
	river.AddWorker(workers, &claimPendingWorker{s: s})
	river.AddWorker(workers, &syncWorker{s: s})
	river.AddWorker(workers, &retireWorker{s: s})
	queues[jobs.QueueOrders] = river.QueueConfig{MaxWorkers: s.cfg.OrdersConcurrency}
	queues[jobs.QueueDelivery] = river.QueueConfig{MaxWorkers: s.cfg.DeliveryConcurrency}
}

// jobOrder loads a job's order; a job whose order does not exist is cancelled (retrying cannot
// make it appear).
func (s *Service) jobOrder(ctx context.Context, id string) (store.Order, error) {
	o, err := s.cfg.Store.GetOrder(ctx, id)
	if errors.Is(err, pool.ErrNotFound) {
		return o, river.JobCancel(err)
	}
	return o, err
}

type deliverWorker struct {
	jobs.WorkerDefaults[jobs.DeliverArgs]
	s *Service
}

// Work sends the credentials e-mail once: an e-mail whose dedupe key is recorded as sent is
// not sent again; after a successful send the key, the order and the account move to
// delivered together.
func (w *deliverWorker) Work(ctx context.Context, job *river.Job[jobs.DeliverArgs]) error {
	s := w.s
	key := credentialsKey(job.Args.OrderID, job.Args.Resend)
	// The order, every seat's account (one e-mail lists them all) and the sent check, in one read.
	o, as, sent, err := s.cfg.Store.Delivery(ctx, job.Args.OrderID, key)
	if errors.Is(err, pool.ErrNotFound) {
		return river.JobCancel(err) // retrying cannot make the order appear
	}
	if err != nil {
		return err
	}
	log := s.cfg.Log.With("order", o.ID, "tier", o.Tier, "account", o.AccountID, "attempt", job.Attempt)
	if o.AccountID == 0 || len(as) == 0 {
		return river.JobCancel(fmt.Errorf("order %s has no account", o.ID))
	}
	for _, a := range as {
		if a.State == pool.StateRetired || a.State == pool.StateFailed {
			log.Warn("credentials not sent: account is gone", "account", a.ID, "state", a.State)
			return river.JobCancel(fmt.Errorf("account %d is %s", a.ID, a.State))
		}
		if !a.RetireAt.IsZero() {
			log.Warn("credentials not sent: the operator retired the account", "account", a.ID, "destroy_after", a.RetireAt.Format(time.RFC3339))
			return river.JobCancel(fmt.Errorf("account %d is being retired", a.ID))
		}
	}
	if job.Args.Resend < o.Resends {
		// A later resend carries the order's current password: this e-mail would hand out (and
		// rotate the tenant back to) an older one.
		log.Info("credentials e-mail superseded by a resend", "resend", job.Args.Resend, "latest", o.Resends)
		return nil
	}
	if !sent {
		// No credential that sat in the pool, or went out in an earlier e-mail, stays valid:
		// each e-mail carries, for each of the order's accounts, the password of its own
		// dedupe key and that account, made once and recorded before the tenant is rotated
		// to it, so every retry and the re-send after a crash carry the same ones.
		for i := range as {
			if as[i], err = s.creds().Settle(ctx, key, o.ID, as[i]); err != nil {
				log.Warn("password rotation failed; will retry", "account", as[i].ID, "err", err)
				return err
			}
		}
		err := s.cfg.Mailer.Send(ctx, s.credentials(o, as, job.Args.Resend))
		if s.cfg.ObserveEmail != nil && (err != nil || job.Args.Resend == 0) {
			s.cfg.ObserveEmail(string(delivery.KindCredentials), s.cfg.Clock.Since(o.CreatedAt), err)
		}
		if err != nil {
			if delivery.IsPermanent(err) {
				log.Error("credentials e-mail refused for good; fix and resend", "err", err)
				_ = s.cfg.Store.SetOrderError(ctx, o.ID, err.Error())
				return river.JobCancel(err)
			}
			log.Warn("credentials e-mail failed; will retry", "err", err)
			return err
		}
	}
	if err := s.cfg.Store.RecordEmail(ctx, o.ID, key, true); err != nil {
		return err
	}
	if !sent {
		log.Info("credentials e-mail sent", "resend", job.Args.Resend)
	}
	return nil
}

// creds hands out the customer passwords of the service's e-mails.
func (s *Service) creds() control.Credentials {
	return control.Credentials{Store: s.cfg.Store, Tenants: s.cfg.Tenants}
}

// credentials is the e-mail of an order's accounts (as, by seat): one login as before, or, for
// several seats, every login listed.
func (s *Service) credentials(o store.Order, as []pool.Account, resend int) delivery.Message {
	a := as[0]
	m := delivery.Message{
		Kind: delivery.KindCredentials, OrderID: o.ID,
		CustomerName: o.CustomerName, CustomerEmail: o.CustomerEmail, Tier: o.Tier,
		LoginURL: loginURL(a.URL), Username: a.CustomerUser, Password: a.CustomerPassword,
		SupportContact: s.cfg.SupportContact, From: s.cfg.From,
	}
	m.Ref = resendRef(resend)
	if len(as) > 1 {
		for i, b := range as {
			m.Logins = append(m.Logins, delivery.Login{Seat: i + 1, LoginURL: loginURL(b.URL), Username: b.CustomerUser, Password: b.CustomerPassword})
		}
	}
	if t, err := s.cfg.Tiers.Get(o.Tier); err == nil {
		switch {
		case t.CustomDomains == 0:
			m.UpsellURL = s.cfg.UpsellURL // the upgrade checkout
		case s.cfg.DomainLink != nil && len(as) == 1:
			m.DomainURL = s.cfg.DomainLink(a) // the custom-domain page of the account
		}
	}
	return m
}

// resendRef is the Ref of an order's credentials e-mail: "" for the first, "resend-<n>" for the
// n-th resend.
func resendRef(resend int) string {
	if resend > 0 {
		return fmt.Sprintf("resend-%d", resend)
	}
	return ""
}

// credentialsKey is the dedupe key of an order's credentials e-mail (its first, or its n-th
// resend): the key of the Message that credentials builds, known before the order is read.
func credentialsKey(orderID string, resend int) string {
	return delivery.Message{Kind: delivery.KindCredentials, OrderID: orderID, Ref: resendRef(resend)}.DedupeKey()
}

func loginURL(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return base
	}
	return strings.TrimSuffix(u.String(), "/") + "/login"
}

type noticeWorker struct {
	jobs.WorkerDefaults[jobs.NoticeArgs]
	s *Service
}

// Work sends one payment-failed notice, once per invoice.
func (w *noticeWorker) Work(ctx context.Context, job *river.Job[jobs.NoticeArgs]) error {
	s, a := w.s, job.Args
	msg := delivery.Message{
		Kind: delivery.KindPaymentFailed, OrderID: a.OrderID, Ref: a.InvoiceID,
		CustomerName: a.Name, CustomerEmail: a.Email, Tier: a.Tier,
		SupportContact: s.cfg.SupportContact, BillingURL: s.cfg.BillingURL, From: s.cfg.From,
	}
	if a.BillingURL != "" {
		msg.BillingURL = a.BillingURL
	}
	key := msg.DedupeKey()
	if sent, err := s.cfg.Store.EmailSent(ctx, key); err != nil || sent {
		return err
	}
	if err := s.cfg.Mailer.Send(ctx, msg); err != nil {
		if delivery.IsPermanent(err) {
			s.cfg.Log.Error("payment-failed notice refused for good", "order", a.OrderID, "err", err)
			return river.JobCancel(err)
		}
		return err
	}
	return s.cfg.Store.RecordEmail(ctx, a.OrderID, key, false)
}

type claimPendingWorker struct {
	jobs.WorkerDefaults[jobs.ClaimPendingArgs]
	s *Service
}

// Work claims a ready account for a pending order, or snoozes until one is ready. An order held
// because its price was not mapped is looked at again (its line items re-read from Stripe) with
// the current price map.
func (w *claimPendingWorker) Work(ctx context.Context, job *river.Job[jobs.ClaimPendingArgs]) error {
	s := w.s
	o, err := s.jobOrder(ctx, job.Args.OrderID)
	if err != nil {
		return err
	}
	log := s.cfg.Log.With("order", o.ID)
	if o.State == store.OrderHeld {
		tier, seats, err := s.recheckHeld(ctx, o, log)
		if err != nil || tier == "" {
			return err
		}
		if err := s.cfg.Store.ReleaseHeld(ctx, o.ID, tier, seats, s.cfg.Prefix); errors.Is(err, pool.ErrIllegalTransition) {
			return river.JobSnooze(time.Second) // released meanwhile (the operator): claim it as it is now
		} else if err != nil {
			return err
		}
		o.Tier, o.Seats = tier, seats
		log.Info("held order now matches a tier; on-demand account provisioning", "tier", tier)
	} else if o.State != store.OrderPending {
		return nil
	}
	got, created, err := s.cfg.Store.ClaimOrder(ctx, o, "", "", claimJobs(o)...)
	if errors.Is(err, pool.ErrPoolEmpty) {
		s.cfg.Trigger()
		return river.JobSnooze(s.cfg.PendingRetry)
	}
	if err != nil {
		return err
	}
	if created {
		s.cfg.Trigger()
		log.Info("pending order claimed an account", "tier", o.Tier, "account", got.AccountID)
	}
	return nil
}

// recheckHeld judges a held order again: its tier and seats, or "" (and a snooze) while it
// stays held.
func (s *Service) recheckHeld(ctx context.Context, o store.Order, log *slog.Logger) (string, int, error) {
	paid, err := s.fetchSession(ctx, o.ID)
	if err != nil {
		if errors.Is(err, errStripeRejected) {
			_ = s.cfg.Store.SetOrderError(ctx, o.ID, err.Error())
			return "", 0, nil // the operator's now
		}
		return "", 0, err
	}
	v := s.judge(paid, hintsOfKeys(o.TierKeys))
	switch {
	case v.Ignore != "":
		v.Hold = v.Ignore
	case v.Hold == "":
		return v.Tier, v.Seats, nil
	}
	if v.Hold != o.LastError {
		if err := s.cfg.Store.SetOrderError(ctx, o.ID, v.Hold); err != nil {
			return "", 0, err
		}
	}
	if !v.Retry {
		log.Error("paid order held for the operator", "reason", v.Hold)
		return "", 0, nil
	}
	log.Error("paid order still held: its price is not mapped to a tier", "reason", v.Hold)
	return "", 0, river.JobSnooze(s.cfg.HeldRetry)
}

type syncWorker struct {
	jobs.WorkerDefaults[jobs.SyncArgs]
	s *Service
}

// Work brings an order's tenant in line with what it paid for (wanted): it suspends it (and
// schedules its teardown after the grace period) when the order ended or its subscription
// stopped paying, resumes it when the subscription is live again, and comes back at the
// deadline it waits for (a past_due grace, a one-time payment's term). An order not yet
// delivered waits.
func (w *syncWorker) Work(ctx context.Context, job *river.Job[jobs.SyncArgs]) error {
	s := w.s
	o, err := s.jobOrder(ctx, job.Args.OrderID)
	if err != nil {
		return err
	}
	act, why, wake, err := s.wanted(ctx, o)
	if err != nil {
		return err
	}
	log := s.cfg.Log.With("order", o.ID, "tier", o.Tier, "account", o.AccountID, "subscription", o.SubscriptionID)
	switch act {
	case actSuspend:
		if o.State != store.OrderDelivered {
			return river.JobSnooze(s.cfg.PendingRetry) // credentials first, then suspension
		}
		as, err := s.cfg.Store.OrderAccounts(ctx, o.ID)
		if err != nil {
			return err
		}
		live := 0
		for _, a := range as {
			if a.State != pool.StateDelivered && a.State != pool.StateSuspended {
				continue // retired already, or never delivered
			}
			live++
			if err := s.cfg.Tenants.Suspend(ctx, a); err != nil {
				return fmt.Errorf("suspend %s: %w", a.Slug, err)
			}
		}
		if live == 0 {
			return nil
		}
		at, err := s.cfg.Store.SuspendOrder(ctx, o.ID, s.cfg.Grace)
		if err != nil {
			return err
		}
		if o.SuspendedAt.IsZero() {
			log.Info("tenant suspended", "why", why, "accounts", live, "destroy_after", at.Add(s.cfg.Grace).Format(time.RFC3339))
		}
		return nil
	case actResume:
		if o.AccountID != 0 && !o.SuspendedAt.IsZero() {
			if err := s.resume(ctx, o, log); err != nil {
				return err
			}
		}
	}
	if !wake.IsZero() {
		return river.JobSnooze(max(wake.Sub(s.cfg.Clock.Now()), time.Second))
	}
	return nil
}

// resume starts the suspended tenants of an order again (not those the operator retired, nor
// those whose grace is over) and clears the order's suspension.
func (s *Service) resume(ctx context.Context, o store.Order, log *slog.Logger) error {
	as, err := s.cfg.Store.OrderAccounts(ctx, o.ID)
	if err != nil {
		return err
	}
	resumed := 0
	for _, a := range as {
		switch {
		case a.State != pool.StateSuspended:
			// retired: the grace period is over
		case !a.RetireAt.IsZero():
			log.Warn("subscription active again, but the operator retired the account: it stays suspended", "account", a.Slug, "destroy_after", a.RetireAt.Format(time.RFC3339))
		default:
			if err := s.cfg.Tenants.Resume(ctx, a); err != nil {
				return fmt.Errorf("resume %s: %w", a.Slug, err)
			}
			resumed++
		}
	}
	if resumed == 0 {
		return nil
	}
	if err := s.cfg.Store.ResumeOrder(ctx, o.ID); err != nil {
		return err
	}
	log.Info("subscription active again: tenant resumed", "accounts", resumed)
	return nil
}

type action int

const (
	actNone action = iota
	actSuspend
	actResume
)

// wanted decides what an order's tenant should be now: suspended (why says why), running, or
// left as it is; wake is a deadline to look again at (past_due grace, payment term).
func (s *Service) wanted(ctx context.Context, o store.Order) (act action, why string, wake time.Time, err error) {
	now := s.cfg.Clock.Now()
	if o.Ended != "" {
		return actSuspend, o.Ended, time.Time{}, nil
	}
	if !o.TermEndsAt.IsZero() {
		if !now.Before(o.TermEndsAt) {
			return actSuspend, "one-time payment's term is over", time.Time{}, nil
		}
		wake = o.TermEndsAt
	}
	if o.SubscriptionID == "" {
		return actNone, "", wake, nil
	}
	status, since, err := s.cfg.Store.SubscriptionState(ctx, o.SubscriptionID)
	if err != nil {
		return actNone, "", time.Time{}, err
	}
	switch status {
	case statusCanceled, "unpaid", "paused", "incomplete_expired":
		return actSuspend, "subscription " + status, time.Time{}, nil
	case "past_due":
		end := since.Add(s.cfg.PastDueGrace)
		if !now.Before(end) {
			return actSuspend, "subscription past_due beyond its grace", time.Time{}, nil
		}
		return actResume, "", end, nil
	case "active", "trialing":
		return actResume, "", wake, nil
	}
	return actNone, "", wake, nil
}

type retireWorker struct {
	jobs.WorkerDefaults[jobs.RetireArgs]
	s *Service
}

// Work retires (and so destroys, through the pool's teardown job) a tenant still suspended by
// the suspension this job was scheduled for.
func (w *retireWorker) Work(ctx context.Context, job *river.Job[jobs.RetireArgs]) error {
	s := w.s
	o, err := s.jobOrder(ctx, job.Args.OrderID)
	if err != nil {
		return err
	}
	if o.SuspendedAt.UnixMilli() != job.Args.SuspendedAt {
		return nil // resumed, or suspended again later (that suspension has its own job)
	}
	as, err := s.cfg.Store.OrderAccounts(ctx, o.ID)
	if err != nil {
		return err
	}
	for _, a := range as {
		if a.State != pool.StateSuspended {
			continue
		}
		if _, err := s.cfg.Store.Retire(ctx, a.ID); err != nil && !errors.Is(err, pool.ErrIllegalTransition) {
			return err
		}
		s.cfg.Log.Info("grace period over: suspended tenant retired", "order", o.ID, "account", a.Slug)
	}
	return nil
}
