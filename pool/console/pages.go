package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/business"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/store"
)

// --- sign-in ---

type signInData struct {
	Next    string
	Expired bool
}

// safeNext keeps a post-sign-in target inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/console/pool"
	}
	return next
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	if sess, _, _ := c.sessions.lookup(r); sess != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d := signInData{Next: safeNext(r.URL.Query().Get("next")), Expired: r.URL.Query().Get("expired") == "1"}
	c.render(w, nil, "signin", page{Title: "Sign in", Data: d})
}

func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	// No session yet, so no CSRF token: a cross-site sign-in is refused by its Origin.
	if o := r.Header.Get("Origin"); o != "" && o != "null" && !sameOrigin(o, r) {
		http.Error(w, "Sign-in refused: the form was not sent from this console.", http.StatusForbidden)
		return
	}
	d := signInData{Next: safeNext(r.PostForm.Get("next"))}
	ok, wait := c.cfg.Ops.SignIn(admin.Source(r), r.PostForm.Get("token"))
	if !ok {
		p := page{Title: "Sign in", Data: d, Status: http.StatusUnauthorized,
			Error: "That token is not one of this daemon's admin tokens (POOL_ADMIN_TOKEN). Paste it again, without spaces."}
		if wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			p.Status = http.StatusTooManyRequests
			p.Error = fmt.Sprintf("Too many failed sign-ins from your address: try again in %d seconds.", int(wait.Seconds())+1)
		}
		c.render(w, nil, "signin", p)
		return
	}
	c.setCookie(w, c.sessions.create())
	c.log.Info("console signed in", "remote", r.RemoteAddr)
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

func sameOrigin(origin string, r *http.Request) bool {
	o := strings.TrimPrefix(strings.TrimPrefix(origin, "https://"), "http://")
	return o == r.Host
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, rq *request) {
	c.sessions.remove(rq.key)
	c.clearCookie(w)
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}

// --- pool ---

type poolData struct {
	Tiers []admin.TierStatus
	// Capacity: the tiers whose pool cannot be refilled in time are warned about above the
	// table, with the hosts' forecast.
	Capacity      pool.Capacity
	States        []pool.State
	Day, Month    chart
	OrdersEnabled bool
	Generations   admin.Generations
}

func (c *Console) poolPage(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	rows, err := c.cfg.Ops.Status(ctx)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	capacity, err := c.cfg.Ops.Capacity(ctx)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	now := c.cfg.Clock.Now()
	day, err := c.cfg.Store.PoolHistory(ctx, now, time.Hour, 24)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	month, err := c.cfg.Store.PoolHistory(ctx, now, 24*time.Hour, 30)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	gens, err := c.cfg.Ops.Generations(ctx)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	d := poolData{Tiers: rows, Capacity: capacity, States: pool.States, OrdersEnabled: c.cfg.Ops.OrdersEnabled(), Generations: gens,
		Day:   chartOf("Ready accounts and sales, last 24 hours", day.Ready, day.Sales, day.Start, day.Step, "Jan 2 15:04"),
		Month: chartOf("Ready accounts and sales, last 30 days", month.Ready, month.Sales, month.Start, month.Step, "Jan 2")}
	c.render(w, rq, "pool", page{Title: "Pool", Nav: "pool", Data: d})
}

func (c *Console) setPaused(paused bool) func(http.ResponseWriter, *http.Request, *request) {
	return func(w http.ResponseWriter, r *http.Request, rq *request) {
		tier := r.PathValue("tier")
		if err := c.cfg.Ops.SetPaused(r.Context(), tier, paused); err != nil {
			c.fail(w, r, rq, err)
			return
		}
		msg := "Tier " + tier + " resumed: the reconciler tops it up again."
		if paused {
			msg = "Tier " + tier + " paused: no new accounts are provisioned for it until you resume it."
		}
		c.redirect(w, r, rq, "/console/pool", msg)
	}
}

// --- mass create ---

type createData struct {
	Tiers  []string
	Tier   string
	Count  string
	Prefix string
	Max    int
}

