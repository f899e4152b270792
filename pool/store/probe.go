package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/axiestudio/tenantpool/pool"
)

// maxDetail bounds what an event or a probe error keeps of a reason.
const maxDetail = 1000

func clip(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	return strings.ToValidUTF8(s[:maxDetail], "") + "…"
}

// ProbeTargets returns up to limit sold tenants (claimed or delivered, with a URL), the least
// recently probed first, so that a limit smaller than the fleet still rotates through all of it.
func (s *Store) ProbeTargets(ctx context.Context, limit int) ([]pool.Account, error) {
	if limit < 1 {
		return nil, fmt.Errorf("probe targets: limit %d must be ≥ 1", limit)
	}
	as, err := s.queryAccounts(ctx, s.db, `SELECT `+accountCols+` FROM accounts
		WHERE state IN ('claimed', 'delivered') AND url <> '' ORDER BY probed_at, id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("probe targets: %w", err)
	}
	return as, nil
}

// RecordProbe stores one probe's outcome. A failure counts into the account's streak (the first
// failure of a streak is recorded as a probe_failed event) and returns the streak's length. A
// success ends the streak: failures go back to 0, a flag is cleared, and — if there was a streak
// — a recovered event is recorded and recovered is true. One transaction.
func (s *Store) RecordProbe(ctx context.Context, id int64, ok bool, detail string) (failures int, recovered bool, err error) {
	detail = clip(detail)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.nowMS()
		if !ok {
			err := tx.QueryRowContext(ctx, s.rebind(`UPDATE accounts SET probe_failures = probe_failures + 1,
				probe_error = ?, probed_at = ? WHERE id = ? RETURNING probe_failures`), detail, now, id).Scan(&failures)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("account %d: %w", id, pool.ErrNotFound)
			}
			if err != nil {
				return err
			}
			if failures == 1 {
				return s.addEventTx(ctx, tx, id, now, pool.EventProbeFailed, detail)
			}
			return nil
		}
		var prev int
		var flagged int64
		q := `SELECT probe_failures, flagged_at FROM accounts WHERE id = ?`
		if s.pg {
			q += " FOR UPDATE"
		}
		if err := tx.QueryRowContext(ctx, s.rebind(q), id).Scan(&prev, &flagged); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("account %d: %w", id, pool.ErrNotFound)
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET probe_failures = 0, probe_error = '',
			flagged_at = 0, probed_at = ? WHERE id = ?`), now, id); err != nil {
			return err
		}
		if prev == 0 && flagged == 0 {
			return nil
		}
		recovered = true
		d := fmt.Sprintf("healthy again after %d failed probes", prev)
		if flagged != 0 {
			d += "; flag cleared"
		}
		return s.addEventTx(ctx, tx, id, now, pool.EventRecovered, d)
	})
	if err != nil {
		return 0, false, fmt.Errorf("record probe %d: %w", id, err)
	}
	return failures, recovered, nil
}

// Flag marks an account for the operator and records a flagged event, once: it returns false
// (and records nothing) when the account is already flagged, so concurrent probers or replicas
// alert once.
func (s *Store) Flag(ctx context.Context, id int64, reason string) (bool, error) {
	var flagged bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.nowMS()
		res, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET flagged_at = ? WHERE id = ? AND flagged_at = 0`), now, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = s.mustExist(ctx, tx, id)
			}
			return err
		}
		flagged = true
		return s.addEventTx(ctx, tx, id, now, pool.EventFlagged, clip(reason))
	})
	if err != nil {
		return false, fmt.Errorf("flag %d: %w", id, err)
	}
	return flagged, nil
}

// Unflag clears an account's flag and failure streak (the operator has dealt with it) and
// records a recovered event; it returns false when the account was not flagged.
func (s *Store) Unflag(ctx context.Context, id int64, detail string) (bool, error) {
	var cleared bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET flagged_at = 0, probe_failures = 0, probe_error = ''
			WHERE id = ? AND flagged_at <> 0`), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = s.mustExist(ctx, tx, id)
			}
			return err
		}
		cleared = true
		return s.addEventTx(ctx, tx, id, s.nowMS(), pool.EventRecovered, clip(detail))
	})
	if err != nil {
		return false, fmt.Errorf("unflag %d: %w", id, err)
	}
	return cleared, nil
}

// AddEvent records one event in an account's history (the prober's re-applies).
func (s *Store) AddEvent(ctx context.Context, id int64, kind pool.EventKind, detail string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.mustExist(ctx, tx, id); err != nil {
			return err
		}
		return s.addEventTx(ctx, tx, id, s.nowMS(), kind, clip(detail))
	})
	if err != nil {
		return fmt.Errorf("account event %d: %w", id, err)
	}
	return nil
}

// AccountEvents returns an account's history, oldest first.
func (s *Store) AccountEvents(ctx context.Context, id int64) ([]pool.AccountEvent, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT id, account_id, at, kind, detail FROM account_events
		WHERE account_id = ? ORDER BY id`), id)
	if err != nil {
		return nil, fmt.Errorf("account events %d: %w", id, err)
	}
	defer rows.Close()
	var out []pool.AccountEvent
	for rows.Next() {
		var e pool.AccountEvent
		var at int64
		var kind string
		if err := rows.Scan(&e.ID, &e.AccountID, &at, &kind, &e.Detail); err != nil {
			return nil, err
		}
		e.At, e.Kind = msTime(at), pool.EventKind(kind)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ProbeStatus is an account's probe state, for operators and tests.
type ProbeStatus struct {
	Failures  int    // consecutive failed probes
	LastError string // the last failed probe's reason ('' after a success)
	ProbedAt  time.Time
	FlaggedAt time.Time // zero when not flagged
}

// ProbeStatus returns an account's probe state.
func (s *Store) ProbeStatus(ctx context.Context, id int64) (ProbeStatus, error) {
	var st ProbeStatus
	var probed, flagged int64
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT probe_failures, probe_error, probed_at, flagged_at FROM accounts WHERE id = ?`), id).
		Scan(&st.Failures, &st.LastError, &probed, &flagged)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("account %d: %w", id, pool.ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("probe status %d: %w", id, err)
	}
	st.ProbedAt, st.FlaggedAt = msTime(probed), msTime(flagged)
	return st, nil
}

// FlaggedCount is how many live accounts (not retired) are flagged for the operator.
func (s *Store) FlaggedCount(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE flagged_at <> 0 AND state <> 'retired'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("flagged count: %w", err)
	}
	return n, nil
}

func (s *Store) mustExist(ctx context.Context, tx *sql.Tx, id int64) error {
	var one int
	err := tx.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM accounts WHERE id = ?`), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("account %d: %w", id, pool.ErrNotFound)
	}
	return err
}

func (s *Store) addEventTx(ctx context.Context, tx *sql.Tx, id, now int64, kind pool.EventKind, detail string) error {
	eid, err := s.bump(ctx, tx, "account_event", 1)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO account_events (id, account_id, at, kind, detail) VALUES (?, ?, ?, ?, ?)`),
		eid, id, now, string(kind), detail); err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	return nil
}
