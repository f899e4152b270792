// Package orders turns paid Stripe Checkout Sessions into delivered accounts, and follows their
// subscriptions through suspension, resumption and teardown.
//
// The webhook handler ([Service.Handler], POST /webhooks/stripe) verifies Stripe's signature
// (several secrets while one rolls), then, for a paid session, claims a ready account of the
// session's tier and enqueues its credentials e-mail in the claim's transaction. When the tier's
// pool is empty the order is stored pending in one transaction with an on-demand account and a
// job that claims the order once an account is ready. Everything after that runs as durable river
// jobs registered on the daemon's job client ([Service.Register]): delivery with backoff, the
// claim of pending orders, suspension and resumption of tenants, their teardown after the grace
// period, and payment-failed notices.
//
// Idempotency: every applied Stripe event id is stored with its effect; an order is keyed by its
// Checkout Session id, which is also the claim's idempotency key; a delivery job is unique per
// order, and the dedupe key of every e-mail the SMTP server accepted is stored, so replays,
// retries over days and restarts send one credentials e-mail per order. One window remains
// (SMTP accepted the e-mail, the process died before recording it): the retry sends it again
// with the same Message-ID, which mail clients collapse.
package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/coder/quartz"
	"github.com/stripe/stripe-go/v82"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/store"
)

// Store is what the orders need from storage (package store implements it). Whatever must
// commit with a row change (a delivery with its claim, a sync with a status) is passed to it as
// job values, so a fake can stand in for it.
type Store interface {
	Get(ctx context.Context, id int64) (pool.Account, error)
	Retire(ctx context.Context, id int64) (pool.Account, error)
	GetOrder(ctx context.Context, id string) (store.Order, error)
	EventSeen(ctx context.Context, eventID string) (bool, error)
	ClaimOrder(ctx context.Context, o store.Order, eventID, eventType string, then ...jobs.Job) (store.Order, bool, error)
	AddPendingOrder(ctx context.Context, o store.Order, eventID, eventType, prefix string, then ...jobs.Job) (bool, error)
	ReleaseHeld(ctx context.Context, orderID, tier string, seats int, prefix string, then ...jobs.Job) error
	OrderAccounts(ctx context.Context, orderID string) ([]pool.Account, error)
	SetOrderError(ctx context.Context, orderID, reason string) error
	SetSubscriptionStatus(ctx context.Context, eventID, eventType, subscriptionID, status string, at time.Time) (newest bool, synced int, err error)
	QueuePaymentNotice(ctx context.Context, eventID, eventType, subscriptionID string, notice jobs.NoticeArgs) (bool, error)
	SubscriptionState(ctx context.Context, subscriptionID string) (string, time.Time, error)
	EndOrder(ctx context.Context, eventID, eventType, paymentIntent, customer, reason string) (string, error)
	EmailSent(ctx context.Context, dedupeKey string) (bool, error)
	Delivery(ctx context.Context, orderID, dedupeKey string) (store.Order, []pool.Account, bool, error)
	RecordEmail(ctx context.Context, orderID, dedupeKey string, markDelivered bool) error
	SuspendOrder(ctx context.Context, orderID string, grace time.Duration) (time.Time, error)
	ResumeOrder(ctx context.Context, orderID string) error
	BumpResends(ctx context.Context, orderID string) (int, error)
	SetCustomerPassword(ctx context.Context, id int64, password string) error
	DeliveryPassword(ctx context.Context, key, orderID string, accountID int64) (string, error)
	ChangeSubscriptionPlan(ctx context.Context, eventID, eventType, subscriptionID string, req store.PlanRequest) ([]pool.PlanChange, error)
}

var _ Store = (*store.Store)(nil)

// Mailer sends one e-mail, one attempt (delivery.Sender implements it).
type Mailer interface {
	Send(ctx context.Context, msg delivery.Message) error
}

