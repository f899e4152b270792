package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
)

// OrderState is where a paid order is: held (for the operator: LastError says why), pending (no
// account yet), claimed (account claimed, credentials not yet accepted by the SMTP server),
// delivered.
type OrderState string

// The order states.
const (
	OrderHeld      OrderState = "held"
	OrderPending   OrderState = "pending"
	OrderClaimed   OrderState = "claimed"
	OrderDelivered OrderState = "delivered"
)

// Order is one paid Stripe Checkout Session. Its ID (the session id) is also the claim's order
// id, so the same order always gets the same account.
type Order struct {
	ID             string
	State          OrderState
	Tier           string // "" while held
	TierKeys       []string
	CustomerEmail  string
	CustomerName   string
	CustomerID     string
	SubscriptionID string
	AccountID      int64 // 0 until claimed; seat 1's account
	Seats          int   // accounts the order buys (0 is read as 1)
	Resends        int
	SuspendedAt    time.Time
	LastError      string
	PaymentIntent  string    // a one-time payment's PaymentIntent (refunds and disputes find the order by it)
	Ended          string    // why the order ended on its own (refunded, dispute lost, term over); "" = not
	TermEndsAt     time.Time // a one-time payment's end; zero for a subscription
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ClaimedAt      time.Time
	DeliveredAt    time.Time
}

const orderCols = `id, state, tier, tier_keys, customer_email, customer_name, customer_id, subscription_id,
	account_id, resends, suspended_at, last_error, created_at, updated_at, claimed_at, delivered_at,
	payment_intent, ended, term_ends_at, seats`

type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

func (s *Store) queryOrders(ctx context.Context, q querier, query string, args ...any) ([]Order, error) {
	rows, err := q.QueryContext(ctx, s.rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		var r orderRow
		if err := rows.Scan(r.dests()...); err != nil {
			return nil, err
		}
		out = append(out, r.order())
	}
	return out, rows.Err()
}

// orderRow receives the orderCols of one row. Every column is nullable here, so a statement
// can return an order that is not there (an outer join): its id is then not valid.
type orderRow struct {
	id, state, tier, keys, email, name, customer, subscription sql.NullString
	lastError, paymentIntent, ended                            sql.NullString
	account, suspended, created, updated, claimed, delivered   sql.NullInt64
	termEnds, resends, seats                                   sql.NullInt64
}

func (r *orderRow) dests() []any {
	return []any{&r.id, &r.state, &r.tier, &r.keys, &r.email, &r.name, &r.customer, &r.subscription, &r.account,
		&r.resends, &r.suspended, &r.lastError, &r.created, &r.updated, &r.claimed, &r.delivered,
		&r.paymentIntent, &r.ended, &r.termEnds, &r.seats}
}

func (r *orderRow) order() Order {
	o := Order{
		ID: r.id.String, State: OrderState(r.state.String), Tier: r.tier.String, CustomerEmail: r.email.String,
		CustomerName: r.name.String, CustomerID: r.customer.String, SubscriptionID: r.subscription.String,
		AccountID: r.account.Int64, Seats: int(r.seats.Int64), Resends: int(r.resends.Int64), LastError: r.lastError.String,
		PaymentIntent: r.paymentIntent.String, Ended: r.ended.String,
	}
	if r.keys.String != "" {
		o.TierKeys = strings.Split(r.keys.String, ",")
	}
	o.SuspendedAt, o.CreatedAt, o.UpdatedAt = msTime(r.suspended.Int64), msTime(r.created.Int64), msTime(r.updated.Int64)
	o.ClaimedAt, o.DeliveredAt, o.TermEndsAt = msTime(r.claimed.Int64), msTime(r.delivered.Int64), msTime(r.termEnds.Int64)
	return o
}

// GetOrder returns one order by id (the Checkout Session id).
func (s *Store) GetOrder(ctx context.Context, id string) (Order, error) {
	return s.getOrder(ctx, s.db, id, false)
}

func (s *Store) getOrder(ctx context.Context, q querier, id string, lock bool) (Order, error) {
	query := `SELECT ` + orderCols + ` FROM orders WHERE id = ?`
	if lock && s.pg {
		query += " FOR UPDATE"
	}
	os, err := s.queryOrders(ctx, q, query, id)
	if err != nil {
		return Order{}, fmt.Errorf("get order: %w", err)
	}
	if len(os) == 0 {
		return Order{}, fmt.Errorf("order %q: %w", id, pool.ErrNotFound)
	}
	return os[0], nil
}

// ordersBySubscription returns the orders of a Stripe subscription (normally one).
func (s *Store) ordersBySubscription(ctx context.Context, tx *sql.Tx, subscriptionID string) ([]Order, error) {
	if subscriptionID == "" {
		return nil, nil
	}
	os, err := s.queryOrders(ctx, tx, `SELECT `+orderCols+` FROM orders WHERE subscription_id = ? ORDER BY created_at`, subscriptionID)
	if err != nil {
		return nil, fmt.Errorf("orders of subscription: %w", err)
	}
	return os, nil
}

