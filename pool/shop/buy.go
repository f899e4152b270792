package shop

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"

	"github.com/stripe/stripe-go/v82"

	"github.com/axiestudio/tenantpool/pool"
)

// maxBody caps what a buy or billing request may send.
const maxBody = 16 << 10

// order is what a customer asks for.
type order struct {
	Interval string
	Quantity int
	Email    string
}

// orderJSON is the JSON form of a buy request (a missing quantity is 1, an explicit 0 is bad).
type orderJSON struct {
	Interval string `json:"interval"`
	Quantity *int   `json:"quantity"`
	Email    string `json:"email"`
}

// inputError is bad input: its message is for the customer.
type inputError struct {
	code int
	msg  string
}

func (e *inputError) Error() string { return e.msg }

func bad(format string, args ...any) error {
	return &inputError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// buy is POST /buy/{tier}: it checks the request and creates a Checkout Session for the
// tier's price of the interval, then sends the customer there (303; JSON clients get the URL).
// Bad input creates nothing.
func (s *Shop) buy(w http.ResponseWriter, r *http.Request) {
	tier, price, o, err := s.parseBuy(w, r)
	if err != nil {
		var ie *inputError
		if errors.As(err, &ie) {
			s.fail(w, r, ie.code, ie.msg)
			return
		}
		s.fail(w, r, http.StatusBadRequest, "the request could not be read")
		return
	}
	if s.busy(w, r) {
		return
	}
	meta := map[string]string{pool.MetaTier: tier.Name, pool.MetaInterval: o.Interval, pool.MetaPrice: price}
	params := &stripe.CheckoutSessionCreateParams{
		Mode:       stripe.String(string(stripe.CheckoutSessionModeSubscription)),
		LineItems:  []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String(price), Quantity: stripe.Int64(int64(o.Quantity))}},
		SuccessURL: stripe.String(s.cfg.PublicURL + "/welcome?session_id={CHECKOUT_SESSION_ID}"),
		CancelURL:  stripe.String(s.cancel),
		Metadata:   meta,
		SubscriptionData: &stripe.CheckoutSessionCreateSubscriptionDataParams{
			Metadata: meta,
		},
	}
	if o.Email != "" {
		params.CustomerEmail = stripe.String(o.Email)
	}
	sess, err := s.cfg.Stripe.V1CheckoutSessions.Create(r.Context(), params)
	if err != nil {
		s.log.Error("create checkout session", "tier", tier.Name, "interval", o.Interval, "err", stripeErr(err))
		s.fail(w, r, http.StatusBadGateway, "the checkout could not be started; please try again in a moment")
		return
	}
	if err := checkHTTPURL(sess.URL); err != nil {
		s.log.Error("checkout session without a usable URL", "session", sess.ID, "err", err)
		s.fail(w, r, http.StatusBadGateway, "the checkout could not be started; please try again in a moment")
		return
	}
	s.log.Info("checkout session created", "session", sess.ID, "tier", tier.Name, "interval", o.Interval, "quantity", o.Quantity)
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]string{"url": sess.URL})
		return
	}
	http.Redirect(w, r, sess.URL, http.StatusSeeOther)
}

// parseBuy reads and checks a buy request: the tier and its price for the interval, the
// quantity within 1..MaxQuantity and an optional e-mail address.
func (s *Shop) parseBuy(w http.ResponseWriter, r *http.Request) (pool.Tier, string, order, error) {
	var o order
	tier, err := s.cfg.Tiers.Get(r.PathValue("tier"))
	if err != nil {
		return tier, "", o, &inputError{http.StatusNotFound, fmt.Sprintf("there is no tier %q", r.PathValue("tier"))}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		var j orderJSON
		if err := dec.Decode(&j); err != nil {
			return tier, "", o, bad("the JSON body is not valid: want {\"interval\": \"month\"|\"year\", \"quantity\": n, \"email\": \"…\"}")
		}
		o = order{Interval: j.Interval, Quantity: 1, Email: strings.TrimSpace(j.Email)}
		if j.Quantity != nil {
			o.Quantity = *j.Quantity
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return tier, "", o, bad("the JSON body must be one object")
		}
	case "application/x-www-form-urlencoded", "":
		if err := r.ParseForm(); err != nil {
			return tier, "", o, bad("the form could not be read")
		}
		o = order{Interval: r.PostForm.Get("interval"), Quantity: 1, Email: strings.TrimSpace(r.PostForm.Get("email"))}
		if q := strings.TrimSpace(r.PostForm.Get("quantity")); q != "" {
			n, err := strconv.Atoi(q)
			if err != nil {
				return tier, "", o, bad("quantity %q is not a whole number", q)
			}
			o.Quantity = n
		}
	default:
		return tier, "", o, &inputError{http.StatusUnsupportedMediaType, "send a form or JSON"}
	}
	if o.Interval == "" {
		o.Interval = "month"
	}
	if !slices.Contains(pool.Intervals, o.Interval) {
		return tier, "", o, bad("interval %q: choose one of %s", o.Interval, strings.Join(pool.Intervals, ", "))
	}
	price := tier.Prices[o.Interval].ID
	if price == "" {
		return tier, "", o, &inputError{http.StatusNotFound, fmt.Sprintf("%s is not sold by the %s", tier.Name, o.Interval)}
	}
	if o.Quantity < 1 || o.Quantity > s.cfg.MaxQuantity {
		return tier, "", o, bad("quantity %d: choose 1 to %d", o.Quantity, s.cfg.MaxQuantity)
	}
	if o.Email != "" {
		if err := checkEmail(o.Email); err != nil {
			return tier, "", o, bad("%v", err)
		}
	}
	return tier, price, o, nil
}

// checkEmail accepts one plain address (no display name, no control characters).
func checkEmail(e string) error {
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || len(e) > 254 || strings.ContainsFunc(e, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%q is not an e-mail address", e)
	}
	return nil
}

// wantsJSON: the client sent JSON or asks for it.
func wantsJSON(r *http.Request) bool {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return ct == "application/json" || strings.Contains(r.Header.Get("Accept"), "application/json")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// stripeErr keeps what helps the operator of a Stripe error (type, code, message, request id);
// stripe-go's errors never carry the API key.
func stripeErr(err error) string {
	var se *stripe.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("stripe %s (%s, HTTP %d, request %s): %s", se.Type, se.Code, se.HTTPStatusCode, se.RequestID, se.Msg)
	}
	return err.Error()
}
