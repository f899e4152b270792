package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/store"
)

// MaxBody caps a request body.
const MaxBody = 64 << 10

// Account is an account as the API lists it: never a password or key.
type Account struct {
	ID         int64     `json:"id"`
	Slug       string    `json:"slug"`
	Tier       string    `json:"tier"`
	State      string    `json:"state"`
	Host       string    `json:"host,omitempty"`
	URL        string    `json:"url,omitempty"`
	Username   string    `json:"username"`
	OrderID    string    `json:"order_id,omitempty"`
	Origin     string    `json:"origin"` // pool, batch or order
	Generation string    `json:"generation,omitempty"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"last_error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"` // provisioning's first attempt
	ReadyAt    time.Time `json:"ready_at,omitzero"`
	ClaimedAt  time.Time `json:"claimed_at,omitzero"`
	RetireAt   time.Time `json:"retire_at,omitzero"` // a sold account retired with a grace: destroyed then
}

// AccountView is how the API and `poold list --json` show an account: never a password.
func AccountView(a pool.Account) Account {
	return Account{ID: a.ID, Slug: a.Slug, Tier: a.Tier, State: string(a.State), Host: a.Host, URL: a.URL,
		Username: a.CustomerUser, OrderID: a.OrderID, Origin: string(a.Origin), Generation: a.Generation, Attempts: a.Attempts,
		LastError: a.LastError, CreatedAt: a.CreatedAt, StartedAt: a.StartedAt, ReadyAt: a.ReadyAt, ClaimedAt: a.ClaimedAt,
		RetireAt: a.RetireAt}
}

// Claimed is the answer to a manual claim: the account with the customer's password (the
// operator hands it over). Created is false when the order already held the account.
type Claimed struct {
	Created  bool    `json:"created"`
	Account  Account `json:"account"`
	Password string  `json:"password"`
}