func (c *Console) createPage(w http.ResponseWriter, r *http.Request, rq *request) {
	d := createData{Tiers: c.cfg.Tiers.Names(), Count: "10", Prefix: c.cfg.Prefix, Max: admin.MaxBatch}
	c.render(w, rq, "create", page{Title: "Mass create", Nav: "create", Data: d})
}

func (c *Console) create(w http.ResponseWriter, r *http.Request, rq *request) {
	f := r.PostForm
	d := createData{Tiers: c.cfg.Tiers.Names(), Tier: f.Get("tier"), Count: f.Get("count"), Prefix: f.Get("prefix"), Max: admin.MaxBatch}
	n, err := strconv.Atoi(strings.TrimSpace(d.Count))
	if err != nil {
		c.render(w, rq, "create", page{Title: "Mass create", Nav: "create", Data: d, Status: http.StatusBadRequest,
			Error: fmt.Sprintf("Count %q is not a whole number: enter how many accounts to create (1–%d).", d.Count, admin.MaxBatch)})
		return
	}
	as, err := c.cfg.Ops.CreateBatch(r.Context(), d.Tier, strings.TrimSpace(d.Prefix), n)
	if err != nil {
		if admin.StatusCode(err) == http.StatusBadRequest {
			c.render(w, rq, "create", page{Title: "Mass create", Nav: "create", Data: d, Status: http.StatusBadRequest,
				Error: formError(err) + ". Correct it and create again."})
			return
		}
		c.fail(w, r, rq, err)
		return
	}
	to := fmt.Sprintf("/console/create/%d/%d", as[0].ID, as[len(as)-1].ID)
	c.redirect(w, r, rq, to, fmt.Sprintf("%d accounts of tier %s queued for provisioning (%s … %s).", len(as), d.Tier, as[0].Slug, as[len(as)-1].Slug))
}

// formError is a validation error as the form names it.
func formError(err error) string {
	if fe, ok := errors.AsType[*admin.FieldError](err); ok {
		return fmt.Sprintf("%s: %v", fe.Field, fe.Err)
	}
	return err.Error()
}

// batchRange reads a batch's id range from the path: at most MaxBatch accounts.
func batchRange(r *http.Request) (from, to int64, err error) {
	from, err1 := strconv.ParseInt(r.PathValue("from"), 10, 64)
	to, err2 := strconv.ParseInt(r.PathValue("to"), 10, 64)
	if err1 != nil || err2 != nil || from < 1 || to < from || to-from >= admin.MaxBatch {
		return 0, 0, &admin.FieldError{Field: "batch", Err: errors.New("not a batch's account range")}
	}
	return from, to, nil
}

// progressRow is one account of a batch as the progress page and its JSON show it.
type progressRow struct {
	ID     int64  `json:"id"`
	Slug   string `json:"slug"`
	Tier   string `json:"tier"`
	Status string `json:"status"` // queued, provisioning, ready, failed, cancelled, or the account's state
	Reason string `json:"reason,omitempty"`
	URL    string `json:"url,omitempty"`
}

type progress struct {
	From, To  int64          `json:"-"`
	Accounts  []progressRow  `json:"accounts"`
	Counts    map[string]int `json:"counts"`
	Done      bool           `json:"done"`
	Cancelled int            `json:"-"`
}

func (c *Console) batch(r *http.Request) (progress, error) {
	from, to, err := batchRange(r)
	if err != nil {
		return progress{}, err
	}
	rows, _, err := c.cfg.Store.ConsoleAccounts(r.Context(), store.AccountQuery{From: from, To: to, Limit: admin.MaxBatch})
	if err != nil {
		return progress{}, err
	}
	if len(rows) == 0 {
		return progress{}, fmt.Errorf("batch %d–%d: %w", from, to, pool.ErrNotFound)
	}
	p := progress{From: from, To: to, Counts: map[string]int{}, Done: true}
	for i := len(rows) - 1; i >= 0; i-- { // oldest (first slug) first
		a := rows[i]
		pr := progressRow{ID: a.ID, Slug: a.Slug, Tier: a.Tier, Status: string(a.State), URL: a.URL}
		switch a.State {
		case pool.StateProvisioning:
			pr.Status, p.Done = "provisioning", false
			if a.Attempts == 0 {
				pr.Status = "queued"
			}
			pr.Reason = a.LastError // a retry's reason
		case pool.StateFailed:
			pr.Reason = a.LastError
		case pool.StateRetired:
			if a.ReadyAt.IsZero() {
				pr.Status = "cancelled"
			}
		}
		p.Counts[pr.Status]++
		p.Accounts = append(p.Accounts, pr)
	}
	return p, nil
}

