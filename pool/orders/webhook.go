package orders

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/store"
)

// The Stripe event types the service acts on; every other type is acknowledged and ignored.
const (
	EventCheckoutCompleted     = "checkout.session.completed"
	EventAsyncPaymentSucceeded = "checkout.session.async_payment_succeeded"
	EventSubscriptionDeleted   = "customer.subscription.deleted"
	EventSubscriptionUpdated   = "customer.subscription.updated"
	EventSubscriptionCreated   = "customer.subscription.created"
	EventSubscriptionResumed   = "customer.subscription.resumed"
	EventSubscriptionPaused    = "customer.subscription.paused"
	EventInvoicePaymentFailed  = "invoice.payment_failed"
	EventChargeRefunded        = "charge.refunded"
	EventDisputeClosed         = "charge.dispute.closed"
)

const (
	statusCanceled  = "canceled"
	webhookPath     = "/webhooks/stripe"
	headerSignature = "Stripe-Signature"
	maxIDLen        = 255
)

// errBadRequest marks a webhook that is invalid as sent: Stripe gets a 4xx, nothing changes.
var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// Handler returns the handler of POST /webhooks/stripe. It answers 2xx once the event's
// effect is committed (or the event is a replay, or of a type that needs nothing), 4xx for a
// request that is invalid as sent (no state change), 5xx when storage failed (Stripe retries).
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+webhookPath, s.serveWebhook)
	return mux
}

// Path is the route of the webhook handler.
const Path = webhookPath

func (s *Service) serveWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	ev, err := s.verify(body, r.Header.Get(headerSignature))
	if err != nil {
		s.cfg.Log.Warn("stripe webhook rejected", "err", err, "remote", r.RemoteAddr)
		http.Error(w, "invalid signature or payload", http.StatusBadRequest)
		return
	}
	log := s.cfg.Log.With("event", ev.ID, "type", string(ev.Type))
	outcome, err := s.apply(r.Context(), ev, log)
	switch {
	case errors.Is(err, errBadRequest):
		log.Warn("stripe event rejected", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
	case err != nil:
		log.Error("stripe event failed; Stripe will retry it", "err", err)
		http.Error(w, "temporary failure", http.StatusInternalServerError)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "{\"received\":true,\"outcome\":%q}\n", outcome)
	}
}

// verify checks the signature with every configured secret (rolling secrets) and parses the
// event. The secrets never appear in an error.
func (s *Service) verify(body []byte, header string) (stripe.Event, error) {
	opts := webhook.ConstructEventOptions{
		Tolerance: s.cfg.Tolerance,
		// The service reads a handful of long-stable fields with its own decoder, so an
		// endpoint pinned to another API version is fine.
		IgnoreAPIVersionMismatch: true,
	}
	var err error
	for _, secret := range s.cfg.Secrets {
		var ev stripe.Event
		ev, err = webhook.ConstructEventWithOptions(body, header, secret, opts)
		if err == nil {
			if ev.ID == "" || ev.Type == "" || ev.Data == nil || len(ev.Data.Raw) == 0 {
				return ev, errors.New("event without id, type or object")
			}
			return ev, nil
		}
		if !errors.Is(err, webhook.ErrNoValidSignature) {
			return ev, err // the same for every secret: header malformed, too old, bad JSON
		}
	}
	return stripe.Event{}, err
}