// OrderFilter selects orders for ListOrders.
type OrderFilter struct {
	State OrderState // "" = all
	Limit int        // 0 = no limit
}

// ListOrders returns orders, oldest first.
func (s *Store) ListOrders(ctx context.Context, f OrderFilter) ([]Order, error) {
	q := `SELECT ` + orderCols + ` FROM orders`
	var args []any
	if f.State != "" {
		q += ` WHERE state = ?`
		args = append(args, string(f.State))
	}
	q += ` ORDER BY created_at, id`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	os, err := s.queryOrders(ctx, s.db, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return os, nil
}

// EventSeen reports whether a Stripe event was already applied (a cheap pre-check; the
// transaction that applies an event is the authority).
func (s *Store) EventSeen(ctx context.Context, eventID string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM stripe_events WHERE id = ?`), eventID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("event seen: %w", err)
	}
	return true, nil
}

// recordEvent records a Stripe event id inside tx and reports whether it is new. A concurrent
// transaction recording the same id makes this one wait (PostgreSQL) and then see it as old.
func (s *Store) recordEvent(ctx context.Context, tx *sql.Tx, eventID, eventType string) (bool, error) {
	if eventID == "" {
		return true, nil
	}
	res, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO stripe_events (id, type, received_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO NOTHING`), eventID, eventType, s.nowMS())
	if err != nil {
		return false, fmt.Errorf("record event: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record event: %w", err)
	}
	return n == 1, nil
}

// applyEvent runs fn in one transaction with recording the Stripe event id: fn runs only for an
// event not applied before, and a failing fn leaves the event unrecorded (Stripe retries it).
func (s *Store) applyEvent(ctx context.Context, eventID, eventType string, fn func(tx *sql.Tx) error) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		fresh, err := s.recordEvent(ctx, tx, eventID, eventType)
		if err != nil || !fresh {
			return err
		}
		return fn(tx)
	})
}

// statusRank orders subscription statuses that Stripe reports in the same second (later in a
// lifecycle ranks higher); canceled and incomplete_expired are terminal (rank ≥ terminalRank)
// and are never replaced.
func statusRank(status string) int {
	switch status {
	case "incomplete":
		return 1
	case "trialing":
		return 2
	case "active":
		return 3
	case "past_due":
		return 4
	case "paused":
		return 5
	case "unpaid":
		return 6
	case "incomplete_expired":
		return terminalRank
	case "canceled":
		return terminalRank + 1
	}
	return 0
}

const terminalRank = 7

// SetSubscriptionStatus applies a subscription event once (by event id): it records the
// subscription's status as of at (the event's creation time) and, when that is the newest known
// status, enqueues a sync job for each of the subscription's orders, in one transaction. A
// terminal status (canceled, incomplete_expired) is never replaced, and two statuses of the same
// second are ordered by their precedence (statusRank), not by arrival. It reports whether the
// status was the newest and how many syncs were queued.
func (s *Store) SetSubscriptionStatus(ctx context.Context, eventID, eventType, subscriptionID, status string, at time.Time) (newest bool, synced int, err error) {
	err = s.applyEvent(ctx, eventID, eventType, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO stripe_subscriptions (id, status, status_at, status_rank, status_since)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET status = excluded.status, status_at = excluded.status_at,
				status_rank = excluded.status_rank,
				status_since = CASE WHEN stripe_subscriptions.status = excluded.status THEN stripe_subscriptions.status_since
					ELSE excluded.status_at END
			WHERE stripe_subscriptions.status_rank < ? AND (stripe_subscriptions.status_at < excluded.status_at
				OR (stripe_subscriptions.status_at = excluded.status_at AND stripe_subscriptions.status_rank <= excluded.status_rank))`),
			subscriptionID, status, at.UnixMilli(), statusRank(status), at.UnixMilli(), terminalRank)
		if err != nil {
			return fmt.Errorf("subscription status: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err
		}
		newest = true
		os, err := s.ordersBySubscription(ctx, tx, subscriptionID)
		if err != nil {
			return err
		}
		for _, o := range os {
			if err := s.insertJobs(ctx, tx, jobs.Job{Args: jobs.SyncArgs{OrderID: o.ID}}); err != nil {
				return err
			}
		}
		synced = len(os)
		return nil
	})
	if err != nil {
		return false, 0, err
	}
	return newest, synced, nil
}

// EndOrder applies a refund or dispute event once (by event id): the order paid by
// paymentIntent — else the only order of customer — is marked ended with reason and a sync job
// suspends its tenant, in one transaction. It returns the ended order's id ("" when no order
// matches: several orders of one customer are left for the operator).
func (s *Store) EndOrder(ctx context.Context, eventID, eventType, paymentIntent, customer, reason string) (string, error) {
	var id string
	err := s.applyEvent(ctx, eventID, eventType, func(tx *sql.Tx) error {
		var os []Order
		var err error
		if paymentIntent != "" {
			if os, err = s.queryOrders(ctx, tx, `SELECT `+orderCols+` FROM orders WHERE payment_intent = ?`, paymentIntent); err != nil {
				return fmt.Errorf("end order: %w", err)
			}
		}
		if len(os) == 0 && customer != "" {
			if os, err = s.queryOrders(ctx, tx, `SELECT `+orderCols+` FROM orders WHERE customer_id = ?`, customer); err != nil {
				return fmt.Errorf("end order: %w", err)
			}
		}
		if len(os) != 1 {
			return nil
		}
		id = os[0].ID
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE orders SET ended = ?, updated_at = ? WHERE id = ? AND ended = ''`),
			reason, s.nowMS(), id); err != nil {
			return fmt.Errorf("end order: %w", err)
		}
		return s.insertJobs(ctx, tx, jobs.Job{Args: jobs.SyncArgs{OrderID: id}})
	})
	return id, err
}