func (c *Console) progressPage(w http.ResponseWriter, r *http.Request, rq *request) {
	p, err := c.batch(r)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.render(w, rq, "progress", page{Title: "Mass create progress", Nav: "create", Data: p})
}

func (c *Console) progressJSON(w http.ResponseWriter, r *http.Request, rq *request) {
	p, err := c.batch(r)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(admin.StatusCode(err))
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(p)
}

// cancelBatch retires the batch's accounts still provisioning (queued or under way); ready
// ones stay in the pool.
func (c *Console) cancelBatch(w http.ResponseWriter, r *http.Request, rq *request) {
	p, err := c.batch(r)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	n := 0
	var errs []error
	for _, a := range p.Accounts {
		if a.Status != "queued" && a.Status != "provisioning" {
			continue
		}
		if _, _, err := c.cfg.Ops.Retire(r.Context(), strconv.FormatInt(a.ID, 10), false, false); err != nil {
			if !errors.Is(err, pool.ErrIllegalTransition) { // became ready meanwhile: kept
				errs = append(errs, err)
			}
			continue
		}
		n++
	}
	if err := errors.Join(errs...); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.redirect(w, r, rq, fmt.Sprintf("/console/create/%d/%d", p.From, p.To),
		fmt.Sprintf("Cancelled: %d accounts still provisioning were retired; the ready ones stay in the pool.", n))
}

// --- accounts ---

type accountsData struct {
	Tiers  []string
	States []pool.State
	Tier   string
	State  string
	Search string
	Rows   []store.AccountRow
	Next   string // the next page's cursor ("" = last page)
	First  bool
}

func (c *Console) accountsPage(w http.ResponseWriter, r *http.Request, rq *request) {
	q := r.URL.Query()
	d := accountsData{Tiers: c.cfg.Tiers.Names(), States: pool.States, Tier: q.Get("tier"), State: q.Get("state"),
		Search: strings.TrimSpace(q.Get("q")), First: q.Get("before") == ""}
	aq := store.AccountQuery{Tier: d.Tier, Search: d.Search, Limit: PageSize}
	if d.Tier != "" {
		if _, ok := c.cfg.Tiers[d.Tier]; !ok {
			c.render(w, rq, "accounts", page{Title: "Accounts", Nav: "accounts", Data: d, Status: http.StatusBadRequest,
				Error: fmt.Sprintf("There is no tier %q: pick one from the list.", d.Tier)})
			return
		}
	}
	if d.State != "" {
		st, err := pool.ParseState(d.State)
		if err != nil {
			c.render(w, rq, "accounts", page{Title: "Accounts", Nav: "accounts", Data: d, Status: http.StatusBadRequest,
				Error: "There is no such state: pick one from the list."})
			return
		}
		aq.State = st
	}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			c.render(w, rq, "accounts", page{Title: "Accounts", Nav: "accounts", Data: d, Status: http.StatusBadRequest,
				Error: "That page link is broken: start again from the first page."})
			return
		}
		aq.Before = n
	}
	rows, more, err := c.cfg.Store.ConsoleAccounts(r.Context(), aq)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	d.Rows = rows
	if more {
		d.Next = strconv.FormatInt(rows[len(rows)-1].ID, 10)
	}
	c.render(w, rq, "accounts", page{Title: "Accounts", Nav: "accounts", Data: d})
}