// apply dispatches one verified event and returns a short outcome for the response.
func (s *Service) apply(ctx context.Context, ev stripe.Event, log *slog.Logger) (string, error) {
	if len(ev.ID) > maxIDLen {
		return "", badRequest("event id too long")
	}
	// Acknowledged (2xx) so that Stripe does not redeliver them for days, and never applied.
	if ev.Account != "" {
		log.Warn("stripe event of a Connect account ignored: this endpoint sells from the platform account only", "account", ev.Account)
		return "ignored: connect account", nil
	}
	if ev.Livemode != s.cfg.Livemode {
		log.Warn("stripe event of the other mode ignored: check the endpoint's mode and POOL_STRIPE_API_KEY / POOL_STRIPE_LIVEMODE",
			"event_livemode", ev.Livemode, "configured_livemode", s.cfg.Livemode)
		return "ignored: livemode mismatch", nil
	}
	switch ev.Type {
	case EventCheckoutCompleted, EventAsyncPaymentSucceeded:
		var cs checkoutSession
		if err := decode(ev.Data.Raw, &cs); err != nil {
			return "", err
		}
		switch cs.PaymentStatus {
		case "paid", "no_payment_required":
		default:
			// Paid later by an async method: async_payment_succeeded fulfils it.
			return "awaiting payment", nil
		}
		return s.fulfil(ctx, ev, cs, log)
	case EventSubscriptionDeleted, EventSubscriptionUpdated, EventSubscriptionCreated, EventSubscriptionResumed, EventSubscriptionPaused:
		var sub subscription
		if err := decode(ev.Data.Raw, &sub); err != nil {
			return "", err
		}
		return s.subscriptionChanged(ctx, ev, sub, log)
	case EventInvoicePaymentFailed:
		var inv invoice
		if err := decode(ev.Data.Raw, &inv); err != nil {
			return "", err
		}
		return s.paymentFailed(ctx, ev, inv, log)
	case EventChargeRefunded:
		var ch charge
		if err := decode(ev.Data.Raw, &ch); err != nil {
			return "", err
		}
		if ch.ID == "" || len(ch.ID) > maxIDLen {
			return "", badRequest("charge without a valid id")
		}
		if !ch.Refunded {
			return "partial refund", nil // the service continues; the operator decides
		}
		return s.endOrder(ctx, ev, string(ch.PaymentIntent), string(ch.Customer), "refunded (charge "+ch.ID+")", log)
	case EventDisputeClosed:
		var d dispute
		if err := decode(ev.Data.Raw, &d); err != nil {
			return "", err
		}
		if d.ID == "" || len(d.ID) > maxIDLen || !validStripeID(string(d.Charge)) {
			return "", badRequest("dispute without a valid id or charge")
		}
		if d.Status != "lost" {
			return "dispute " + d.Status, nil
		}
		customer, err := s.chargeCustomer(ctx, string(d.Charge))
		if err != nil {
			return "", err
		}
		return s.endOrder(ctx, ev, string(d.PaymentIntent), customer, "dispute lost ("+d.ID+")", log)
	}
	return "ignored", nil
}

func decode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		return badRequest("event object: %v", err)
	}
	return nil
}

// fulfil claims an account for a paid session and enqueues its e-mail in the same
// transaction; with an empty pool it stores the order pending with an on-demand account. What the
// session bought is learnt from the Stripe API (its line items), never from its metadata; a
// session that is not ours is acknowledged and ignored, one that does not add up is held.
func (s *Service) fulfil(ctx context.Context, ev stripe.Event, cs checkoutSession, log *slog.Logger) (string, error) {
	if cs.ID == "" || len(cs.ID) > maxIDLen || !validStripeID(cs.ID) {
		return "", badRequest("checkout session without a valid id")
	}
	for k, v := range cs.Metadata {
		if len(k) > maxIDLen || len(v) > 500 {
			return "", badRequest("checkout session %s: metadata too long", cs.ID)
		}
	}
	log = log.With("order", cs.ID)
	if seen, err := s.cfg.Store.EventSeen(ctx, ev.ID); err != nil {
		return "", err
	} else if seen {
		return "duplicate event", nil
	}
	paid, err := s.fetchSession(ctx, cs.ID)
	if err != nil && !errors.Is(err, errStripeRejected) {
		return "", fmt.Errorf("line items: %w", err) // transient: 5xx, Stripe redelivers
	}
	o := s.orderFromSession(cs)
	var v verdict
	if err != nil {
		v = verdict{Hold: err.Error()}
	} else {
		v = s.judge(paid, hintsOf(cs))
	}
	if v.Ignore != "" {
		log.Info("checkout session ignored", "reason", v.Ignore)
		return "ignored", nil
	}
	if v.Hold == "" && !usableEmail(o.CustomerEmail) {
		v = verdict{Hold: "no usable customer e-mail"}
	}
	if v.Hold != "" {
		return s.hold(ctx, ev, o, v, log)
	}
	o.Tier, o.Seats = v.Tier, v.Seats
	log = log.With("tier", o.Tier, "seats", o.Seats)
	got, created, err := s.cfg.Store.ClaimOrder(ctx, o, ev.ID, string(ev.Type), claimJobs(o)...)
	switch {
	case errors.Is(err, pool.ErrPoolEmpty):
		created, err := s.cfg.Store.AddPendingOrder(ctx, o, ev.ID, string(ev.Type), s.cfg.Prefix, pendingJobs(o))
		if err != nil {
			return "", fmt.Errorf("pending order: %w", err)
		}
		s.cfg.Trigger()
		if created {
			log.Warn("pool empty: order pending, on-demand account provisioning")
		}
		return "pending", nil
	case err != nil:
		return "", err
	}
	if created {
		s.cfg.Trigger()
		log.Info("order claimed an account", "account", got.AccountID)
		return "claimed", nil
	}
	return "duplicate order", nil
}

