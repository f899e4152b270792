package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
)

// The operations below are what the JSON routes and the operator console (package console)
// both do: each validates its input, acts on the store, logs and asks the reconciler for a
// pass, so the two front ends cannot drift apart.

// Status is the per-tier picture (GET status, the console's pool page).
func (a *API) Status(ctx context.Context) ([]TierStatus, error) {
	counts, status, err := a.store.Counts(ctx)
	if err != nil {
		return nil, err
	}
	rows := StatusRows(a.tiers, counts, status)
	c, err := a.Capacity(ctx)
	if err != nil {
		return nil, err
	}
	return WithCapacity(rows, c), nil
}

// Capacity is the capacity report now (pool.PlanCapacity): every tier's ready target and refill
// signal, and when the hosts run out. Without a host list (Config.Hosts nil, empty or failing:
// logged) the hosts' capacity is unknown.
func (a *API) Capacity(ctx context.Context) (pool.Capacity, error) {
	var hosts []pool.HostCapacity
	if a.hosts != nil {
		h, err := a.hosts(ctx)
		switch {
		case err != nil:
			a.log.Warn("capacity: the host list is unavailable", "err", err)
		case len(h) > 0:
			hosts = h
		}
	}
	return a.store.Capacity(ctx, a.now(), a.tiers, hosts)
}

// OrdersEnabled reports whether Stripe orders are configured (resends are possible).
func (a *API) OrdersEnabled() bool { return a.resend != nil }

// CreateBatch queues count accounts of tier for provisioning under prefix ("" = the configured
// default) and returns them, in slug order.
func (a *API) CreateBatch(ctx context.Context, tier, prefix string, count int) ([]pool.Account, error) {
	if prefix == "" {
		prefix = a.prefix
	}
	if err := ValidateBatch(a.tiers, count, prefix, tier); err != nil {
		return nil, err
	}
	as, err := a.store.CreateAccounts(ctx, tier, prefix, count)
	if err != nil {
		return nil, err
	}
	a.log.Info("batch created", "tier", tier, "count", len(as), "first", as[0].Slug, "last", as[len(as)-1].Slug)
	a.trigger()
	return as, nil
}