type accountData struct {
	A          store.AccountRow
	Events     []pool.AccountEvent
	CanReapply bool
	CanResend  bool
	// Plans are the account's plan changes, oldest first (held ones wait for the operator).
	Plans []pool.PlanChange
	// CanChangeTier: a sold account (claimed, delivered, suspended) may move to another tier.
	CanChangeTier bool
	Tiers         []string
	OrdersEnabled bool
	// CanBrand: the account's tier includes branding and the account is not retired or failed;
	// Brand is its saved brand.
	CanBrand bool
	Brand    pool.Brand
	// Custom domains (DomainsOn: configured); CanAttach: the account may get one more.
	DomainsOn bool
	Domains   []pool.CustomDomain
	CanAttach bool
}

func (c *Console) accountID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("account %q: %w", r.PathValue("id"), pool.ErrNotFound)
	}
	return id, nil
}

// loadAccount reads the account the path names; when there is none it answers the error page
// and reports false.
func (c *Console) loadAccount(w http.ResponseWriter, r *http.Request, rq *request) (store.AccountRow, bool) {
	id, err := c.accountID(r)
	if err == nil {
		var a store.AccountRow
		if a, err = c.cfg.Store.ConsoleAccount(r.Context(), id); err == nil {
			return a, true
		}
	}
	c.fail(w, r, rq, err)
	return store.AccountRow{}, false
}

func (c *Console) accountPage(w http.ResponseWriter, r *http.Request, rq *request) {
	a, ok := c.loadAccount(w, r, rq)
	if !ok {
		return
	}
	id := a.ID
	evs, err := c.cfg.Store.AccountEvents(r.Context(), id)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	plans, err := c.cfg.Store.PlanChanges(r.Context(), id)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	sold := a.State == pool.StateClaimed || a.State == pool.StateDelivered
	d := accountData{A: a, Events: evs, Plans: plans, CanReapply: sold, OrdersEnabled: c.cfg.Ops.OrdersEnabled(),
		CanChangeTier: pool.Plannable(a.State) == nil, Tiers: c.cfg.Tiers.Names(),
		CanResend: a.OrderID != "" && !strings.HasPrefix(a.OrderID, store.ManualOrderPrefix) &&
			(sold || a.State == pool.StateSuspended)}
	if t, err := c.cfg.Tiers.Get(a.Tier); err == nil && t.Branding && a.State != pool.StateRetired && a.State != pool.StateFailed {
		v, err := c.cfg.Ops.Brand(r.Context(), strconv.FormatInt(id, 10))
		if err != nil {
			c.fail(w, r, rq, err)
			return
		}
		d.CanBrand, d.Brand = true, v.Brand
	}
	if c.cfg.Domains != nil {
		ds, err := c.cfg.Domains.ListDomains(r.Context(), strconv.FormatInt(id, 10))
		if err != nil {
			c.fail(w, r, rq, err)
			return
		}
		used := 0
		for _, dom := range ds {
			if dom.State != pool.DomainDetaching {
				used++
			}
		}
		t, _ := c.cfg.Tiers.Get(a.Tier)
		d.DomainsOn, d.Domains = true, ds
		d.CanAttach = used < t.CustomDomains && (sold || a.State == pool.StateReserved)
	}
	c.render(w, rq, "account", page{Title: "Account " + a.Slug, Nav: "accounts", Data: d})
}

func (c *Console) retirePage(w http.ResponseWriter, r *http.Request, rq *request) {
	a, ok := c.loadAccount(w, r, rq)
	if !ok {
		return
	}
	c.render(w, rq, "retire", page{Title: "Retire " + a.Slug, Nav: "accounts", Data: a})
}