// hold stores an order held for the operator, with its reason. A hold that a configuration
// change can resolve (a price not mapped yet) gets a job that looks at it again.
func (s *Service) hold(ctx context.Context, ev stripe.Event, o store.Order, v verdict, log *slog.Logger) (string, error) {
	o.State, o.Tier, o.LastError = store.OrderHeld, "", v.Hold
	var then []jobs.Job
	if v.Retry {
		then = append(then, pendingJobs(o))
	}
	created, err := s.cfg.Store.AddPendingOrder(ctx, o, ev.ID, string(ev.Type), s.cfg.Prefix, then...)
	if err != nil {
		return "", fmt.Errorf("hold order: %w", err)
	}
	if created {
		log.Error("paid order held for the operator", "reason", v.Hold)
	}
	return "held", nil
}

// orderFromSession builds the order of a session (its tier is decided from the price paid).
// TierKeys keep the session's hints for a held order's next look: "tier:<metadata tier>",
// "price_id:<metadata price>", "link:<payment link>", "mode:<mode>", "status:<payment status>".
func (s *Service) orderFromSession(cs checkoutSession) store.Order {
	email, name := cs.CustomerEmail, ""
	if cs.CustomerDetails != nil {
		if cs.CustomerDetails.Email != "" {
			email = cs.CustomerDetails.Email
		}
		name = cs.CustomerDetails.Name
	}
	h := hintsOf(cs)
	var keys []string
	for _, kv := range [][2]string{{"tier", h.Tier}, {"price_id", h.PriceID}, {"link", h.PaymentLink}, {"mode", h.Mode}, {"status", h.Status}} {
		if kv[1] != "" {
			keys = append(keys, kv[0]+":"+strings.ReplaceAll(kv[1], ",", ""))
		}
	}
	o := store.Order{
		ID: cs.ID, TierKeys: keys, CustomerEmail: email, CustomerName: name,
		CustomerID: string(cs.Customer), SubscriptionID: string(cs.Subscription), PaymentIntent: string(cs.PaymentIntent),
	}
	if cs.Mode == "payment" && o.SubscriptionID == "" {
		o.TermEndsAt = s.cfg.Clock.Now().Add(s.cfg.PaymentTerm)
	}
	return o
}

// hintsOf reads the hints a session's creator wrote: the storefront's metadata keys (pool.MetaTier,
// pool.MetaPrice), else the plain "tier" / "price_id" a hand-made Checkout may carry. Two that
// disagree can both not match the price paid, so the order is held.
func hintsOf(cs checkoutSession) sessionHints {
	return sessionHints{Tier: hint(cs.Metadata, pool.MetaTier, "tier"), PriceID: hint(cs.Metadata, pool.MetaPrice, "price_id"),
		PaymentLink: string(cs.PaymentLink), Mode: cs.Mode, Status: cs.PaymentStatus}
}

func hint(md map[string]string, ours, plain string) string {
	a, b := md[ours], md[plain]
	switch {
	case a == "":
		return b
	case b == "" || a == b:
		return a
	}
	return a + " / " + b
}

// hintsOfKeys reads the hints back from a held order's TierKeys.
func hintsOfKeys(keys []string) sessionHints {
	var h sessionHints
	for _, k := range keys {
		name, v, ok := strings.Cut(k, ":")
		if !ok && strings.HasPrefix(k, "plink_") {
			h.PaymentLink = k // kept by orders held before hints were labelled
			continue
		}
		switch name {
		case "tier":
			h.Tier = v
		case "price_id":
			h.PriceID = v
		case "link":
			h.PaymentLink = v
		case "mode":
			h.Mode = v
		case "status":
			h.Status = v
		}
	}
	return h
}

func usableEmail(email string) bool {
	a, err := mail.ParseAddress(email)
	return err == nil && a.Address == email
}

