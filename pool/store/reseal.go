package store

import (
	"context"
	"database/sql"
	"fmt"
)

// ResealReport counts what ResealSecrets did.
type ResealReport struct {
	// Total is the number of accounts; Current those already sealed with the current key when
	// the pass started.
	Total, Current int
	// Resealed values now carry the current key; Changed were re-written by someone else
	// between the read and the update (left for the next pass); Failed do not open with any
	// key of the keyring (their ids).
	Resealed, Changed int
	Failed            []int64
}

// Pending is how many values are still to re-seal as far as this pass knows.
func (r ResealReport) Pending() int {
	return r.Total - r.Current - r.Resealed - r.Changed - len(r.Failed)
}

// resealBatch is how many accounts one transaction re-seals.
const resealBatch = 200

// ResealSecrets re-seals every account's secrets that are not sealed with the keyring's current
// key (older keys, or values from before key ids), in batches of 200 in id order, one
// transaction per batch, reporting after each batch. Each update applies only if the value is
// still the one read (compare and swap), so it runs beside live daemons. Idempotent: values
// already current are not touched; resumable: an interrupted pass leaves every batch it
// committed done, and the next pass picks up the rest. A value that opens with no key of the
// keyring is counted in Failed and left as it is.
func (s *Store) ResealSecrets(ctx context.Context, progress func(ResealReport)) (ResealReport, error) {
	var r ResealReport
	prefix := s.box.CurrentPrefix()
	if err := s.db.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN SUBSTR(secrets, 1, ?) = ? THEN 1 ELSE 0 END), 0) FROM accounts`),
		len(prefix), prefix).Scan(&r.Total, &r.Current); err != nil {
		return r, fmt.Errorf("count sealed values: %w", err)
	}
	type row struct {
		id     int64
		sealed string
	}
	var after int64
	for {
		var batch []row
		rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT id, secrets FROM accounts
			WHERE id > ? AND SUBSTR(secrets, 1, ?) <> ? ORDER BY id LIMIT ?`), after, len(prefix), prefix, resealBatch)
		if err != nil {
			return r, fmt.Errorf("read sealed values: %w", err)
		}
		for rows.Next() {
			var x row
			if err := rows.Scan(&x.id, &x.sealed); err != nil {
				rows.Close()
				return r, err
			}
			batch = append(batch, x)
		}
		if err := rows.Close(); err != nil {
			return r, err
		}
		if err := rows.Err(); err != nil {
			return r, err
		}
		if len(batch) == 0 {
			return r, nil
		}
		after = batch[len(batch)-1].id
		var resealed, changed int
		var failed []int64
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			resealed, changed, failed = 0, 0, nil
			for _, x := range batch {
				plain, err := s.box.Open(x.sealed, aad(x.id))
				if err != nil {
					failed = append(failed, x.id)
					continue
				}
				res, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET secrets = ? WHERE id = ? AND secrets = ?`),
					s.box.Seal(plain, aad(x.id)), x.id, x.sealed)
				if err != nil {
					return fmt.Errorf("account %d: %w", x.id, err)
				}
				if n, err := res.RowsAffected(); err != nil {
					return err
				} else if n == 1 {
					resealed++
				} else {
					changed++
				}
			}
			return nil
		})
		if err != nil {
			return r, fmt.Errorf("re-seal: %w", err)
		}
		r.Resealed += resealed
		r.Changed += changed
		r.Failed = append(r.Failed, failed...)
		if progress != nil {
			progress(r)
		}
	}
}