// retire asks for the slug typed again (the confirmation) and, for a sold account, the force
// box, as `poold retire --force` does; without them nothing changes.
func (c *Console) retire(w http.ResponseWriter, r *http.Request, rq *request) {
	a, ok := c.loadAccount(w, r, rq)
	if !ok {
		return
	}
	id := a.ID
	f := r.PostForm
	if strings.TrimSpace(f.Get("confirm")) != a.Slug {
		c.render(w, rq, "retire", page{Title: "Retire " + a.Slug, Nav: "accounts", Data: a, Status: http.StatusBadRequest,
			Error: fmt.Sprintf("Nothing was retired: type the account's name, %s, in the confirmation box to retire it.", a.Slug)})
		return
	}
	force, now := f.Get("force") == "on", f.Get("now") == "on"
	acc, how, err := c.cfg.Ops.Retire(r.Context(), strconv.FormatInt(id, 10), force, now)
	if err != nil {
		if errors.Is(err, pool.ErrForceRequired) {
			c.render(w, rq, "retire", page{Title: "Retire " + a.Slug, Nav: "accounts", Data: a, Status: http.StatusConflict,
				Error: fmt.Sprintf("Nothing was retired: %s is %s, a customer's tenant. Tick “retire it anyway” to suspend it and destroy it after the grace period.", a.Slug, a.State)})
			return
		}
		c.fail(w, r, rq, err)
		return
	}
	msg := acc.Slug + " retired: its tenant is being destroyed."
	if how == pool.RetireAfterGrace {
		msg = fmt.Sprintf("%s suspended: its tenant is stopped and will be destroyed at %s.", acc.Slug, acc.RetireAt.UTC().Format("2006-01-02 15:04 MST"))
	}
	c.redirect(w, r, rq, fmt.Sprintf("/console/accounts/%d", id), msg)
}

// saveBrand saves the account's brand from the form (empty fields remove theirs) through the
// admin API's operation: a sold tenant's re-apply is enqueued with it. Refused values change
// nothing and are shown with what to correct.
func (c *Console) saveBrand(w http.ResponseWriter, r *http.Request, rq *request) {
	id, err := c.accountID(r)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	f := r.PostForm
	b := pool.Brand{Name: f.Get("name"), Logo: f.Get("logo"), Color: f.Get("color")}
	if f.Get("clear") != "" {
		b = pool.Brand{}
	}
	v, err := c.cfg.Ops.SetBrand(r.Context(), strconv.FormatInt(id, 10), b)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	msg := v.Account + ": brand saved. Its tenant gets it when it is next provisioned or resumed."
	switch {
	case v.Reapply:
		msg = v.Account + ": brand saved; its tenant is being re-applied (the studio restarts with it)."
	case v.Brand.IsZero() && !v.Reapply:
		msg = v.Account + ": brand removed."
	}
	c.redirect(w, r, rq, fmt.Sprintf("/console/accounts/%d", id), msg)
}

// reapply re-applies a sold tenant's stack now, as the prober does after failed probes, and
// records it in the account's history.
func (c *Console) reapply(w http.ResponseWriter, r *http.Request, rq *request) {
	id, err := c.accountID(r)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	if c.cfg.Tenants == nil {
		c.fail(w, r, rq, fmt.Errorf("%w: re-apply needs provisioning to be configured on this daemon", admin.ErrUnavailable))
		return
	}
	a, err := c.cfg.Store.Get(r.Context(), id)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	if a.State != pool.StateClaimed && a.State != pool.StateDelivered {
		c.redirect(w, r, rq, fmt.Sprintf("/console/accounts/%d", id),
			fmt.Sprintf("Not re-applied: %s is %s; only a sold, running tenant (claimed or delivered) is re-applied.", a.Slug, a.State))
		return
	}
	start := c.cfg.Clock.Now()
	rerr := c.cfg.Tenants.Reapply(r.Context(), a)
	took := c.cfg.Clock.Since(start).Round(time.Millisecond)
	kind, detail, msg := pool.EventReapplied, fmt.Sprintf("by the operator (console); took %s", took), a.Slug+" re-applied."
	if rerr != nil {
		kind, detail = pool.EventReapplyFailed, "by the operator (console): "+rerr.Error()
		msg = fmt.Sprintf("Re-applying %s failed: %s. Look at the daemon's log, fix the cause and re-apply again.", a.Slug, pool.Describe(rerr))
		c.log.Error("console re-apply failed", "account", a.Slug, "err", rerr)
	} else {
		c.log.Info("console re-applied a tenant", "account", a.Slug, "took", took)
	}
	if err := c.cfg.Store.AddEvent(r.Context(), id, kind, detail); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.redirect(w, r, rq, fmt.Sprintf("/console/accounts/%d", id), msg)
}