// QueuePaymentNotice applies an invoice.payment_failed event once (by event id): it enqueues
// notice for the subscription's first order, taking the order's id and, where notice leaves
// them empty, its customer's e-mail, name and tier. It reports whether a notice was queued
// (false when no order has the subscription, or the event was applied before).
func (s *Store) QueuePaymentNotice(ctx context.Context, eventID, eventType, subscriptionID string, notice jobs.NoticeArgs) (bool, error) {
	queued := false
	err := s.applyEvent(ctx, eventID, eventType, func(tx *sql.Tx) error {
		os, err := s.ordersBySubscription(ctx, tx, subscriptionID)
		if err != nil || len(os) == 0 {
			return err
		}
		o := os[0]
		notice.OrderID = o.ID
		notice.Email = cmp.Or(notice.Email, o.CustomerEmail)
		notice.Name = cmp.Or(notice.Name, o.CustomerName)
		notice.Tier = cmp.Or(notice.Tier, o.Tier)
		queued = true
		return s.insertJobs(ctx, tx, jobs.Job{Args: notice})
	})
	return queued && err == nil, err
}

// ClaimOrder claims a ready account of o.Tier for order o (through Claim, so the same order
// always gets the same account) and, in the claim's transaction, records the Stripe event,
// writes the order as claimed (inserting it, or advancing it from pending) and inserts the jobs
// in then (its delivery). An empty pool returns pool.ErrPoolEmpty and changes nothing.
// created is false when the order already had its account; then nothing is written.
func (s *Store) ClaimOrder(ctx context.Context, o Order, eventID, eventType string, then ...jobs.Job) (Order, bool, error) {
	if o.ID == "" || o.Tier == "" {
		return o, false, errors.New("claim order: order id and tier are required")
	}
	in := o
	var (
		stmt     claimStatement
		upserted orderRow // PostgreSQL: the order as the claim's statement wrote it
	)
	if s.pg {
		// The claim, the Stripe event, the order and its first seat in one statement: one
		// round trip instead of four, each of which held one of the replica's connections
		// while a burst's webhooks and jobs waited for them (BENCHMARKS.md, issue 11).
		stmt = func(ctx context.Context, q rowQuerier) (pool.Account, bool, error) {
			upserted = orderRow{}
			return s.claimOrderPGStatement(ctx, q, in, eventID, eventType, &upserted)
		}
	}
	a, created, err := s.claim(ctx, o.Tier, o.ID, stmt, func(ctx context.Context, tx *sql.Tx, a pool.Account) error {
		var (
			stored Order
			err    error
		)
		if s.pg {
			if upserted.id.Valid {
				stored = upserted.order()
			} else if stored, err = s.getOrder(ctx, tx, o.ID, false); err != nil {
				return err // the order was there already and not pending: its account is checked below
			}
		} else {
			if _, err := s.recordEvent(ctx, tx, eventID, eventType); err != nil {
				return err
			}
			now := s.nowMS()
			// A new order is inserted claimed, a pending one advanced to claimed, in one statement
			// that returns the stored row; any other existing order is left as it is and read.
			got, err := s.queryOrders(ctx, tx, `INSERT INTO orders (id, state, tier, tier_keys, customer_email, customer_name,
			customer_id, subscription_id, account_id, created_at, updated_at, claimed_at, payment_intent, term_ends_at, seats)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET state = 'claimed', tier = excluded.tier, account_id = excluded.account_id,
				claimed_at = excluded.claimed_at, updated_at = excluded.updated_at, last_error = ''
			WHERE orders.state = 'pending'
			RETURNING `+orderCols, o.ID, string(OrderClaimed), o.Tier, strings.Join(o.TierKeys, ","), o.CustomerEmail,
				o.CustomerName, o.CustomerID, o.SubscriptionID, a.ID, now, now, now, o.PaymentIntent, unixMS(o.TermEndsAt), o.seats())
			if err != nil {
				return fmt.Errorf("claim order: %w", err)
			}
			if len(got) == 1 {
				stored = got[0]
			} else if stored, err = s.getOrder(ctx, tx, o.ID, false); err != nil {
				return err
			}
		}
		if stored.AccountID != a.ID {
			return fmt.Errorf("claim order %s: order has account %d, claim gave %d", o.ID, stored.AccountID, a.ID)
		}
		// Every seat in this transaction: all of them, or none (an empty pool rolls back seat 1 too).
		ids := []int64{a.ID}
		for seat := 2; seat <= stored.seats(); seat++ {
			b, err := s.claimSeatTx(ctx, tx, o.Tier, SeatKey(o.ID, seat))
			if err != nil {
				return err
			}
			ids = append(ids, b.ID)
		}
		for i, id := range ids {
			if i == 0 && s.pg {
				continue // the claim's statement wrote seat 1
			}
			if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO order_accounts (order_id, seat, account_id) VALUES (?, ?, ?)
				ON CONFLICT (order_id, seat) DO NOTHING`), o.ID, i+1, id); err != nil {
				return fmt.Errorf("claim order seats: %w", err)
			}
		}
		o = stored
		return s.insertJobs(ctx, tx, then...)
	})
	if err != nil {
		return o, false, err
	}
	if !created {
		if stored, err := s.GetOrder(ctx, o.ID); err == nil {
			o = stored
		} else {
			o.AccountID = a.ID
		}
	}
	return o, created, nil
}

// claimOrderPGQuery is ClaimOrder's claim on PostgreSQL: claimPGQuery, and for a new claim, in
// the same statement, the Stripe event recorded, the order inserted claimed (or advanced from
// pending; any other existing order is left as it is) and its first seat. Each row is the
// claimed (or prior) account, then the order as written — NULLs when the order was not
// written. The claim's UPDATE runs before the writes that read it, so two claims of one order
// still meet at the unique order_id first (claim retries then).
var claimOrderPGQuery = `WITH prior AS (
	SELECT ` + accountCols + ` FROM accounts WHERE order_id = $1
), claimed AS (
	UPDATE accounts SET state = 'claimed', order_id = $1, claimed_at = $3, updated_at = $3
	WHERE id = (SELECT id FROM accounts WHERE state = 'ready' AND tier = $2
		AND NOT EXISTS (SELECT 1 FROM prior) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
	RETURNING ` + accountCols + `
), event AS (
	INSERT INTO stripe_events (id, type, received_at) SELECT $4, $5, $3 FROM claimed WHERE $4 <> ''
	ON CONFLICT (id) DO NOTHING
), stored AS (
	INSERT INTO orders (id, state, tier, tier_keys, customer_email, customer_name, customer_id, subscription_id,
		account_id, created_at, updated_at, claimed_at, payment_intent, term_ends_at, seats)
	SELECT $1, 'claimed', $2, $6, $7, $8, $9, $10, claimed.id, $3, $3, $3, $11, $12, $13 FROM claimed
	ON CONFLICT (id) DO UPDATE SET state = 'claimed', tier = excluded.tier, account_id = excluded.account_id,
		claimed_at = excluded.claimed_at, updated_at = excluded.updated_at, last_error = ''
	WHERE orders.state = 'pending'
	RETURNING ` + orderCols + `
), seat AS (
	INSERT INTO order_accounts (order_id, seat, account_id) SELECT $1, 1, id FROM claimed
	ON CONFLICT (order_id, seat) DO NOTHING
), got AS (
	SELECT false AS created, * FROM prior UNION ALL SELECT true, * FROM claimed
)
SELECT got.*, ` + prefixCols("stored.", orderCols) + ` FROM got LEFT JOIN stored ON true`

// claimOrderPGStatement runs claimOrderPGQuery; the order as written goes to stored (its id
// not valid when it was not written).
func (s *Store) claimOrderPGStatement(ctx context.Context, q rowQuerier, o Order, eventID, eventType string, stored *orderRow) (pool.Account, bool, error) {
	var created bool
	row := q.QueryRowContext(ctx, claimOrderPGQuery, o.ID, o.Tier, s.nowMS(), eventID, eventType,
		strings.Join(o.TierKeys, ","), o.CustomerEmail, o.CustomerName, o.CustomerID, o.SubscriptionID,
		o.PaymentIntent, unixMS(o.TermEndsAt), o.seats())
	a, err := s.scanAccount(withTrailing{withLeading{row, []any{&created}}, stored.dests()})
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, fmt.Errorf("tier %s: %w", o.Tier, pool.ErrPoolEmpty)
	}
	if err != nil {
		return a, false, fmt.Errorf("claim: %w", err)
	}
	return a, created, nil
}

// AddPendingOrder records order o as pending (its pool was empty), or as held when o.State is
// OrderHeld (o.LastError says why; no account is made), in one transaction with the Stripe
// event, for a pending order one on-demand account of o.Tier in state provisioning with its
// provisioning job (slug prefix prefix), and the jobs in then (the one that claims the order
// once an account is ready). An order that exists already is left as it is (created=false)
// and nothing is written.
func (s *Store) AddPendingOrder(ctx context.Context, o Order, eventID, eventType, prefix string, then ...jobs.Job) (bool, error) {
	if o.ID == "" {
		return false, errors.New("pending order: order id is required")
	}
	if o.State != OrderHeld {
		o.State = OrderPending
		if o.Tier == "" {
			return false, errors.New("pending order: a tier is required (or hold the order)")
		}
		if err := pool.ValidatePrefix(prefix); err != nil {
			return false, err
		}
	}
	created := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.recordEvent(ctx, tx, eventID, eventType); err != nil {
			return err
		}
		now := s.nowMS()
		o.AccountID = 0
		res, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO orders (id, state, tier, tier_keys, customer_email, customer_name,
			customer_id, subscription_id, last_error, created_at, updated_at, payment_intent, term_ends_at, seats)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`), o.ID, string(o.State), o.Tier, strings.Join(o.TierKeys, ","), o.CustomerEmail,
			o.CustomerName, o.CustomerID, o.SubscriptionID, o.LastError, now, now, o.PaymentIntent, unixMS(o.TermEndsAt), o.seats())
		if err != nil {
			return fmt.Errorf("pending order: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		created = true
		o.CreatedAt, o.UpdatedAt = msTime(now), msTime(now)
		if o.State == OrderPending {
			if err := s.provisionShortfall(ctx, tx, o.Tier, prefix, o.seats(), now); err != nil {
				return err
			}
		}
		return s.insertJobs(ctx, tx, then...)
	})
	return created && err == nil, err
}

// ReleaseHeld moves a held order to pending with its tier and seats, creates on-demand accounts
// of that tier for the seats no ready account covers (with their provisioning jobs) and
// enqueues then (the operator's release: the order's claim job), in one transaction. An order
// no longer held changes nothing and is pool.ErrIllegalTransition.
func (s *Store) ReleaseHeld(ctx context.Context, orderID, tier string, seats int, prefix string, then ...jobs.Job) error {
	if err := pool.ValidatePrefix(prefix); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.nowMS()
		res, err := tx.ExecContext(ctx, s.rebind(`UPDATE orders SET state = 'pending', tier = ?, seats = ?, last_error = '', updated_at = ?
			WHERE id = ? AND state = 'held'`), tier, max(seats, 1), now, orderID)
		if err != nil {
			return fmt.Errorf("release held order: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("order %s is not held: %w", orderID, pool.ErrIllegalTransition)
		}
		if err := s.provisionShortfall(ctx, tx, tier, prefix, max(seats, 1), now); err != nil {
			return err
		}
		return s.insertJobs(ctx, tx, then...)
	})
}

// provisionShortfall creates on-demand accounts (with their provisioning jobs) for the seats of
// a pending order that the tier's ready accounts do not cover, at least one.
func (s *Store) provisionShortfall(ctx context.Context, tx *sql.Tx, tier, prefix string, seats int, now int64) error {
	var ready int
	if err := tx.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM accounts WHERE state = 'ready' AND tier = ?`), tier).Scan(&ready); err != nil {
		return fmt.Errorf("on-demand account: %w", err)
	}
	if _, err := s.createAccountsTx(ctx, tx, pool.OriginOrder, tier, prefix, max(seats-ready, 1), now); err != nil {
		return fmt.Errorf("on-demand account: %w", err)
	}
	return nil
}

func (o Order) seats() int { return max(o.Seats, 1) }

// SeatKey is the claim key (accounts.order_id) of an order's seat: the order id for seat 1,
// "<order>#<seat>" for the others, so every seat's claim is idempotent on its own.
func SeatKey(orderID string, seat int) string {
	if seat <= 1 {
		return orderID
	}
	return fmt.Sprintf("%s#%d", orderID, seat)
}

// claimSeatTx claims a ready account of tier for one seat inside tx (the order's claim
// transaction); an empty pool is pool.ErrPoolEmpty.
func (s *Store) claimSeatTx(ctx context.Context, tx *sql.Tx, tier, key string) (pool.Account, error) {
	var (
		a   pool.Account
		err error
	)
	if s.pg {
		a, _, err = s.claimPGStatement(ctx, tx, tier, key)
	} else {
		a, _, err = s.claimSQLite(ctx, tx, tier, key, nil)
	}
	return a, err
}

// OrderAccounts returns the accounts of an order, by seat (an order claimed before seats
// existed has its one account).
func (s *Store) OrderAccounts(ctx context.Context, orderID string) ([]pool.Account, error) {
	return s.orderAccounts(ctx, s.db, orderID)
}

func (s *Store) orderAccounts(ctx context.Context, q querier, orderID string) ([]pool.Account, error) {
	as, err := s.queryAccounts(ctx, q, `SELECT `+prefixCols("a.", accountCols)+` FROM order_accounts oa
		JOIN accounts a ON a.id = oa.account_id WHERE oa.order_id = ? ORDER BY oa.seat`, orderID)
	if err != nil {
		return nil, fmt.Errorf("order accounts: %w", err)
	}
	if len(as) > 0 {
		return as, nil
	}
	as, err = s.queryAccounts(ctx, q, `SELECT `+prefixCols("a.", accountCols)+` FROM orders o JOIN accounts a ON a.id = o.account_id
		WHERE o.id = ?`, orderID)
	if err != nil {
		return nil, fmt.Errorf("order accounts: %w", err)
	}
	return as, nil
}

// Delivery reads what a delivery job needs: the order, its accounts by seat (as OrderAccounts)
// and whether the e-mail with dedupeKey was sent (as EmailSent). On PostgreSQL it is one
// statement, where reading them apart was three round trips, each waiting for one of the
// replica's connections while a burst's webhooks and jobs hold them (BENCHMARKS.md, issue 11).
// An order that does not exist is pool.ErrNotFound.
func (s *Store) Delivery(ctx context.Context, orderID, dedupeKey string) (Order, []pool.Account, bool, error) {
	if s.pg {
		o, as, sent, err := s.deliveryPG(ctx, orderID, dedupeKey)
		if err != nil || len(as) > 0 {
			return o, as, sent, err
		}
		// No row: no order, or an order without accounts; read them apart to tell which.
	}
	o, err := s.GetOrder(ctx, orderID)
	if err != nil {
		return o, nil, false, err
	}
	as, err := s.OrderAccounts(ctx, orderID)
	if err != nil {
		return o, nil, false, err
	}
	sent, err := s.EmailSent(ctx, dedupeKey)
	return o, as, sent, err
}

// deliveryPGQuery returns one row per account of the order (its seats, else the order's own
// account for an order from before seats), each with the order and the sent check.
var deliveryPGQuery = `WITH o AS (
	SELECT ` + orderCols + ` FROM orders WHERE id = $1
), seats AS (
	SELECT seat, account_id FROM order_accounts WHERE order_id = $1
), ids AS (
	SELECT seat, account_id FROM seats
	UNION ALL SELECT 1, account_id FROM o WHERE account_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM seats)
)
SELECT EXISTS (SELECT 1 FROM sent_emails WHERE dedupe_key = $2), ` + prefixCols("o.", orderCols) + `, ` + prefixCols("a.", accountCols) + `
FROM o JOIN ids ON true JOIN accounts a ON a.id = ids.account_id ORDER BY ids.seat`

func (s *Store) deliveryPG(ctx context.Context, orderID, dedupeKey string) (Order, []pool.Account, bool, error) {
	rows, err := s.db.QueryContext(ctx, deliveryPGQuery, orderID, dedupeKey)
	if err != nil {
		return Order{}, nil, false, fmt.Errorf("delivery: %w", err)
	}
	defer rows.Close()
	var (
		o    Order
		as   []pool.Account
		sent bool
	)
	for rows.Next() {
		var r orderRow
		a, err := s.scanAccount(withLeading{rows, append([]any{&sent}, r.dests()...)})
		if err != nil {
			return Order{}, nil, false, fmt.Errorf("delivery: %w", err)
		}
		o, as = r.order(), append(as, a)
	}
	if err := rows.Err(); err != nil {
		return Order{}, nil, false, fmt.Errorf("delivery: %w", err)
	}
	return o, as, sent, nil
}

func prefixCols(prefix, cols string) string {
	fs := strings.Split(cols, ",")
	for i, f := range fs {
		fs[i] = prefix + strings.TrimSpace(f)
	}
	return strings.Join(fs, ", ")
}

// SetOrderError notes why an order is waiting (e.g. no tier matches); not a secret.
func (s *Store) SetOrderError(ctx context.Context, orderID, reason string) error {
	_, err := s.db.ExecContext(ctx, s.rebind(`UPDATE orders SET last_error = ?, updated_at = ? WHERE id = ?`), reason, s.nowMS(), orderID)
	if err != nil {
		return fmt.Errorf("order error: %w", err)
	}
	return nil
}

func (s *Store) insertOrder(ctx context.Context, tx *sql.Tx, o Order, now int64) error {
	var account any
	if o.AccountID != 0 {
		account = o.AccountID
	}
	_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO orders (id, state, tier, tier_keys, customer_email, customer_name,
		customer_id, subscription_id, account_id, created_at, updated_at, claimed_at, payment_intent, term_ends_at, seats)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`), o.ID, string(o.State), o.Tier, strings.Join(o.TierKeys, ","), o.CustomerEmail,
		o.CustomerName, o.CustomerID, o.SubscriptionID, account, now, now, o.ClaimedAt.UnixMilli(), o.PaymentIntent, unixMS(o.TermEndsAt), o.seats())
	if err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	return nil
}

