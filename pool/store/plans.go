package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
)

// PlanRequest asks for a sold account's tier to change in place.
type PlanRequest struct {
	Source pool.PlanSource
	// ToTier is the new tier; "" holds the change for the operator (Held says why).
	ToTier string
	Held   string
	// PriceID is the Stripe price that asked for the change (empty for the operator).
	PriceID string
	// At is when the change was decided: the Stripe event's creation time; zero is the
	// operator's change, now on the store's clock and never stale. A request older than the account's last decision changes nothing.
	At time.Time
	// Tiers are the configured tiers: ToTier must be one, and their custom domain allowances
	// tell a downgrade.
	Tiers pool.Tiers
	// Notice is how long a downgrade's customer keeps custom domains beyond the new allowance.
	Notice time.Duration
}

const planCols = `id, account_id, order_id, subscription_id, price_id, from_tier, to_tier, source, state,
	decided_at, created_at, applied_at, generation, detach_at, last_error`

func scanPlan(r scanner) (pool.PlanChange, error) {
	var (
		c                                   pool.PlanChange
		source, state                       string
		decided, created, applied, detachAt int64
	)
	err := r.Scan(&c.ID, &c.AccountID, &c.OrderID, &c.SubscriptionID, &c.PriceID, &c.FromTier, &c.ToTier, &source, &state,
		&decided, &created, &applied, &c.Generation, &detachAt, &c.LastError)
	c.Source, c.State = pool.PlanSource(source), pool.PlanState(state)
	c.DecidedAt, c.CreatedAt, c.AppliedAt, c.DetachAt = msTime(decided), msTime(created), msTime(applied), msTime(detachAt)
	return c, err
}

