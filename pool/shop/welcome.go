package shop

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"time"

	"github.com/stripe/stripe-go/v82"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
)

// The states the welcome page shows.
const (
	StateWaiting   = "waiting"   // no order yet: the webhook has not come (or never will)
	StatePreparing = "preparing" // paid, no account yet
	StateHeld      = "held"      // the operator must look at the order
	StateReady     = "ready"     // the accounts are live
	StateSuspended = "suspended" // the subscription ended or failed
)

// Status is an order's state as the customer sees it: never a password, never another order.
type Status struct {
	State   string   `json:"state"`
	Message string   `json:"message"`
	URLs    []string `json:"urls,omitempty"`
	// Delivered: the login details were e-mailed.
	Delivered bool `json:"delivered,omitempty"`
	// Billing: the order's Stripe customer is known, so the billing portal opens.
	Billing bool `json:"billing"`
}

// sessionID is the shape of a Checkout Session id; anything else is refused before the store
// is asked.
var sessionID = regexp.MustCompile(`^cs_[A-Za-z0-9_]{1,250}$`)

// orderStatus reads the order of a Checkout Session from the store.
func (s *Shop) orderStatus(ctx context.Context, id string) (Status, error) {
	o, err := s.cfg.Store.GetOrder(ctx, id)
	if errors.Is(err, pool.ErrNotFound) {
		return Status{State: StateWaiting, Message: "Waiting for payment confirmation…"}, nil
	}
	if err != nil {
		return Status{}, err
	}
	st := Status{Billing: o.CustomerID != ""}
	switch {
	case o.State == store.OrderHeld:
		st.State, st.Message = StateHeld, "We are looking into your order and will be in touch by e-mail."
	case !o.SuspendedAt.IsZero() || o.Ended != "":
		st.State, st.Message = StateSuspended, "This subscription is stopped. Manage your billing to start it again."
	case o.State == store.OrderClaimed || o.State == store.OrderDelivered:
		accounts, err := s.cfg.Store.OrderAccounts(ctx, o.ID)
		if err != nil {
			return Status{}, err
		}
		for _, a := range accounts {
			if a.URL != "" && (a.State == pool.StateClaimed || a.State == pool.StateDelivered) {
				st.URLs = append(st.URLs, a.URL)
			}
		}
		if len(st.URLs) == 0 {
			st.State, st.Message = StatePreparing, "Preparing your studio…"
			break
		}
		st.State, st.Delivered = StateReady, o.State == store.OrderDelivered
		st.Message = "Your studio is ready. Your login details are on their way by e-mail."
		if st.Delivered {
			st.Message = "Your studio is ready. Your login details are in the e-mail we sent you."
		}
	default:
		st.State, st.Message = StatePreparing, "Preparing your studio…"
	}
	return st, nil
}

type welcomePage struct {
	SessionID string
	Status    Status
	PollMS    int64
	Base      string
}

// welcome is GET /welcome?session_id=…, Stripe's success URL.
func (s *Shop) welcome(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("session_id")
	if !sessionID.MatchString(id) {
		s.fail(w, r, http.StatusBadRequest, "This link is not valid: it must come from the checkout.")
		return
	}
	st, err := s.orderStatus(r.Context(), id)
	if err != nil {
		s.log.Error("welcome: read order", "order", id, "err", err)
		s.fail(w, r, http.StatusInternalServerError, "Something went wrong on our side; please reload in a moment.")
		return
	}
	s.render(w, http.StatusOK, "welcome.html", welcomePage{SessionID: id, Status: st, PollMS: s.cfg.PollInterval.Milliseconds(), Base: s.cfg.PublicURL}, false)
}

// status is GET /welcome/status?session_id=…, what the welcome page polls.
func (s *Shop) status(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("session_id")
	if !sessionID.MatchString(id) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "session_id: not a Checkout Session id"})
		return
	}
	st, err := s.orderStatus(r.Context(), id)
	if err != nil {
		s.log.Error("welcome status: read order", "order", id, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "try again"})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// billing is POST /billing (form field session_id): a Customer Portal session for the order's
// Stripe customer. Unknown orders, and orders without a customer, are refused.
func (s *Shop) billing(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "the form could not be read")
		return
	}
	id := r.PostForm.Get("session_id")
	if !sessionID.MatchString(id) {
		s.fail(w, r, http.StatusBadRequest, "This link is not valid: it must come from the checkout.")
		return
	}
	o, err := s.cfg.Store.GetOrder(r.Context(), id)
	if errors.Is(err, pool.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "We do not know this order (yet). If you just paid, try again in a minute.")
		return
	}
	if err != nil {
		s.log.Error("billing: read order", "order", id, "err", err)
		s.fail(w, r, http.StatusInternalServerError, "Something went wrong on our side; please try again in a moment.")
		return
	}
	if o.CustomerID == "" {
		s.fail(w, r, http.StatusConflict, "This order has no billing account to manage.")
		return
	}
	if s.busy(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	ps, err := s.cfg.Stripe.V1BillingPortalSessions.Create(ctx, &stripe.BillingPortalSessionCreateParams{
		Customer:  stripe.String(o.CustomerID),
		ReturnURL: stripe.String(s.cfg.PublicURL + "/welcome?session_id=" + id),
	})
	if err != nil {
		s.log.Error("create billing portal session", "order", id, "err", stripeErr(err))
		s.fail(w, r, http.StatusBadGateway, "The billing page could not be opened; please try again in a moment.")
		return
	}
	if err := checkHTTPURL(ps.URL); err != nil {
		s.log.Error("billing portal session without a usable URL", "order", id, "err", err)
		s.fail(w, r, http.StatusBadGateway, "The billing page could not be opened; please try again in a moment.")
		return
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]string{"url": ps.URL})
		return
	}
	http.Redirect(w, r, ps.URL, http.StatusSeeOther)
}
