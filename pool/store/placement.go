package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/axiestudio/tenantpool/pool"
)

// liveStates are the states whose accounts hold a place on their host: everything but failed and
// retired (whose teardown is queued). A provisioning account holds its place from the moment it
// is placed.
const liveStates = `('provisioning', 'ready', 'claimed', 'delivered', 'reserved', 'suspended')`

// PlaceAccount reserves a Docker host for an account and records it on the account row, so the
// placement survives a restart and every replica counts it at once. Placements serialize on one
// row lock (the "placement" counter, taken first in the transaction; SQLite's write transaction
// serializes them anyway), and a host's load is read after it is taken, so no two placements —
// in this process or another replica — can over-fill a host. The host is, in this order:
//
//   - prefer (where an earlier attempt put the tenant's stack), if it is listed;
//   - the host the account already holds, if it is listed (a retry, a restart, a sold tenant:
//     its container and volume are there);
//   - else the listed host with the most free capacity, the first such in list order, where a
//     host's load is its accounts in a live state (provisioning counts); none free is
//     pool.ErrNoCapacity.
//
// A kept host is kept even when it is full. It returns the host's name.
func (s *Store) PlaceAccount(ctx context.Context, id int64, prefer string, hosts []pool.HostCapacity) (string, error) {
	listed := func(name string) bool {
		return name != "" && slices.ContainsFunc(hosts, func(h pool.HostCapacity) bool { return h.Name == name })
	}
	var host string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.bump(ctx, tx, "placement", 1); err != nil {
			return err
		}
		var held string
		err := tx.QueryRowContext(ctx, s.rebind(`SELECT host FROM accounts WHERE id = ?`), id).Scan(&held)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("account %d: %w", id, pool.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("place account %d: %w", id, err)
		}
		switch {
		case listed(prefer):
			host = prefer
		case listed(held):
			host = held
		default:
			used, err := s.hostLoads(ctx, tx, id)
			if err != nil {
				return err
			}
			free := 0
			for _, h := range hosts {
				if f := h.Capacity - used[h.Name]; f > free {
					host, free = h.Name, f
				}
			}
			if host == "" {
				return fmt.Errorf("place account %d: %w (%d hosts)", id, pool.ErrNoCapacity, len(hosts))
			}
		}
		if host == held {
			return nil
		}
		_, err = tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET host = ?, updated_at = ? WHERE id = ?`), host, s.nowMS(), id)
		return err
	})
	if err != nil {
		return "", err
	}
	return host, nil
}

// hostLoads counts, per host, the accounts in a live state that hold it, except the account
// being placed. It reads the live states only (indexed), not the retired history.
func (s *Store) hostLoads(ctx context.Context, tx *sql.Tx, except int64) (map[string]int, error) {
	rows, err := tx.QueryContext(ctx, s.rebind(`SELECT host, COUNT(*) FROM accounts
		WHERE state IN `+liveStates+` AND host <> '' AND id <> ? GROUP BY host`), except)
	if err != nil {
		return nil, fmt.Errorf("host loads: %w", err)
	}
	defer rows.Close()
	used := map[string]int{}
	for rows.Next() {
		var host string
		var n int
		if err := rows.Scan(&host, &n); err != nil {
			return nil, err
		}
		used[host] = n
	}
	return used, rows.Err()
}

// Placements reports slug → host of every account that holds a host and is neither failed nor
// retired: what should run where (the stray pass compares it with what does).
func (s *Store) Placements(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT slug, host FROM accounts WHERE host <> '' AND state NOT IN ('failed', 'retired')`)
	if err != nil {
		return nil, fmt.Errorf("placements: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var slug, host string
		if err := rows.Scan(&slug, &host); err != nil {
			return nil, err
		}
		out[slug] = host
	}
	return out, rows.Err()
}