func (s *Store) queryPlans(ctx context.Context, q querier, query string, args ...any) ([]pool.PlanChange, error) {
	rows, err := q.QueryContext(ctx, s.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("plan changes: %w", err)
	}
	defer rows.Close()
	var out []pool.PlanChange
	for rows.Next() {
		c, err := scanPlan(rows)
		if err != nil {
			return nil, fmt.Errorf("plan changes: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// PlanChange returns one plan change by id.
func (s *Store) PlanChange(ctx context.Context, id int64) (pool.PlanChange, error) {
	cs, err := s.queryPlans(ctx, s.db, `SELECT `+planCols+` FROM plan_changes WHERE id = ?`, id)
	if err != nil {
		return pool.PlanChange{}, err
	}
	if len(cs) == 0 {
		return pool.PlanChange{}, fmt.Errorf("plan change %d: %w", id, pool.ErrNotFound)
	}
	return cs[0], nil
}

// PlanChanges returns an account's plan changes, oldest first.
func (s *Store) PlanChanges(ctx context.Context, accountID int64) ([]pool.PlanChange, error) {
	return s.queryPlans(ctx, s.db, `SELECT `+planCols+` FROM plan_changes WHERE account_id = ? ORDER BY id`, accountID)
}

// HeldPlanChanges returns the plan changes held for the operator (a price no tier sells), oldest
// first.
func (s *Store) HeldPlanChanges(ctx context.Context, limit int) ([]pool.PlanChange, error) {
	return s.queryPlans(ctx, s.db, `SELECT `+planCols+` FROM plan_changes WHERE state = 'held' ORDER BY id LIMIT ?`, max(limit, 1))
}

// ChangePlan changes one account's tier in place (the operator's change): in one transaction
// the account and its order get the new tier, the change is recorded with the account's
// history, and its re-apply job — and for a downgrade the notice and the detach of excess
// custom domains — are enqueued. It returns the change and whether anything changed (false: the
// account already has the tier). An account that is not sold is refused (ErrIllegalTransition)
// and nothing changes.
func (s *Store) ChangePlan(ctx context.Context, accountID int64, req PlanRequest) (pool.PlanChange, bool, error) {
	var (
		c       pool.PlanChange
		changed bool
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.lockAccount(ctx, tx, accountID)
		if err != nil {
			return err
		}
		if err := pool.Plannable(a.State); err != nil {
			return fmt.Errorf("change plan of %s: %w", a.Slug, err)
		}
		orderID, err := s.accountOrder(ctx, tx, a.ID)
		if err != nil {
			return err
		}
		c, changed, err = s.changePlanTx(ctx, tx, a, orderID, "", req)
		return err
	})
	return c, changed, err
}

// ChangeSubscriptionPlan applies a Stripe subscription's new price once (by event id): every
// sold account of the subscription's orders changes tier as ChangePlan does (or the change is
// held when req.ToTier is ""). A subscription whose newest status is terminal (canceled,
// incomplete_expired) changes nothing, and neither does an event older than an account's last
// plan decision. It returns the changes recorded (held ones included).
func (s *Store) ChangeSubscriptionPlan(ctx context.Context, eventID, eventType, subscriptionID string, req PlanRequest) ([]pool.PlanChange, error) {
	var out []pool.PlanChange
	err := s.applyEvent(ctx, eventID, eventType, func(tx *sql.Tx) error {
		var rank int
		err := tx.QueryRowContext(ctx, s.rebind(`SELECT status_rank FROM stripe_subscriptions WHERE id = ?`), subscriptionID).Scan(&rank)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("subscription status: %w", err)
		}
		if rank >= terminalRank {
			return nil // canceled stays canceled: its tenant is on its way out
		}
		os, err := s.ordersBySubscription(ctx, tx, subscriptionID)
		if err != nil {
			return err
		}
		for _, o := range os {
			if o.Ended != "" {
				continue
			}
			as, err := s.orderAccounts(ctx, tx, o.ID)
			if err != nil {
				return err
			}
			for _, x := range as {
				a, err := s.lockAccount(ctx, tx, x.ID)
				if err != nil {
					return err
				}
				if pool.Plannable(a.State) != nil {
					continue
				}
				c, changed, err := s.changePlanTx(ctx, tx, a, o.ID, subscriptionID, req)
				if err != nil {
					return err
				}
				if changed {
					out = append(out, c)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// accountOrder is the order an account was sold by ("" for none: a manual sale).
func (s *Store) accountOrder(ctx context.Context, tx *sql.Tx, accountID int64) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, s.rebind(`SELECT order_id FROM order_accounts WHERE account_id = ?`), accountID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("account order: %w", err)
	}
	return id, nil
}

// changePlanTx applies req to a (locked in tx). It reports whether a change was recorded.
func (s *Store) changePlanTx(ctx context.Context, tx *sql.Tx, a pool.Account, orderID, subscriptionID string, req PlanRequest) (pool.PlanChange, bool, error) {
	var last int64
	if err := tx.QueryRowContext(ctx, s.rebind(`SELECT tier_at FROM accounts WHERE id = ?`), a.ID).Scan(&last); err != nil {
		return pool.PlanChange{}, false, fmt.Errorf("account %d tier time: %w", a.ID, err)
	}
	now, at := s.nowMS(), req.At.UnixMilli()
	if req.At.IsZero() {
		// The operator's change: now on the store's clock, and never older than the last
		// decision (a Stripe event stamped ahead of this clock): the operator decides knowing it.
		at = max(now, last)
	}
	decision := pool.DecidePlan(a.Tier, msTime(last), req.ToTier, time.UnixMilli(at))
	if decision == pool.PlanStale {
		return pool.PlanChange{}, false, nil
	}
	var to pool.Tier
	if decision == pool.PlanChangeTier {
		var err error
		if to, err = req.Tiers.Get(req.ToTier); err != nil {
			return pool.PlanChange{}, false, err
		}
	}
	// A held change is replaced by any newer decision; one still applying only by a new tier
	// (whose own re-apply brings it), never by a hold or the same tier (its re-apply must run).
	replaced := "'held'"
	if decision == pool.PlanChangeTier {
		replaced = "'held', 'applying'"
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE plan_changes SET state = 'superseded'
		WHERE account_id = ? AND state IN (`+replaced+`)`), a.ID); err != nil {
		return pool.PlanChange{}, false, fmt.Errorf("supersede plan changes: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET tier_at = ? WHERE id = ?`), at, a.ID); err != nil {
		return pool.PlanChange{}, false, fmt.Errorf("account tier time: %w", err)
	}
	if decision == pool.PlanSame {
		return pool.PlanChange{}, false, nil
	}
	c := pool.PlanChange{AccountID: a.ID, OrderID: orderID, SubscriptionID: subscriptionID, PriceID: req.PriceID,
		FromTier: a.Tier, ToTier: req.ToTier, Source: req.Source, State: pool.PlanApplying, DecidedAt: msTime(at), CreatedAt: msTime(now)}
	var then []jobs.Job
	kind, detail := pool.EventPlanChanged, fmt.Sprintf("%s → %s by the %s", a.Tier, req.ToTier, req.Source)
	if req.PriceID != "" {
		detail += " (price " + req.PriceID + ")"
	}
	if decision == pool.PlanHold {
		c.State, c.LastError = pool.PlanHeld, req.Held
		kind, detail = pool.EventPlanHeld, fmt.Sprintf("held for the operator: %s; the tenant stays %s", req.Held, a.Tier)
	} else {
		if from, err := req.Tiers.Get(a.Tier); err == nil && pool.Downgrade(from, to) {
			c.DetachAt = msTime(now + req.Notice.Milliseconds())
			detail += fmt.Sprintf("; custom domains beyond %d detached after %s", to.CustomDomains, c.DetachAt.UTC().Format(time.RFC3339))
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET tier = ?, updated_at = ? WHERE id = ?`), req.ToTier, now, a.ID); err != nil {
			return pool.PlanChange{}, false, fmt.Errorf("account tier: %w", err)
		}
		if orderID != "" {
			// The order's tier follows once every seat has it (the business figures count it).
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE orders SET tier = ?, updated_at = ? WHERE id = ? AND NOT EXISTS (
				SELECT 1 FROM order_accounts oa JOIN accounts x ON x.id = oa.account_id WHERE oa.order_id = orders.id AND x.tier <> ?)`),
				req.ToTier, now, orderID, req.ToTier); err != nil {
				return pool.PlanChange{}, false, fmt.Errorf("order tier: %w", err)
			}
		}
	}
	id, err := s.bump(ctx, tx, "plan_change", 1)
	if err != nil {
		return pool.PlanChange{}, false, err
	}
	c.ID = id
	if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO plan_changes (`+planCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', ?, ?)`),
		c.ID, c.AccountID, c.OrderID, c.SubscriptionID, c.PriceID, c.FromTier, c.ToTier, string(c.Source), string(c.State),
		at, now, unixMS(c.DetachAt), clip(c.LastError)); err != nil {
		return pool.PlanChange{}, false, fmt.Errorf("insert plan change: %w", err)
	}
	if decision == pool.PlanChangeTier {
		then = append(then, jobs.Job{Args: jobs.PlanApplyArgs{ChangeID: c.ID}})
		if !c.DetachAt.IsZero() {
			then = append(then, jobs.Job{Args: jobs.PlanNoticeArgs{ChangeID: c.ID}},
				jobs.Job{Args: jobs.PlanDetachArgs{ChangeID: c.ID}, ScheduledAt: c.DetachAt})
		}
	}
	if err := s.addEventTx(ctx, tx, a.ID, now, kind, clip(detail)); err != nil {
		return pool.PlanChange{}, false, err
	}
	if err := s.insertJobs(ctx, tx, then...); err != nil {
		return pool.PlanChange{}, false, err
	}
	return c, true, nil
}

// FinishPlanChange records how a plan change's re-apply ended: applied (with the generation the
// tenant now runs, which the account records too while it still has the change's tier),
// waiting, failed or superseded (with a reason), and adds it to the account's history. A change
// no longer applying is left alone.
func (s *Store) FinishPlanChange(ctx context.Context, id int64, state pool.PlanState, generation, reason string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		cs, err := s.queryPlans(ctx, tx, `SELECT `+planCols+` FROM plan_changes WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			return fmt.Errorf("plan change %d: %w", id, pool.ErrNotFound)
		}
		c, now := cs[0], s.nowMS()
		if c.State != pool.PlanApplying {
			return nil
		}
		applied := int64(0)
		if state == pool.PlanApplied {
			applied = now
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET generation = ?, updated_at = ? WHERE id = ? AND tier = ?`),
				generation, now, c.AccountID, c.ToTier); err != nil {
				return fmt.Errorf("account generation: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE plan_changes SET state = ?, applied_at = ?, generation = ?, last_error = ?
			WHERE id = ?`), string(state), applied, generation, clip(reason), id); err != nil {
			return fmt.Errorf("finish plan change: %w", err)
		}
		kind, detail := pool.EventPlanApplied, fmt.Sprintf("%s → %s applied: same stack and volume, generation %s", c.FromTier, c.ToTier, generation)
		switch state {
		case pool.PlanApplied:
		case pool.PlanFailed:
			kind, detail = pool.EventPlanApplyFailed, fmt.Sprintf("%s → %s: re-apply failed: %s", c.FromTier, c.ToTier, reason)
		default:
			kind, detail = pool.EventPlanChanged, fmt.Sprintf("%s → %s %s: %s", c.FromTier, c.ToTier, state, reason)
		}
		return s.addEventTx(ctx, tx, c.AccountID, now, kind, clip(detail))
	})
}