// Order is an order as the API lists it.
type Order struct {
	ID             string    `json:"id"`
	State          string    `json:"state"`
	Tier           string    `json:"tier,omitempty"`
	TierKeys       []string  `json:"tier_keys,omitempty"`
	CustomerEmail  string    `json:"customer_email,omitempty"`
	CustomerName   string    `json:"customer_name,omitempty"`
	CustomerID     string    `json:"customer_id,omitempty"`
	SubscriptionID string    `json:"subscription_id,omitempty"`
	AccountID      int64     `json:"account_id,omitempty"`
	Seats          int       `json:"seats"`
	Ended          string    `json:"ended,omitempty"` // why the order ended (refund, lost dispute, term)
	Resends        int       `json:"resends"`
	LastError      string    `json:"last_error,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	ClaimedAt      time.Time `json:"claimed_at,omitzero"`
	DeliveredAt    time.Time `json:"delivered_at,omitzero"`
	SuspendedAt    time.Time `json:"suspended_at,omitzero"`
}

func orderView(o store.Order) Order {
	return Order{ID: o.ID, State: string(o.State), Tier: o.Tier, TierKeys: o.TierKeys, CustomerEmail: o.CustomerEmail,
		CustomerName: o.CustomerName, CustomerID: o.CustomerID, SubscriptionID: o.SubscriptionID, AccountID: o.AccountID,
		Seats: max(o.Seats, 1), Ended: o.Ended,
		Resends: o.Resends, LastError: o.LastError, CreatedAt: o.CreatedAt, ClaimedAt: o.ClaimedAt,
		DeliveredAt: o.DeliveredAt, SuspendedAt: o.SuspendedAt}
}

// StatusRows is the per-tier picture of GET /admin/v1/status and `poold status`: targets,
// counts of every state, pause and failure status, in tier order.
func StatusRows(tiers pool.Tiers, counts map[string]map[pool.State]int, status map[string]store.TierStatus) []TierStatus {
	rows := make([]TierStatus, 0, len(tiers))
	for _, name := range tiers.Names() {
		t, st := tiers[name], status[name]
		row := TierStatus{Tier: name, MinReady: t.MinReady, MaxTotal: t.MaxTotal, MaxInFlight: t.MaxInFlight,
			Counts: map[string]int{}, Paused: st.Paused, ConsecutiveFailures: st.ConsecutiveFailures, LastError: st.LastError}
		for _, s := range pool.States {
			row.Counts[string(s)] = counts[name][s]
		}
		rows = append(rows, row)
	}
	return rows
}

// TierStatus is one tier of GET /admin/v1/status (the rows of `poold status --json`).
type TierStatus struct {
	Tier                string         `json:"tier"`
	MinReady            int            `json:"min_ready"`
	MaxTotal            int            `json:"max_total"`
	MaxInFlight         int            `json:"max_in_flight"`
	Counts              map[string]int `json:"counts"`
	Paused              bool           `json:"paused"`
	ConsecutiveFailures int            `json:"consecutive_failures"`
	LastError           string         `json:"last_error,omitempty"`
	// The ready target in effect (min_ready, or ready: auto's) and why; the refill signal
	// (pool.Refill): whether the pool can be refilled within refill_within, and why.
	ReadyTarget           int     `json:"ready_target"`
	Auto                  bool    `json:"auto"`
	TargetWhy             string  `json:"target_why,omitempty"`
	RefillShort           bool    `json:"refill_short"`
	RefillWhy             string  `json:"refill_why,omitempty"`
	RefillEstimateSeconds float64 `json:"refill_estimate_seconds"`
}

// WithCapacity adds the capacity report's targets and refill signals to the status rows.
func WithCapacity(rows []TierStatus, c pool.Capacity) []TierStatus {
	for i := range rows {
		for _, r := range c.Tiers {
			if r.Tier == rows[i].Tier {
				rows[i].ReadyTarget, rows[i].Auto, rows[i].TargetWhy = r.Target.Ready, r.Target.Auto, r.Target.Why
				rows[i].RefillShort, rows[i].RefillWhy, rows[i].RefillEstimateSeconds = r.Short, r.Why, r.Estimate.Seconds()
			}
		}
	}
	return rows
}

// Batch is the answer to a batch create: the slugs queued for provisioning.
type Batch struct {
	Tier  string   `json:"tier"`
	Count int      `json:"count"`
	Slugs []string `json:"slugs"`
}

type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// httpError is an answer other than 2xx decided by the API itself (not a store error).
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

var (
	errConflict    = errors.New("conflict")
	errUnavailable = errors.New("unavailable")
	errBadGateway  = errors.New("tenant unreachable")
)

func (a *API) handle(fn func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			a.fail(w, r, err)
		}
	}
}

// fail answers err: what the caller got wrong (4xx) with its message, anything else with 500
// and a generic message, the detail going to the log only.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	body := errorBody{Error: err.Error()}
	code := StatusCode(err)
	if fe, ok := errors.AsType[*FieldError](err); ok {
		body.Field = fe.Field
	}
	if code == http.StatusInternalServerError {
		body.Error = "internal error"
		if r.Context().Err() != nil {
			a.log.Info("admin request abandoned by the client", "method", r.Method, "path", r.URL.Path, "err", err)
		} else {
			a.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body into v: application/json, at most MaxBody bytes, one object with
// only known fields. Any problem is a 4xx before anything changes.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &httpError{http.StatusUnsupportedMediaType, "body: Content-Type must be application/json"}
	}
	tooBig := &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than %d bytes", MaxBody)}
	if r.ContentLength > MaxBody {
		return tooBig
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	bad := func(err error) error {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooBig
		}
		if errors.Is(err, io.EOF) {
			return &httpError{http.StatusBadRequest, "body: empty; want a JSON object"}
		}
		return &httpError{http.StatusBadRequest, "body: " + err.Error()}
	}
	if err := dec.Decode(v); err != nil {
		return bad(err)
	}
	if err := dec.Decode(&json.RawMessage{}); !errors.Is(err, io.EOF) {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooBig
		}
		return &httpError{http.StatusBadRequest, "body: unexpected data after the JSON object"}
	}
	return nil
}

// query reads the query parameters of a listing: only the named ones, each at most once.
func query(r *http.Request, names ...string) (map[string]string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &httpError{http.StatusBadRequest, "query: " + err.Error()}
	}
	out := map[string]string{}
	for k, vs := range q {
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known {
			return nil, &FieldError{Field: k, Err: fmt.Errorf("unknown parameter (want %v)", names)}
		}
		if len(vs) != 1 {
			return nil, &FieldError{Field: k, Err: errors.New("given more than once")}
		}
		out[k] = vs[0]
	}
	return out, nil
}

func limitParam(q map[string]string) (int, error) {
	v, ok := q["limit"]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, &FieldError{Field: "limit", Err: fmt.Errorf("%q is not an integer", v)}
	}
	return n, nil
}

func (a *API) listAccounts(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "tier", "state", "limit")
	if err != nil {
		return err
	}
	limit, err := limitParam(q)
	if err != nil {
		return err
	}
	f, err := ValidateList(a.tiers, q["tier"], q["state"], limit)
	if err != nil {
		return err
	}
	as, err := a.store.List(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]Account, len(as))
	for i, acc := range as {
		out[i] = AccountView(acc)
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": out})
	return nil
}

func (a *API) listOrders(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "state", "limit")
	if err != nil {
		return err
	}
	limit, err := limitParam(q)
	if err != nil {
		return err
	}
	f, err := ValidateOrderList(q["state"], limit)
	if err != nil {
		return err
	}
	os, err := a.store.ListOrders(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]Order, len(os))
	for i, o := range os {
		out[i] = orderView(o)
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": out})
	return nil
}

func (a *API) batch(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Count  int    `json:"count"`
		Tier   string `json:"tier"`
		Prefix string `json:"prefix"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	as, err := a.CreateBatch(r.Context(), req.Tier, req.Prefix, req.Count)
	if err != nil {
		return err
	}
	out := Batch{Tier: req.Tier, Count: len(as), Slugs: make([]string, len(as))}
	for i, acc := range as {
		out.Slugs[i] = acc.Slug
	}
	writeJSON(w, http.StatusAccepted, out)
	return nil
}