// setTier moves a sold account to another tier in place (admin.API.SetTier, the path a Stripe
// price change takes too): the daemon's job re-applies its stack on the same volume.
func (c *Console) setTier(w http.ResponseWriter, r *http.Request, rq *request) {
	id, err := c.accountID(r)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	back := fmt.Sprintf("/console/accounts/%d", id)
	a, ch, changed, err := c.cfg.Ops.SetTier(r.Context(), strconv.FormatInt(id, 10), r.PostForm.Get("tier"))
	switch {
	case errors.Is(err, pool.ErrIllegalTransition):
		c.redirect(w, r, rq, back, "Tier not changed: "+pool.Describe(err)+".")
		return
	case err != nil:
		c.fail(w, r, rq, err)
		return
	case !changed:
		c.redirect(w, r, rq, back, fmt.Sprintf("%s is already %s: nothing changed.", a.Slug, a.Tier))
		return
	}
	msg := fmt.Sprintf("%s moved from %s to %s: its stack is being re-applied on the same volume.", a.Slug, ch.FromTier, ch.ToTier)
	if !ch.DetachAt.IsZero() {
		msg += fmt.Sprintf(" Custom domains beyond the %s allowance are detached at %s; the customer is e-mailed now.", ch.ToTier, ch.DetachAt.UTC().Format("2006-01-02 15:04 MST"))
	}
	c.redirect(w, r, rq, back, msg)
}

func (c *Console) unflag(w http.ResponseWriter, r *http.Request, rq *request) {
	id, err := c.accountID(r)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	cleared, err := c.cfg.Store.Unflag(r.Context(), id, "unflagged by the operator (console)")
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	msg := "The flag was cleared; the probe watches the tenant again from a clean streak."
	if !cleared {
		msg = "The account was not flagged: nothing changed."
	} else {
		c.log.Info("console unflagged a tenant", "account", id)
	}
	c.redirect(w, r, rq, fmt.Sprintf("/console/accounts/%d", id), msg)
}

func (c *Console) resendAccount(w http.ResponseWriter, r *http.Request, rq *request) {
	a, ok := c.loadAccount(w, r, rq)
	if !ok {
		return
	}
	id := a.ID
	order, _, _ := strings.Cut(a.OrderID, "#") // a seat's key names its order
	if order == "" {
		c.redirect(w, r, rq, fmt.Sprintf("/console/accounts/%d", id), "Not resent: the account belongs to no order.")
		return
	}
	n, err := c.cfg.Ops.Resend(r.Context(), order)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.redirect(w, r, rq, fmt.Sprintf("/console/accounts/%d", id),
		fmt.Sprintf("Credentials e-mail of order %s queued again (resend %d), with a fresh password.", order, n))
}

// --- orders ---

type ordersData struct {
	States        []store.OrderState
	State         string
	Rows          []store.Order
	Tiers         []string
	NextAt        string
	NextID        string
	First         bool
	OrdersEnabled bool
}

func (c *Console) ordersPage(w http.ResponseWriter, r *http.Request, rq *request) {
	q := r.URL.Query()
	d := ordersData{States: admin.OrderStates, State: q.Get("state"), Tiers: c.cfg.Tiers.Names(), First: q.Get("at") == "",
		OrdersEnabled: c.cfg.Ops.OrdersEnabled()}
	f, err := admin.ValidateOrderList(d.State, PageSize)
	if err != nil {
		c.render(w, rq, "orders", page{Title: "Orders", Nav: "orders", Data: d, Status: http.StatusBadRequest,
			Error: "There is no such order state: pick one from the list."})
		return
	}
	oq := store.OrderQuery{State: f.State, Limit: PageSize}
	if at := q.Get("at"); at != "" {
		ms, err := strconv.ParseInt(at, 10, 64)
		if err != nil {
			c.render(w, rq, "orders", page{Title: "Orders", Nav: "orders", Data: d, Status: http.StatusBadRequest,
				Error: "That page link is broken: start again from the first page."})
			return
		}
		oq.BeforeAt, oq.BeforeID = time.UnixMilli(ms), q.Get("id")
	}
	rows, more, err := c.cfg.Store.ConsoleOrders(r.Context(), oq)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	d.Rows = rows
	if more {
		last := rows[len(rows)-1]
		d.NextAt, d.NextID = strconv.FormatInt(last.CreatedAt.UnixMilli(), 10), last.ID
	}
	c.render(w, rq, "orders", page{Title: "Orders", Nav: "orders", Data: d})
}

