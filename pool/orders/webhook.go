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
	EventInvoicePaymentFailed  = "invoice.payment_failed"
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
	switch ev.Type {
	case EventCheckoutCompleted, EventAsyncPaymentSucceeded:
		var cs checkoutSession
		if err := decode(ev.Data.Raw, &cs); err != nil {
			return "", err
		}
		if ev.Type == EventCheckoutCompleted && cs.PaymentStatus != "paid" {
			// Paid later by an async method: async_payment_succeeded fulfils it.
			return "awaiting payment", nil
		}
		return s.fulfil(ctx, ev, cs, log)
	case EventSubscriptionDeleted, EventSubscriptionUpdated, EventSubscriptionCreated, EventSubscriptionResumed:
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
// transaction; with an empty pool it stores the order pending with an on-demand account.
func (s *Service) fulfil(ctx context.Context, ev stripe.Event, cs checkoutSession, log *slog.Logger) (string, error) {
	o, err := s.orderFromSession(cs)
	if err != nil {
		return "", err
	}
	log = log.With("order", o.ID)
	if seen, err := s.cfg.Store.EventSeen(ctx, ev.ID); err != nil {
		return "", err
	} else if seen {
		return "duplicate event", nil
	}
	if o.Tier == "" {
		o.LastError = fmt.Sprintf("no configured tier matches %v", o.TierKeys)
		created, err := s.cfg.Store.AddPendingOrder(ctx, o, ev.ID, string(ev.Type), s.cfg.Prefix, pendingJobs(o))
		if err != nil {
			return "", fmt.Errorf("hold order: %w", err)
		}
		if created {
			log.Error("paid order held: no configured tier matches it; fix the price map and it is claimed", "keys", o.TierKeys)
		}
		return "held", nil
	}
	log = log.With("tier", o.Tier)
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

// orderFromSession validates a session and builds its order.
func (s *Service) orderFromSession(cs checkoutSession) (store.Order, error) {
	if cs.ID == "" || len(cs.ID) > maxIDLen {
		return store.Order{}, badRequest("checkout session without a valid id")
	}
	email, name := cs.CustomerEmail, ""
	if cs.CustomerDetails != nil {
		if cs.CustomerDetails.Email != "" {
			email = cs.CustomerDetails.Email
		}
		name = cs.CustomerDetails.Name
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return store.Order{}, badRequest("checkout session %s has no usable customer e-mail", cs.ID)
	}
	var keys []string
	if t := cs.Metadata["tier"]; t != "" {
		keys = append(keys, "tier:"+t)
	}
	if cs.LineItems != nil {
		for _, li := range cs.LineItems.Data {
			if li.Price.ID != "" {
				keys = append(keys, li.Price.ID)
			}
		}
	}
	if p := cs.Metadata["price_id"]; p != "" {
		keys = append(keys, p)
	}
	if cs.PaymentLink != "" {
		keys = append(keys, string(cs.PaymentLink))
	}
	o := store.Order{
		ID: cs.ID, TierKeys: keys, CustomerEmail: email, CustomerName: name,
		CustomerID: string(cs.Customer), SubscriptionID: string(cs.Subscription),
	}
	o.Tier = s.resolveTier(keys)
	return o, nil
}

// claimJobs are committed with an order's claim: its credentials e-mail and, for a
// subscription, a sync that suspends the new tenant at once if the subscription already ended
// (events come out of order; the sync does nothing for a live subscription).
func claimJobs(o store.Order) []jobs.Job {
	js := []jobs.Job{{Args: jobs.DeliverArgs{OrderID: o.ID}}}
	if o.SubscriptionID != "" {
		js = append(js, jobs.Job{Args: jobs.SyncArgs{OrderID: o.ID}})
	}
	return js
}

// pendingJobs are committed with a pending order: the job that claims it once an account is
// ready.
func pendingJobs(o store.Order) jobs.Job { return jobs.Job{Args: jobs.ClaimPendingArgs{OrderID: o.ID}} }

// subscriptionChanged records the subscription's newest status (older events change
// nothing) and enqueues a sync of its orders' tenants: canceled → suspend, active → resume.
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
	return outcome, nil
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
	CustomerEmail   string            `json:"customer_email"`
	CustomerDetails *customerDetails  `json:"customer_details"`
	Customer        ref               `json:"customer"`
	Subscription    ref               `json:"subscription"`
	PaymentLink     ref               `json:"payment_link"`
	Metadata        map[string]string `json:"metadata"`
	LineItems       *struct {
		Data []struct {
			Price struct {
				ID string `json:"id"`
			} `json:"price"`
		} `json:"data"`
	} `json:"line_items"`
}

type customerDetails struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

type subscription struct {
	ID     string `json:"id"`
	Status string `json:"status"`
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