// export reserves ready accounts and answers their credentials as CSV. The CSV is built inside
// the reserving transaction and sent only after it committed: if building fails (or the client
// is gone) nothing is reserved, and no credentials leave for accounts that are not reserved.
func (a *API) export(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Tier  string `json:"tier"`
		Count int    `json:"count"`
		All   bool   `json:"all"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	body, as, err := a.Export(r.Context(), req.Tier, req.Count, req.All)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="poold-export.csv"`)
	h.Set("X-Exported-Count", strconv.Itoa(len(as)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

func (a *API) claim(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Order string `json:"order"`
		Tier  string `json:"tier"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := ValidateClaim(a.tiers, req.Order, req.Tier); err != nil {
		return err
	}
	if a.tenants == nil {
		return fmt.Errorf("%w: manual claims need the tenants (to rotate the customer password)", errUnavailable)
	}
	acc, created, err := Claim(r.Context(), a.store, a.tenants, req.Order, req.Tier)
	if err != nil {
		return err
	}
	a.log.Info("account claimed", "account", acc.Slug, "tier", acc.Tier, "order", acc.OrderID, "new", created)
	code := http.StatusOK
	if created {
		code = http.StatusCreated
		a.trigger()
	}
	writeJSON(w, code, Claimed{Created: created, Account: AccountView(acc), Password: acc.CustomerPassword})
	return nil
}

// ClaimStore is what a manual claim needs of the store.
type ClaimStore interface {
	Claim(ctx context.Context, tier, orderID string, then ...jobs.Job) (pool.Account, bool, error)
	control.CredentialStore
}

// Claim is a manual sale (`poold claim`, POST claim): it claims a ready account of tier for
// the operator's order (stored as ManualOrderID: the same order always gets the same account)
// and gives its customer a password of the claim's own, recorded sealed and then rotated at
// the tenant — never the password the account had in the pool, and the same on every repeat
// of the claim. A claim whose rotation failed holds its account; repeating it retries the
// rotation.
func Claim(ctx context.Context, s ClaimStore, tenants pool.Tenants, order, tier string) (pool.Account, bool, error) {
	id, err := ManualOrderID(order)
	if err != nil {
		return pool.Account{}, false, err
	}
	acc, created, err := s.Claim(ctx, tier, id)
	if err != nil {
		return acc, false, err
	}
	if acc.Tier != tier {
		return acc, false, fmt.Errorf("%w: order %s already holds account %s of tier %s", errConflict, id, acc.Slug, acc.Tier)
	}
	acc, err = control.Credentials{Store: s, Tenants: tenants}.Settle(ctx, id, id, acc)
	if err != nil {
		return acc, created, fmt.Errorf("%w: order %s holds account %s, but its password was not rotated (claim again to retry): %w",
			errBadGateway, id, acc.Slug, err)
	}
	return acc, created, nil
}

// retire retires an account by id or slug. The body is optional: {"force":true} is needed for a
// sold account (claimed, delivered, suspended, reserved), which is then suspended and destroyed
// after the grace, or at once with "now":true; anything else is retired at once, as by
// `poold retire`. A sold account without force is 409 and nothing changes.
func (a *API) retire(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Force bool `json:"force"`
		Now   bool `json:"now"`
	}
	if r.ContentLength != 0 { // no body: neither force nor now
		if err := decode(w, r, &req); err != nil {
			return err
		}
	}
	acc, _, err := a.Retire(r.Context(), r.PathValue("account"), req.Force, req.Now)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AccountView(acc))
	return nil
}

func (a *API) setPaused(paused bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		tier := r.PathValue("tier")
		if err := a.SetPaused(r.Context(), tier, paused); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"tier": tier, "paused": paused})
		return nil
	}
}

func (a *API) resendOrder(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("order")
	n, err := a.Resend(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"order": id, "resend": n})
	return nil
}

func (a *API) status(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	rows, err := a.Status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tiers": rows, "orders_enabled": a.resend != nil})
	return nil
}

// PlanView is a plan change in the API's JSON.
type PlanView struct {
	ID             int64  `json:"id"`
	AccountID      int64  `json:"account_id"`
	OrderID        string `json:"order_id,omitempty"`
	SubscriptionID string `json:"subscription_id,omitempty"`
	PriceID        string `json:"price_id,omitempty"`
	From           string `json:"from"`
	To             string `json:"to"`
	Source         string `json:"source"`
	State          string `json:"state"`
	DecidedAt      string `json:"decided_at"`
	DetachAt       string `json:"detach_at,omitempty"`
	Generation     string `json:"generation,omitempty"`
	Reason         string `json:"reason,omitempty"`
}

// PlanChangeView renders a plan change.
func PlanChangeView(c pool.PlanChange) PlanView {
	v := PlanView{ID: c.ID, AccountID: c.AccountID, OrderID: c.OrderID, SubscriptionID: c.SubscriptionID, PriceID: c.PriceID,
		From: c.FromTier, To: c.ToTier, Source: string(c.Source), State: string(c.State), DecidedAt: c.DecidedAt.UTC().Format(time.RFC3339),
		Generation: c.Generation, Reason: c.LastError}
	if !c.DetachAt.IsZero() {
		v.DetachAt = c.DetachAt.UTC().Format(time.RFC3339)
	}
	return v
}

func (a *API) setTier(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Tier string `json:"tier"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	acc, c, changed, err := a.SetTier(r.Context(), r.PathValue("account"), req.Tier)
	if err != nil {
		return err
	}
	out := map[string]any{"account": AccountView(acc), "changed": changed}
	if changed {
		out["change"] = PlanChangeView(c)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) heldPlans(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.HeldPlans(r.Context())
	if err != nil {
		return err
	}
	out := make([]PlanView, len(cs))
	for i, c := range cs {
		out[i] = PlanChangeView(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"held": out})
	return nil
}