// releaseOrder resolves a held order: the operator assigns the tier (and seats) it paid for;
// the order becomes pending and its claim job is queued with it.
func (c *Console) releaseOrder(w http.ResponseWriter, r *http.Request, rq *request) {
	id := r.PathValue("id")
	tier := r.PostForm.Get("tier")
	if _, ok := c.cfg.Tiers[tier]; !ok {
		c.redirect(w, r, rq, "/console/orders?state=held", fmt.Sprintf("Order %s not released: pick the tier it paid for.", id))
		return
	}
	seats, err := strconv.Atoi(r.PostForm.Get("seats"))
	if err != nil || seats < 1 || seats > 100 {
		c.redirect(w, r, rq, "/console/orders?state=held", fmt.Sprintf("Order %s not released: seats must be a whole number from 1 to 100.", id))
		return
	}
	if err := c.cfg.Store.ReleaseHeld(r.Context(), id, tier, seats, c.cfg.Prefix, jobs.Job{Args: jobs.ClaimPendingArgs{OrderID: id}}); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.log.Info("console released a held order", "order", id, "tier", tier, "seats", seats)
	c.cfg.Trigger()
	c.redirect(w, r, rq, "/console/orders", fmt.Sprintf("Order %s released as %d × %s: it is claimed as soon as an account is ready, and its e-mail follows.", id, seats, tier))
}

func (c *Console) resendOrder(w http.ResponseWriter, r *http.Request, rq *request) {
	id := r.PathValue("id")
	n, err := c.cfg.Ops.Resend(r.Context(), id)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.redirect(w, r, rq, "/console/orders", fmt.Sprintf("Credentials e-mail of order %s queued again (resend %d), with a fresh password.", id, n))
}

// --- health ---

type healthData struct {
	Rows      []store.AccountRow
	Reapplies []store.EventRow
	Capacity  pool.Capacity // the pools that cannot be refilled in time, and the hosts' forecast
}

func (c *Console) healthPage(w http.ResponseWriter, r *http.Request, rq *request) {
	rows, _, err := c.cfg.Store.ConsoleAccounts(r.Context(), store.AccountQuery{Flagged: true, Limit: 200})
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	evs, err := c.cfg.Store.RecentEvents(r.Context(), 50, pool.EventReapplied, pool.EventReapplyFailed)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	capacity, err := c.cfg.Ops.Capacity(r.Context())
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.render(w, rq, "health", page{Title: "Health", Nav: "health", Data: healthData{Rows: rows, Reapplies: evs, Capacity: capacity}})
}

// --- export ---

type exportData struct {
	Tiers []string
	Tier  string
	Count string
	All   bool
	Ready map[string]int
}

func (c *Console) exportData(r *http.Request) (exportData, error) {
	d := exportData{Tiers: c.cfg.Tiers.Names(), Ready: map[string]int{}}
	rows, err := c.cfg.Ops.Status(r.Context())
	if err != nil {
		return d, err
	}
	for _, t := range rows {
		d.Ready[t.Tier] = t.Counts[string(pool.StateReady)]
	}
	return d, nil
}

func (c *Console) exportPage(w http.ResponseWriter, r *http.Request, rq *request) {
	d, err := c.exportData(r)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.render(w, rq, "export", page{Title: "Export", Nav: "export", Data: d})
}

