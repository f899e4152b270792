package store

import (
	"context"
	"fmt"
)

// TierTotals are a tier's lifetime totals, read from the accounts themselves (so they agree
// across replicas and survive restarts).
type TierTotals struct {
	Provisioned int // accounts that ever became ready
	Claimed     int // accounts that were ever claimed
	Failed      int // accounts that never became ready and are gone (failed, or retired from provisioning)
}

// Stats is what /metrics reports from the database.
type Stats struct {
	Accounts   map[string]map[string]int // tier → state → count
	Totals     map[string]TierTotals     // tier → lifetime totals
	Tiers      map[string]TierStatus
	Orders     map[string]int // order state → count
	EmailsSent int
	Flagged    int // live (not retired) tenants flagged by the health probe
}

// Stats reads the figures /metrics exports, in one read transaction.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Accounts: map[string]map[string]int{}, Totals: map[string]TierTotals{}, Orders: map[string]int{}}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT tier, state, COUNT(*),
		SUM(CASE WHEN ready_at <> 0 THEN 1 ELSE 0 END), SUM(CASE WHEN claimed_at <> 0 THEN 1 ELSE 0 END),
		SUM(CASE WHEN ready_at = 0 AND state IN ('failed', 'retired') THEN 1 ELSE 0 END)
		FROM accounts GROUP BY tier, state`)
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	for rows.Next() {
		var tier, state string
		var n, ready, claimed, failed int
		if err := rows.Scan(&tier, &state, &n, &ready, &claimed, &failed); err != nil {
			rows.Close()
			return st, err
		}
		if st.Accounts[tier] == nil {
			st.Accounts[tier] = map[string]int{}
		}
		st.Accounts[tier][state] = n
		t := st.Totals[tier]
		t.Provisioned += ready
		t.Claimed += claimed
		t.Failed += failed
		st.Totals[tier] = t
	}
	rows.Close()
	rows, err = tx.QueryContext(ctx, `SELECT state, COUNT(*) FROM orders GROUP BY state`)
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			rows.Close()
			return st, err
		}
		st.Orders[state] = n
	}
	rows.Close()
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sent_emails`).Scan(&st.EmailsSent); err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE flagged_at <> 0 AND state <> 'retired'`).Scan(&st.Flagged); err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	if st.Tiers, err = tierStatuses(ctx, tx); err != nil {
		return st, err
	}
	return st, tx.Commit()
}