// EmailSent reports whether the e-mail with this dedupe key was accepted by the SMTP server.
func (s *Store) EmailSent(ctx context.Context, dedupeKey string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM sent_emails WHERE dedupe_key = ?`), dedupeKey).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("email sent: %w", err)
	}
	return true, nil
}

// RecordEmail notes that the SMTP server accepted the e-mail with this dedupe key. For a
// credentials e-mail (markDelivered) it also moves the order claimed → delivered and its
// account claimed → delivered, all in one transaction. Repeating it changes nothing.
func (s *Store) RecordEmail(ctx context.Context, orderID, dedupeKey string, markDelivered bool) error {
	if s.pg && markDelivered {
		// One statement, one round trip, instead of a transaction of eight: on PostgreSQL every
		// round trip holds one of the replica's few connections, which a burst's delivery jobs
		// and webhooks wait for (see BENCHMARKS.md, issue 11). The order row, then its accounts,
		// are locked in that order, as below.
		now := s.nowMS()
		if _, err := s.db.ExecContext(ctx, recordDeliveredPG, dedupeKey, orderID, now); err != nil {
			return fmt.Errorf("record email: %w", err)
		}
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.nowMS()
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO sent_emails (dedupe_key, order_id, sent_at) VALUES (?, ?, ?)
			ON CONFLICT (dedupe_key) DO NOTHING`), dedupeKey, orderID, now); err != nil {
			return fmt.Errorf("record email: %w", err)
		}
		if !markDelivered {
			return nil
		}
		o, err := s.getOrder(ctx, tx, orderID, true)
		if err != nil {
			return err
		}
		if o.State != OrderClaimed {
			return nil
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE orders SET state = 'delivered', delivered_at = ?, updated_at = ?
			WHERE id = ?`), now, now, orderID); err != nil {
			return fmt.Errorf("order delivered: %w", err)
		}
		return s.eachAccountTx(ctx, tx, o, func(id int64) error {
			return s.setStateTx(ctx, tx, id, pool.StateDelivered, pool.StateClaimed)
		})
	})
}

// recordDeliveredPG is RecordEmail of a credentials e-mail on PostgreSQL: the sent e-mail, the
// order claimed → delivered and, only if it moved, its claimed accounts (every seat, and the
// order's own account for an order from before seats) → delivered. claimed → delivered is a
// legal transition (pool.CheckTransition); accounts in any other state are left alone.
const recordDeliveredPG = `WITH sent AS (
	INSERT INTO sent_emails (dedupe_key, order_id, sent_at) VALUES ($1, $2, $3) ON CONFLICT (dedupe_key) DO NOTHING
), delivered AS (
	UPDATE orders SET state = 'delivered', delivered_at = $3, updated_at = $3 WHERE id = $2 AND state = 'claimed'
	RETURNING id, account_id
)
UPDATE accounts SET state = 'delivered', updated_at = $3
WHERE state = 'claimed' AND id IN (
	SELECT oa.account_id FROM order_accounts oa JOIN delivered d ON oa.order_id = d.id
	UNION ALL SELECT account_id FROM delivered)`

// eachAccountTx runs fn for every account of order o (its seats), inside tx.
func (s *Store) eachAccountTx(ctx context.Context, tx *sql.Tx, o Order, fn func(id int64) error) error {
	as, err := s.orderAccounts(ctx, tx, o.ID)
	if err != nil {
		return err
	}
	for _, a := range as {
		if err := fn(a.ID); err != nil {
			return err
		}
	}
	return nil
}

// setStateTx moves an account to `to` if it is in one of from (checked against the state graph
// too); an account in any other state is left alone.
func (s *Store) setStateTx(ctx context.Context, tx *sql.Tx, id int64, to pool.State, from ...pool.State) error {
	var cur string
	q := `SELECT state FROM accounts WHERE id = ?`
	if s.pg {
		q += " FOR UPDATE"
	}
	if err := tx.QueryRowContext(ctx, s.rebind(q), id).Scan(&cur); errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("account %d: %w", id, pool.ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("account %d: %w", id, err)
	}
	match := false
	for _, f := range from {
		match = match || pool.State(cur) == f
	}
	if !match || pool.State(cur) == to {
		return nil // not ours to move, or there already (an operator suspended it)
	}
	if err := pool.CheckTransition(pool.State(cur), to); err != nil {
		return fmt.Errorf("account %d: %w", id, err)
	}
	_, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET state = ?, updated_at = ? WHERE id = ?`), string(to), s.nowMS(), id)
	return err
}