// Config configures a Service.
type Config struct {
	Store  Store
	Tiers  pool.Tiers
	Mailer Mailer
	// Prefix is the slug prefix of on-demand accounts (the reconciler's prefix).
	Prefix string
	// Secrets are the webhook signing secrets (whsec_…); an event signed with any of them is
	// accepted, so a secret can roll without downtime.
	Secrets []string
	// Prices maps a Stripe price id or payment link id to a tier name. Tiers' own prices
	// (Tier.PriceIDs) are added. A session's tier is the tier of the price it paid (its line
	// items, read from the Stripe API); its metadata "tier" and "price_id" are hints that must
	// agree, or the order is held.
	Prices map[string]string
	// Stripe is the Stripe API client the line items of a paid session are read with
	// (NewStripeClient).
	Stripe *stripe.Client
	// Livemode is the mode this endpoint sells in: events of the other mode are acknowledged and
	// ignored.
	Livemode bool
	// MaxSeats bounds the quantity one order may claim (default 50); more is held.
	MaxSeats int
	// Tenants suspends, resumes and rotates the customer password of sold tenants.
	Tenants pool.Tenants
	// Trigger asks the reconciler for a pass (after a claim, or when a pool ran dry). Optional.
	Trigger func()
	// Grace is how long a suspended tenant is kept before it is destroyed (default 30 days).
	Grace time.Duration
	// PastDueGrace is how long the tenant of a past_due subscription keeps running before it is
	// suspended (default 7 days; Stripe's own retries usually settle it sooner).
	PastDueGrace time.Duration
	// PaymentTerm is how long a one-time payment (Checkout mode=payment) keeps its tenant
	// running (default 30 days); then it is suspended.
	PaymentTerm time.Duration
	// DowngradeNotice is how long the customer of a plan downgrade keeps the custom domains
	// beyond the new tier's allowance (default 72h).
	DowngradeNotice time.Duration
	// Tolerance is the signature timestamp tolerance (default 300s).
	Tolerance time.Duration
	// MaxBody caps a webhook body (default 1 MiB).
	MaxBody int64
	// PendingRetry is how often a pending order looks for a ready account (default 5s).
	PendingRetry time.Duration
	// HeldRetry is how often an order held because its price is not mapped looks again
	// (default 1m).
	HeldRetry time.Duration
	// OrdersConcurrency and DeliveryConcurrency bound the workers of each queue (default 4 and
	// 32: a queue takes at most its free workers per 50 ms fetch, so 4 e-mail workers capped a
	// burst of paid orders at 80 e-mails/s; see BENCHMARKS.md).
	OrdersConcurrency, DeliveryConcurrency int

	// E-mail content.
	From           string // sender address; "" = the Mailer's default
	SupportContact string
	UpsellURL      string // shown in credentials e-mails of tiers without custom domains
	// DomainLink, if set, is the account's custom-domain page (a signed link), shown in the
	// credentials e-mails of tiers with custom domains (one seat).
	DomainLink func(a pool.Account) string
	BillingURL string // payment-failed notices; the invoice's own page wins

	// ObserveEmail, if set, is told about every credentials e-mail attempt: its kind, the time
	// since the order arrived, and its error (metrics).
	ObserveEmail func(kind string, sincePaid time.Duration, err error)

	Log   *slog.Logger
	Clock quartz.Clock
}

// Service handles Stripe webhooks and runs the order jobs.
type Service struct {
	cfg    Config
	prices map[string]string
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("orders: a store is required")
	case len(cfg.Tiers) == 0:
		return nil, errors.New("orders: tiers are required")
	case cfg.Mailer == nil:
		return nil, errors.New("orders: a mailer is required")
	case cfg.Tenants == nil:
		return nil, errors.New("orders: tenants are required")
	case cfg.Stripe == nil:
		return nil, errors.New("orders: a Stripe API client is required (the line items of a paid session are read from the API)")
	}
	if err := pool.ValidatePrefix(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("orders: %w", err)
	}
	var secrets []string
	for _, s := range cfg.Secrets {
		if s = strings.TrimSpace(s); s != "" {
			secrets = append(secrets, s)
		}
	}
	if len(secrets) == 0 {
		return nil, errors.New("orders: at least one webhook signing secret is required")
	}
	cfg.Secrets = secrets
	prices := map[string]string{}
	for _, t := range cfg.Tiers {
		for _, id := range t.PriceIDs() {
			prices[id] = t.Name
		}
	}
	for k, tier := range cfg.Prices {
		if _, err := cfg.Tiers.Get(tier); err != nil {
			return nil, fmt.Errorf("orders: price %s: %w", k, err)
		}
		prices[k] = tier
	}
	if cfg.MaxSeats <= 0 {
		cfg.MaxSeats = 50
	}
	if cfg.PastDueGrace <= 0 {
		cfg.PastDueGrace = 7 * 24 * time.Hour
	}
	if cfg.PaymentTerm <= 0 {
		cfg.PaymentTerm = 30 * 24 * time.Hour
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 30 * 24 * time.Hour
	}
	if cfg.DowngradeNotice <= 0 {
		cfg.DowngradeNotice = pool.DefaultDowngradeNotice
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = 300 * time.Second
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.PendingRetry <= 0 {
		cfg.PendingRetry = 5 * time.Second
	}
	if cfg.HeldRetry <= 0 {
		cfg.HeldRetry = time.Minute
	}
	if cfg.OrdersConcurrency <= 0 {
		cfg.OrdersConcurrency = 4
	}
	if cfg.DeliveryConcurrency <= 0 {
		cfg.DeliveryConcurrency = 32
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = quartz.NewReal()
	}
	if cfg.Trigger == nil {
		cfg.Trigger = func() {}
	}
	return &Service{cfg: cfg, prices: prices}, nil
}

// ParsePrices parses "price_123=basic,plink_456=premium" (commas or newlines) into a price map.
func ParsePrices(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == ';' }) {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("price map entry %q: want <price or payment link id>=<tier>", f)
		}
		if prev, dup := out[k]; dup && prev != v {
			return nil, fmt.Errorf("price map: %s maps to both %s and %s", k, prev, v)
		}
		out[k] = v
	}
	return out, nil
}