// Export reserves ready accounts (count N, or all) and returns their credentials as CSV. The
// CSV is built inside the reserving transaction: if building fails (or ctx ends) nothing is
// reserved, and no credentials leave for accounts that are not reserved.
func (a *API) Export(ctx context.Context, tier string, count int, all bool) ([]byte, []pool.Account, error) {
	n, err := ValidateExport(a.tiers, tier, count, all)
	if err != nil {
		return nil, nil, err
	}
	var body bytes.Buffer
	as, err := a.store.Reserve(ctx, tier, n, func(as []pool.Account) error {
		if len(as) == 0 {
			return fmt.Errorf("export: %w", pool.ErrPoolEmpty)
		}
		if err := WriteCSV(&body, as); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, nil, err
	}
	slugs := make([]string, len(as))
	for i, acc := range as {
		slugs[i] = acc.Slug
	}
	// Logged so that the operator can tell which accounts left, should the response be lost.
	a.log.Info("accounts exported and reserved", "tier", tier, "count", len(as), "accounts", slugs)
	a.trigger()
	return body.Bytes(), as, nil
}

// Retire retires an account by id or slug with the CLI's safety: a sold account needs force
// (then it is suspended and destroyed after the grace, or at once with now); without force it
// is refused (pool.ErrForceRequired) and nothing changes.
func (a *API) Retire(ctx context.Context, ref string, force, now bool) (pool.Account, pool.RetireHow, error) {
	id, err := strconv.ParseInt(ref, 10, 64)
	if err != nil {
		acc, err := a.store.GetBySlug(ctx, ref)
		if err != nil {
			return acc, 0, err
		}
		id = acc.ID
	}
	acc, how, err := a.store.RequestRetire(ctx, id, store.RetireRequest{Force: force, Now: now, Grace: a.grace})
	if err != nil {
		return acc, how, err
	}
	if how == pool.RetireAfterGrace {
		a.log.Warn("sold account retired: tenant suspended, destroyed after the grace", "account", acc.Slug, "tier", acc.Tier,
			"destroy_after", acc.RetireAt.Format(time.RFC3339))
	} else {
		a.log.Info("account retired", "account", acc.Slug, "tier", acc.Tier, "forced", force)
	}
	a.trigger()
	return acc, how, nil
}

// SetPaused pauses or resumes a tier's provisioning.
func (a *API) SetPaused(ctx context.Context, tier string, paused bool) error {
	if err := validTier(a.tiers, tier); err != nil {
		return err
	}
	if err := a.store.SetPaused(ctx, tier, paused); err != nil {
		return err
	}
	if paused {
		a.log.Info("tier paused", "tier", tier)
	} else {
		a.log.Info("tier resumed", "tier", tier)
		a.trigger()
	}
	return nil
}

// Resend queues an order's credentials e-mail again (with a fresh password) and returns the
// resend's number. What the operator can fix (no account yet, nothing to resend) is refused
// before the orders service is asked.
func (a *API) Resend(ctx context.Context, orderID string) (int, error) {
	if a.resend == nil {
		return 0, fmt.Errorf("%w: Stripe orders are not configured on this daemon", errUnavailable)
	}
	o, err := a.store.GetOrder(ctx, orderID)
	if err != nil {
		return 0, err
	}
	if o.AccountID == 0 {
		return 0, fmt.Errorf("%w: order %s is %s: it has no account yet (its e-mail goes out once it has)", errConflict, o.ID, o.State)
	}
	acc, err := a.store.Get(ctx, o.AccountID)
	if err != nil {
		return 0, err
	}
	switch acc.State {
	case pool.StateClaimed, pool.StateDelivered, pool.StateSuspended:
	default:
		return 0, fmt.Errorf("%w: order %s: account %s is %s: no credentials to resend", errConflict, o.ID, acc.Slug, acc.State)
	}
	n, err := a.resend(ctx, orderID)
	if err != nil {
		return 0, err
	}
	a.log.Info("order resend queued", "order", orderID, "resend", n)
	return n, nil
}

// SignIn checks an admin token presented by src (a remote address) for a front end other than
// the bearer header (the console's sign-in form), under the same failure limit as the API: it
// returns ok, or how long src must wait before trying again (> 0 when refused for too many
// failures, in which case the token was not even compared).
func (a *API) SignIn(src, token string) (ok bool, wait time.Duration) {
	if wait := a.fails.blocked(src); wait > 0 {
		return false, wait
	}
	if a.tokenOK(token) {
		return true, 0
	}
	a.fails.fail(src)
	a.log.Warn("console sign-in refused", "remote", src)
	return false, 0
}

// Source is the address a request comes from, as the failure limit counts it.
func Source(r *http.Request) string { return source(r) }

// StatusCode is the HTTP status an operation's error answers with: 400 for bad input, 404,
// 409 for a conflict (a sold account without force, an empty pool), 503, 502, else 500 (whose
// message must not be shown: it may be internal).
func StatusCode(err error) int {
	var (
		he *httpError
		fe *FieldError
	)
	switch {
	case errors.As(err, &he):
		return he.code
	case errors.As(err, &fe):
		return http.StatusBadRequest
	case errors.Is(err, pool.ErrUnknownTier):
		return http.StatusBadRequest
	case errors.Is(err, pool.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, pool.ErrIllegalTransition), errors.Is(err, pool.ErrPoolEmpty), errors.Is(err, pool.ErrForceRequired),
		errors.Is(err, errConflict):
		return http.StatusConflict
	case errors.Is(err, errUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, errBadGateway):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// ErrUnavailable marks an operation this daemon is not configured for (StatusCode: 503).
var ErrUnavailable = errUnavailable

// SetTier moves a sold account (by id or slug) to another tier in place — the operator's plan
// change, through the same store path as a Stripe price change: the account and its order get
// the tier, its stack is re-applied on the same volume by a durable job, and a downgrade's
// excess custom domains are detached after the notice period. It reports the change and
// whether anything changed (false: the account already has the tier). An unknown tier is 400,
// an account that is not sold 409; neither changes anything.
func (a *API) SetTier(ctx context.Context, ref, tier string) (pool.Account, pool.PlanChange, bool, error) {
	if err := validTier(a.tiers, tier); err != nil {
		return pool.Account{}, pool.PlanChange{}, false, err
	}
	acc, err := a.account(ctx, ref)
	if err != nil {
		return acc, pool.PlanChange{}, false, err
	}
	c, changed, err := a.store.ChangePlan(ctx, acc.ID, store.PlanRequest{Source: pool.PlanByOperator, ToTier: tier, Tiers: a.tiers, Notice: a.notice})
	if err != nil {
		return acc, c, false, err
	}
	if changed {
		a.log.Info("plan changed by the operator; re-apply queued", "account", acc.Slug, "tier", tier, "from", c.FromTier,
			"detach_at", c.DetachAt)
	}
	acc, err = a.store.Get(ctx, acc.ID)
	return acc, c, changed, err
}

// HeldPlans lists the plan changes held for the operator (a Stripe price no tier sells).
func (a *API) HeldPlans(ctx context.Context) ([]pool.PlanChange, error) {
	return a.store.HeldPlanChanges(ctx, 500)
}

// account finds an account by id or slug.
func (a *API) account(ctx context.Context, ref string) (pool.Account, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return a.store.Get(ctx, id)
	}
	return a.store.GetBySlug(ctx, ref)
}