// export answers the CSV as a download: the accounts in it are reserved (never sold again),
// exactly as `poold export` does.
func (c *Console) export(w http.ResponseWriter, r *http.Request, rq *request) {
	f := r.PostForm
	d, err := c.exportData(r)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	d.Tier, d.Count, d.All = f.Get("tier"), f.Get("count"), f.Get("all") == "on"
	bad := func(msg string) {
		c.render(w, rq, "export", page{Title: "Export", Nav: "export", Data: d, Status: http.StatusBadRequest, Error: msg})
	}
	if f.Get("understood") != "on" {
		bad("Nothing was exported: tick the box that says you understand the accounts become reserved and are never sold again.")
		return
	}
	n := 0
	if !d.All {
		if n, err = strconv.Atoi(strings.TrimSpace(d.Count)); err != nil {
			bad(fmt.Sprintf("Nothing was exported: count %q is not a whole number; enter how many accounts, or tick “every ready account”.", d.Count))
			return
		}
	}
	body, as, err := c.cfg.Ops.Export(r.Context(), d.Tier, n, d.All)
	if err != nil {
		switch {
		case admin.StatusCode(err) == http.StatusBadRequest:
			bad("Nothing was exported: " + formError(err) + ".")
		case errors.Is(err, pool.ErrPoolEmpty):
			bad("Nothing was exported: there is no ready account of that tier. Create some first (Mass create).")
		default:
			c.fail(w, r, rq, err)
		}
		return
	}
	name := "poold-export-" + c.cfg.Clock.Now().UTC().Format("20060102-150405") + ".csv"
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("X-Exported-Count", strconv.Itoa(len(as)))
	w.Write(body)
}

// --- business ---

type businessData struct {
	Configured bool
	Fragment   template.HTML
}

// businessPage shows the business figures (package business draws them, charts included, as a
// fragment without script or inline style, within the console's Content-Security-Policy).
func (c *Console) businessPage(w http.ResponseWriter, r *http.Request, rq *request) {
	d := businessData{}
	if c.cfg.Business != nil {
		rep, err := c.cfg.Business.Report(r.Context())
		if err != nil {
			c.fail(w, r, rq, err)
			return
		}
		var frag bytes.Buffer
		if err := business.Page(&frag, rep); err != nil {
			c.fail(w, r, rq, err)
			return
		}
		d = businessData{Configured: true, Fragment: template.HTML(frag.String())} // html/template output of package business
	}
	c.render(w, rq, "business", page{Title: "Business", Nav: "business", Data: d})
}

// businessCSV downloads the same figures as GET /admin/v1/business.csv.
func (c *Console) businessCSV(w http.ResponseWriter, r *http.Request, rq *request) {
	if c.cfg.Business == nil {
		c.render(w, rq, "business", page{Title: "Business", Nav: "business", Status: http.StatusServiceUnavailable})
		return
	}
	rep, err := c.cfg.Business.Report(r.Context())
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	if err := business.ServeCSV(w, rep); err != nil {
		c.fail(w, r, rq, err)
	}
}

// attachDomain attaches a custom domain to the account (the admin API's checks); a refusal
// changes nothing and says why.
func (c *Console) attachDomain(w http.ResponseWriter, r *http.Request, rq *request) {
	id, err := c.accountID(r)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	to := fmt.Sprintf("/console/accounts/%d", id)
	if c.cfg.Domains == nil {
		c.fail(w, r, rq, admin.ErrDomainsOff)
		return
	}
	d, err := c.cfg.Domains.AttachDomain(r.Context(), strconv.FormatInt(id, 10), r.PostForm.Get("hostname"))
	if err != nil {
		if code := admin.StatusCode(err); code == http.StatusBadRequest || code == http.StatusConflict {
			c.redirect(w, r, rq, to, "Nothing attached: "+err.Error())
			return
		}
		c.fail(w, r, rq, err)
		return
	}
	c.redirect(w, r, rq, to, d.Hostname+" attached: the daemon applies it and e-mails the customer the DNS records.")
}

// detachDomain detaches one of the account's custom domains.
func (c *Console) detachDomain(w http.ResponseWriter, r *http.Request, rq *request) {
	id, err := c.accountID(r)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	if c.cfg.Domains == nil {
		c.fail(w, r, rq, admin.ErrDomainsOff)
		return
	}
	host := r.PostForm.Get("hostname")
	if _, err := c.cfg.Domains.DetachDomain(r.Context(), strconv.FormatInt(id, 10), host); err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.redirect(w, r, rq, fmt.Sprintf("/console/accounts/%d", id), host+" detaching: its route and Cloudflare custom hostname are being removed.")
}
