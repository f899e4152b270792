package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
)

// GenerationCounts counts the live accounts (every state but retired and failed) per tier,
// generation and state, in tier, generation, state order: how many run each generation
// (`poold status`, the admin API, the console).
func (s *Store) GenerationCounts(ctx context.Context) ([]pool.GenerationCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT tier, generation, state, COUNT(*) FROM accounts
		WHERE state NOT IN ('retired', 'failed') GROUP BY tier, generation, state ORDER BY tier, generation, state`)
	if err != nil {
		return nil, fmt.Errorf("generation counts: %w", err)
	}
	defer rows.Close()
	var out []pool.GenerationCount
	for rows.Next() {
		var c pool.GenerationCount
		var state string
		if err := rows.Scan(&c.Tier, &c.Generation, &state, &c.Count); err != nil {
			return nil, fmt.Errorf("generation counts: %w", err)
		}
		c.State = pool.State(state)
		out = append(out, c)
	}
	return out, rows.Err()
}

// StaleReady counts, per tier of current (tier → its current generation), the ready accounts
// of every origin built by another generation. Tiers without a current generation ("") are
// left out: nothing is stale where nothing new can be built.
func (s *Store) StaleReady(ctx context.Context, current map[string]string) (map[string]int, error) {
	out := map[string]int{}
	for tier, gen := range current {
		if gen == "" {
			continue
		}
		var n int
		if err := s.db.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM accounts WHERE state = 'ready' AND tier = ? AND generation <> ?`),
			tier, gen).Scan(&n); err != nil {
			return nil, fmt.Errorf("stale ready %s: %w", tier, err)
		}
		if n > 0 {
			out[tier] = n
		}
	}
	return out, nil
}

// RetireStale retires up to n ready accounts of the tier (any origin) built by another
// generation than current, oldest first, and queues their teardowns in the same transaction;
// it returns their ids. An account claimed meanwhile is not ready any more and is left alone.
func (s *Store) RetireStale(ctx context.Context, tier, current string, n int) ([]int64, error) {
	if current == "" || n <= 0 {
		return nil, nil
	}
	var ids []int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		q := `SELECT id FROM accounts WHERE state = 'ready' AND tier = ? AND generation <> ? ORDER BY id LIMIT ?`
		if s.pg {
			q += " FOR UPDATE SKIP LOCKED"
		}
		var err error
		if ids, err = queryIDs(ctx, tx, s.rebind(q), tier, current, n); err != nil {
			return fmt.Errorf("retire stale: %w", err)
		}
		now := s.nowMS()
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET state = 'retired', updated_at = ? WHERE id = ? AND state = 'ready'`), now, id); err != nil {
				return fmt.Errorf("retire %d: %w", id, err)
			}
			if err := s.insertJobs(ctx, tx, jobs.Job{Args: jobs.DestroyArgs{AccountID: id}}); err != nil {
				return fmt.Errorf("enqueue teardown: %w", err)
			}
		}
		return nil
	})
	return ids, err
}

// StaleReserved lists the reserved (exported) accounts built by another generation than their
// tier's current one: the refresh leaves them alone — their credentials were handed out — and
// the operator sees them listed.
func (s *Store) StaleReserved(ctx context.Context, current map[string]string) ([]pool.Account, error) {
	var out []pool.Account
	for _, tier := range sortedKeys(current) {
		if current[tier] == "" {
			continue
		}
		as, err := s.queryAccounts(ctx, s.db, `SELECT `+accountCols+` FROM accounts WHERE state = 'reserved' AND tier = ? AND generation <> ? ORDER BY id`,
			tier, current[tier])
		if err != nil {
			return nil, fmt.Errorf("stale reserved %s: %w", tier, err)
		}
		out = append(out, as...)
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
