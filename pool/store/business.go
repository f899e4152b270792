package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// RevenueOrder is what the business figures (pool/business) need of one order: its tier, the
// price ids it was sold by, its seats, when it began and how it stands, with the latest known
// status of its subscription.
type RevenueOrder struct {
	ID             string
	State          OrderState
	Tier           string
	TierKeys       []string // the price (or payment link) ids the order was paid with
	CustomerID     string
	SubscriptionID string
	Seats          int
	CreatedAt      time.Time
	UpdatedAt      time.Time
	SuspendedAt    time.Time
	Ended          string    // refunded, dispute lost, term over; "" = not
	TermEndsAt     time.Time // a one-time payment's end; zero for a subscription
	// SubStatus is the latest status Stripe reported for the subscription ("" = none yet) and
	// SubStatusSince when it began to hold.
	SubStatus      string
	SubStatusSince time.Time
}

// RevenueOrders returns every order with its subscription's latest status, oldest first, in
// one read (orders LEFT JOIN stripe_subscriptions).
func (s *Store) RevenueOrders(ctx context.Context) ([]RevenueOrder, error) {
	// Sized once (a concurrent insert only makes the slice grow): 100,000 orders are read in
	// one slice instead of a dozen copies.
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders`).Scan(&n); err != nil {
		return nil, fmt.Errorf("revenue orders: %w", err)
	}
	out := make([]RevenueOrder, 0, n)
	rows, err := s.db.QueryContext(ctx, `SELECT o.id, o.state, o.tier, o.tier_keys, o.customer_id, o.subscription_id, o.seats,
		o.created_at, o.updated_at, o.suspended_at, o.ended, o.term_ends_at, COALESCE(ss.status, ''), COALESCE(ss.status_since, 0)
		FROM orders o LEFT JOIN stripe_subscriptions ss ON ss.id = o.subscription_id AND o.subscription_id <> ''
		ORDER BY o.created_at, o.id`)
	if err != nil {
		return nil, fmt.Errorf("revenue orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			o                                        RevenueOrder
			state, keys                              string
			created, updated, suspended, term, since int64
		)
		if err := rows.Scan(&o.ID, &state, &o.Tier, &keys, &o.CustomerID, &o.SubscriptionID, &o.Seats,
			&created, &updated, &suspended, &o.Ended, &term, &o.SubStatus, &since); err != nil {
			return nil, fmt.Errorf("revenue orders: %w", err)
		}
		o.State = OrderState(state)
		if keys != "" {
			o.TierKeys = strings.Split(keys, ",")
		}
		o.CreatedAt, o.UpdatedAt, o.SuspendedAt = msTime(created), msTime(updated), msTime(suspended)
		o.TermEndsAt, o.SubStatusSince = msTime(term), msTime(since)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("revenue orders: %w", err)
	}
	return out, nil
}

// ManualSales counts the accounts sold by hand (manual claims: `poold claim`, the admin API's
// claim) that are still held by their buyer (claimed, delivered or suspended). They carry no
// price: the business figures report them beside the revenue, never in it.
func (s *Store) ManualSales(ctx context.Context) (int, error) {
	var n int
	// A range on order_id ("manual:" ≤ id < "manual;") rather than LIKE, so that PostgreSQL can
	// use the unique index on order_id whatever the collation.
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM accounts WHERE order_id >= ? AND order_id < ?
		AND state IN ('claimed', 'delivered', 'suspended')`), ManualOrderPrefix, "manual;").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("manual sales: %w", err)
	}
	return n, nil
}