// SuspendOrder marks the order's account suspended (delivered → suspended), stamps the order's
// suspension time and schedules the tenant's teardown (a RetireArgs job for that suspension,
// due grace later), in one transaction. It reports the suspension time (the existing one when
// the account was suspended already).
func (s *Store) SuspendOrder(ctx context.Context, orderID string, grace time.Duration) (time.Time, error) {
	var at time.Time
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		o, err := s.getOrder(ctx, tx, orderID, true)
		if err != nil {
			return err
		}
		at = o.SuspendedAt
		if at.IsZero() {
			if err := s.eachAccountTx(ctx, tx, o, func(id int64) error {
				return s.setStateTx(ctx, tx, id, pool.StateSuspended, pool.StateDelivered, pool.StateSuspended)
			}); err != nil {
				return err
			}
			now := s.nowMS()
			at = msTime(now)
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE orders SET suspended_at = ?, updated_at = ? WHERE id = ?`), now, now, orderID); err != nil {
				return err
			}
		}
		// Unique by its arguments: a repeat for the same suspension is skipped.
		return s.insertJobs(ctx, tx, jobs.Job{Args: jobs.RetireArgs{OrderID: orderID, SuspendedAt: at.UnixMilli()}, ScheduledAt: at.Add(grace)})
	})
	return at, err
}

// ResumeOrder moves the order's suspended account back to delivered and clears the order's
// suspension time, in one transaction.
func (s *Store) ResumeOrder(ctx context.Context, orderID string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		o, err := s.getOrder(ctx, tx, orderID, true)
		if err != nil {
			return err
		}
		if err := s.eachAccountTx(ctx, tx, o, func(id int64) error {
			return s.setStateTx(ctx, tx, id, pool.StateDelivered, pool.StateSuspended)
		}); err != nil {
			return err
		}
		now := s.nowMS()
		_, err = tx.ExecContext(ctx, s.rebind(`UPDATE orders SET suspended_at = 0, updated_at = ? WHERE id = ?`), now, orderID)
		return err
	})
}

// BumpResends counts one more resend of an order's credentials and enqueues its delivery job
// (its own dedupe key: the resend's number) in the same transaction; it returns the new count.
func (s *Store) BumpResends(ctx context.Context, orderID string) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.rebind(`UPDATE orders SET resends = resends + 1, updated_at = ? WHERE id = ?
			RETURNING resends`), s.nowMS(), orderID).Scan(&n); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("order %q: %w", orderID, pool.ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("resend: %w", err)
		}
		return s.insertJobs(ctx, tx, jobs.Job{Args: jobs.DeliverArgs{OrderID: orderID, Resend: n}})
	})
	return n, err
}

// SetCustomerPassword replaces the sealed customer password of an account (after the tenant's
// own password was rotated).
func (s *Store) SetCustomerPassword(ctx context.Context, id int64, password string) error {
	if s.pg {
		return s.setCustomerPasswordPG(ctx, id, password)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		got, err := s.queryAccounts(ctx, tx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("set password %d: %w", id, err)
		}
		if len(got) == 0 {
			return fmt.Errorf("account %d: %w", id, pool.ErrNotFound)
		}
		a := got[0]
		a.CustomerPassword = password
		sealed, err := s.seal(a)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET secrets = ?, updated_at = ? WHERE id = ?`), sealed, s.nowMS(), id)
		return err
	})
}