// validStripeID accepts the characters of Stripe object ids (cs_test_a1B2…), so an id is safe to
// put in an API path.
func validStripeID(id string) bool {
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// claimJobs are committed with an order's claim: its credentials e-mail and, for a
// subscription, a sync that suspends the new tenant at once if the subscription already ended
// (events come out of order; the sync does nothing for a live subscription).
func claimJobs(o store.Order) []jobs.Job {
	js := []jobs.Job{{Args: jobs.DeliverArgs{OrderID: o.ID}}}
	if o.SubscriptionID != "" || o.Ended != "" {
		js = append(js, jobs.Job{Args: jobs.SyncArgs{OrderID: o.ID}})
	}
	if !o.TermEndsAt.IsZero() {
		// The one-time payment's term: its sync suspends the tenant then.
		js = append(js, jobs.Job{Args: jobs.SyncArgs{OrderID: o.ID}, ScheduledAt: o.TermEndsAt})
	}
	return js
}

// pendingJobs are committed with a pending order: the job that claims it once an account is
// ready.
func pendingJobs(o store.Order) jobs.Job { return jobs.Job{Args: jobs.ClaimPendingArgs{OrderID: o.ID}} }

// subscriptionChanged records the subscription's newest status (older events, and any event
// after a terminal status, change nothing) and enqueues a sync of its orders' tenants.
func (s *Service) subscriptionChanged(ctx context.Context, ev stripe.Event, sub subscription, log *slog.Logger) (string, error) {
	if sub.ID == "" || len(sub.ID) > maxIDLen {
		return "", badRequest("subscription without a valid id")
	}
	status := sub.Status
	if ev.Type == EventSubscriptionDeleted {
		status = statusCanceled
	}
	if status == "" {
		return "", badRequest("subscription %s without status", sub.ID)
	}
	newest, synced, err := s.cfg.Store.SetSubscriptionStatus(ctx, ev.ID, string(ev.Type), sub.ID, status, time.Unix(ev.Created, 0))
	if err != nil {
		return "", err
	}
	outcome := "recorded"
	switch {
	case !newest:
		outcome = "stale"
	case synced > 0:
		outcome = "sync"
	}
	log.Info("subscription status", "subscription", sub.ID, "status", status, "outcome", outcome)
	if ev.Type == EventSubscriptionUpdated && len(sub.Items.Data) > 0 {
		plan, err := s.planChanged(ctx, ev, sub, log)
		if err != nil {
			return "", err
		}
		if plan != "" {
			outcome += "; " + plan
		}
	}
	return outcome, nil
}

// planChanged applies a subscription's price as its accounts' tier (a plan change in place).
// Its effect is recorded under its own event key ("<event id>:plan"), so a webhook that failed
// after the status committed applies the plan on Stripe's redelivery. A price no tier sells
// holds the change for the operator; items of several tiers are held too.
func (s *Service) planChanged(ctx context.Context, ev stripe.Event, sub subscription, log *slog.Logger) (string, error) {
	req := store.PlanRequest{Source: pool.PlanByStripe, At: time.Unix(ev.Created, 0), Tiers: s.cfg.Tiers, Notice: s.cfg.DowngradeNotice}
	tiers := map[string]bool{}
	var unknown []string
	for _, it := range sub.Items.Data {
		id := it.Price.ID
		if id == "" || len(id) > maxIDLen || !validStripeID(id) {
			return "", badRequest("subscription %s: an item without a valid price id", sub.ID)
		}
		if req.PriceID == "" {
			req.PriceID = id
		}
		if tier, ok := s.prices[id]; ok {
			tiers[tier] = true
		} else {
			unknown = append(unknown, id)
		}
	}
	switch {
	case len(unknown) > 0:
		req.PriceID = unknown[0]
		req.Held = fmt.Sprintf("price %s is not mapped to a tier (tiers' prices or POOL_STRIPE_PRICES)", strings.Join(unknown, ", "))
	case len(tiers) > 1:
		req.Held = fmt.Sprintf("the subscription's prices are of %d tiers", len(tiers))
	default:
		for t := range tiers {
			req.ToTier = t
		}
	}
	cs, err := s.cfg.Store.ChangeSubscriptionPlan(ctx, ev.ID+":plan", string(ev.Type), sub.ID, req)
	if err != nil {
		return "", fmt.Errorf("plan change: %w", err)
	}
	if len(cs) == 0 {
		return "", nil
	}
	if req.ToTier == "" {
		log.Error("plan change held for the operator", "subscription", sub.ID, "reason", req.Held, "accounts", len(cs))
		return "plan held", nil
	}
	log.Info("plan changed in place; re-apply queued", "subscription", sub.ID, "tier", req.ToTier, "from", cs[0].FromTier, "accounts", len(cs))
	return "plan " + cs[0].FromTier + " → " + req.ToTier, nil
}

// endOrder ends the order a refunded or lost charge paid for: its tenant is suspended, for good.
func (s *Service) endOrder(ctx context.Context, ev stripe.Event, paymentIntent, customer, reason string, log *slog.Logger) (string, error) {
	id, err := s.cfg.Store.EndOrder(ctx, ev.ID, string(ev.Type), paymentIntent, customer, reason)
	if err != nil {
		return "", err
	}
	if id == "" {
		log.Warn("refund or lost dispute matches no single order: the operator decides", "payment_intent", paymentIntent, "customer", customer, "reason", reason)
		return "no order", nil
	}
	log.Warn("order ended: its tenant is suspended", "order", id, "reason", reason)
	return "ended", nil
}

// chargeCustomer reads the customer of a charge from the Stripe API (a dispute does not carry
// it). A charge Stripe does not know gives "".
func (s *Service) chargeCustomer(ctx context.Context, id string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // well inside the time Stripe waits for an answer
	defer cancel()
	p := &stripe.ChargeRetrieveParams{}
	p.Context = ctx
	ch, err := s.cfg.Stripe.V1Charges.Retrieve(ctx, id, p)
	if err != nil {
		if err := classifyStripe(err); !errors.Is(err, errStripeRejected) {
			return "", err
		}
		return "", nil
	}
	if ch.Customer == nil {
		return "", nil
	}
	return ch.Customer.ID, nil
}

// paymentFailed enqueues one payment-failed notice per failed invoice.
func (s *Service) paymentFailed(ctx context.Context, ev stripe.Event, inv invoice, log *slog.Logger) (string, error) {
	if inv.ID == "" || len(inv.ID) > maxIDLen {
		return "", badRequest("invoice without a valid id")
	}
	subID := string(inv.Subscription)
	if subID == "" && inv.Parent != nil && inv.Parent.SubscriptionDetails != nil {
		subID = string(inv.Parent.SubscriptionDetails.Subscription)
	}
	notice := jobs.NoticeArgs{InvoiceID: inv.ID, Email: inv.CustomerEmail, BillingURL: inv.HostedInvoiceURL}
	queued, err := s.cfg.Store.QueuePaymentNotice(ctx, ev.ID, string(ev.Type), subID, notice)
	if err != nil {
		return "", err
	}
	outcome := "no order"
	if queued {
		outcome = "notice"
	}
	if outcome == "no order" {
		log.Warn("payment failed for a subscription without an order", "subscription", subID, "invoice", inv.ID)
	}
	return outcome, nil
}

// The parts of Stripe objects the service reads. Expandable references decode from an id or
// an expanded object.

type checkoutSession struct {
	ID              string            `json:"id"`
	PaymentStatus   string            `json:"payment_status"`
	Mode            string            `json:"mode"`
	CustomerEmail   string            `json:"customer_email"`
	CustomerDetails *customerDetails  `json:"customer_details"`
	Customer        ref               `json:"customer"`
	Subscription    ref               `json:"subscription"`
	PaymentLink     ref               `json:"payment_link"`
	PaymentIntent   ref               `json:"payment_intent"`
	Metadata        map[string]string `json:"metadata"`
}

type charge struct {
	ID            string `json:"id"`
	Refunded      bool   `json:"refunded"` // fully refunded
	PaymentIntent ref    `json:"payment_intent"`
	Customer      ref    `json:"customer"`
}

type dispute struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	Charge        ref    `json:"charge"`
	PaymentIntent ref    `json:"payment_intent"`
}

type customerDetails struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

type subscription struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Items  struct {
		Data []struct {
			Price struct {
				ID string `json:"id"`
			} `json:"price"`
		} `json:"data"`
	} `json:"items"`
}

type invoice struct {
	ID               string `json:"id"`
	CustomerEmail    string `json:"customer_email"`
	HostedInvoiceURL string `json:"hosted_invoice_url"`
	Subscription     ref    `json:"subscription"` // API versions before 2025-03-31
	Parent           *struct {
		SubscriptionDetails *struct {
			Subscription ref `json:"subscription"`
		} `json:"subscription_details"`
	} `json:"parent"`
}

// ref is an expandable Stripe reference: "cus_123" or {"id":"cus_123",…}.
type ref string

func (r *ref) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*r = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*r = ref(s)
		return nil
	}
	var obj struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	*r = ref(obj.ID)
	return nil
}
