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
	// Deliveries counts the same for the customer passwords kept per delivery
	// (delivery_passwords), re-sealed after the accounts; DeliveryFailed names the rows no key
	// opens as "delivery key/account id".
	Deliveries     DeliveryReseal
	DeliveryFailed []string
}

// DeliveryReseal counts the delivery passwords' pass.
type DeliveryReseal struct{ Total, Current, Resealed, Changed int }

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
			return r, s.resealDeliveries(ctx, &r, progress)
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

// resealDeliveries is ResealSecrets' pass over delivery_passwords, keyed by (delivery_key,
// account_id), in batches in key order, compare and swap per row.
func (s *Store) resealDeliveries(ctx context.Context, r *ResealReport, progress func(ResealReport)) error {
	prefix := s.box.CurrentPrefix()
	d := &r.Deliveries
	if err := s.db.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN SUBSTR(secret, 1, ?) = ? THEN 1 ELSE 0 END), 0) FROM delivery_passwords`),
		len(prefix), prefix).Scan(&d.Total, &d.Current); err != nil {
		return fmt.Errorf("count sealed delivery passwords: %w", err)
	}
	type row struct {
		key     string
		account int64
		sealed  string
	}
	afterKey, afterAccount := "", int64(-1)
	for {
		var batch []row
		rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT delivery_key, account_id, secret FROM delivery_passwords
			WHERE (delivery_key > ? OR (delivery_key = ? AND account_id > ?)) AND SUBSTR(secret, 1, ?) <> ?
			ORDER BY delivery_key, account_id LIMIT ?`), afterKey, afterKey, afterAccount, len(prefix), prefix, resealBatch)
		if err != nil {
			return fmt.Errorf("read sealed delivery passwords: %w", err)
		}
		for rows.Next() {
			var x row
			if err := rows.Scan(&x.key, &x.account, &x.sealed); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, x)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		afterKey, afterAccount = batch[len(batch)-1].key, batch[len(batch)-1].account
		var resealed, changed int
		var failed []string
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			resealed, changed, failed = 0, 0, nil
			for _, x := range batch {
				plain, err := s.box.Open(x.sealed, deliveryAAD(x.key, x.account))
				if err != nil {
					failed = append(failed, fmt.Sprintf("%s/%d", x.key, x.account))
					continue
				}
				res, err := tx.ExecContext(ctx, s.rebind(`UPDATE delivery_passwords SET secret = ?
					WHERE delivery_key = ? AND account_id = ? AND secret = ?`),
					s.box.Seal(plain, deliveryAAD(x.key, x.account)), x.key, x.account, x.sealed)
				if err != nil {
					return fmt.Errorf("delivery password %s/%d: %w", x.key, x.account, err)
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
			return fmt.Errorf("re-seal delivery passwords: %w", err)
		}
		d.Resealed += resealed
		d.Changed += changed
		r.DeliveryFailed = append(r.DeliveryFailed, failed...)
		if progress != nil {
			progress(*r)
		}
	}
}