// setCustomerPasswordPG is SetCustomerPassword in two round trips and no transaction: read the
// sealed secrets, then write the new ones only if they are still what was read (another writer —
// a key rotation's re-seal, another rotation — makes it read and try again). A transaction
// would hold one of the replica's connections for four round trips.
func (s *Store) setCustomerPasswordPG(ctx context.Context, id int64, password string) error {
	for {
		var old string
		a, err := s.scanAccount(withLeading{s.db.QueryRowContext(ctx, `SELECT secrets, `+accountCols+` FROM accounts WHERE id = $1`, id), []any{&old}})
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("account %d: %w", id, pool.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("set password %d: %w", id, err)
		}
		a.CustomerPassword = password
		sealed, err := s.seal(a)
		if err != nil {
			return err
		}
		res, err := s.db.ExecContext(ctx, `UPDATE accounts SET secrets = $1, updated_at = $2 WHERE id = $3 AND secrets = $4`,
			sealed, s.nowMS(), id, old)
		if err != nil {
			return fmt.Errorf("set password %d: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// SubscriptionStatus returns the newest known status of a subscription ("" if none).
func (s *Store) SubscriptionStatus(ctx context.Context, subscriptionID string) (string, error) {
	st, _, err := s.SubscriptionState(ctx, subscriptionID)
	return st, err
}

// SubscriptionState returns the newest known status of a subscription ("" if none) and since
// when (the creation time of the first event that reported it) it has held.
func (s *Store) SubscriptionState(ctx context.Context, subscriptionID string) (string, time.Time, error) {
	var (
		st    string
		since int64
	)
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT status, status_since FROM stripe_subscriptions WHERE id = ?`), subscriptionID).Scan(&st, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("subscription status: %w", err)
	}
	return st, msTime(since), nil
}

func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
