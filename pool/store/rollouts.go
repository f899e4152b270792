package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/axiestudio/tenantpool/pool"
)

const rolloutCols = `id, tier, generation, image, canary, batch_size, max_unavailable, window_spec, state,
	total, done, failed, skipped, last_error, created_at, updated_at, finished_at`

const stepCols = `rollout_id, account_id, slug, batch, from_generation, from_image, to_generation, state, error,
	attempts, started_at, finished_at`

func scanRollout(r scanner) (pool.Rollout, error) {
	var (
		ro                         pool.Rollout
		state                      string
		created, updated, finished int64
	)
	err := r.Scan(&ro.ID, &ro.Tier, &ro.Generation, &ro.Image, &ro.Canary, &ro.Batch, &ro.MaxUnavailable, &ro.Window,
		&state, &ro.Total, &ro.Done, &ro.Failed, &ro.Skipped, &ro.LastError, &created, &updated, &finished)
	ro.State = pool.RolloutState(state)
	ro.CreatedAt, ro.UpdatedAt, ro.FinishedAt = msTime(created), msTime(updated), msTime(finished)
	return ro, err
}

func scanStep(r scanner) (pool.RolloutStep, error) {
	var (
		st                pool.RolloutStep
		state             string
		started, finished int64
	)
	err := r.Scan(&st.RolloutID, &st.AccountID, &st.Slug, &st.Batch, &st.FromGeneration, &st.FromImage, &st.ToGeneration,
		&state, &st.Error, &st.Attempts, &started, &finished)
	st.State = pool.StepState(state)
	st.StartedAt, st.FinishedAt = msTime(started), msTime(finished)
	return st, err
}

// StartRollout records a rolling upgrade of the tier's sold tenants (claimed or delivered) that
// do not run spec.Generation yet, to image, and its steps in upgrade order (account id; the
// first spec.Canary are the canaries). One rollout at most is active (running, paused or held):
// another is refused with pool.ErrRolloutActive; a tier whose sold tenants all run the target
// is refused with pool.ErrNothingToDo. Either refusal writes nothing. The spec must be valid.
func (s *Store) StartRollout(ctx context.Context, spec pool.RolloutSpec, image string) (pool.Rollout, error) {
	var out pool.Rollout
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The counter's row lock serializes starts across replicas before the active check.
		id, err := s.bump(ctx, tx, "rollout", 1)
		if err != nil {
			return err
		}
		var active int64
		err = tx.QueryRowContext(ctx, `SELECT id FROM rollouts WHERE state IN ('running', 'paused', 'held') ORDER BY id LIMIT 1`).Scan(&active)
		if err == nil {
			return fmt.Errorf("%w (rolling upgrade %d): resume or abort it first", pool.ErrRolloutActive, active)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.rebind(`SELECT id, slug, generation FROM accounts
			WHERE tier = ? AND state IN ('claimed', 'delivered') AND generation <> ? ORDER BY id`), spec.Tier, spec.Generation)
		if err != nil {
			return err
		}
		var steps []pool.RolloutStep
		for rows.Next() {
			var st pool.RolloutStep
			if err := rows.Scan(&st.AccountID, &st.Slug, &st.FromGeneration); err != nil {
				rows.Close()
				return err
			}
			steps = append(steps, st)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(steps) == 0 {
			return fmt.Errorf("%w: every sold tenant of tier %s runs %s", pool.ErrNothingToDo, spec.Tier, spec.Generation)
		}
		now := s.nowMS()
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO rollouts (id, tier, generation, image, canary, batch_size,
			max_unavailable, window_spec, state, total, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)`),
			id, spec.Tier, spec.Generation, image, spec.Canary, spec.Batch, spec.MaxUnavailable, spec.Window, len(steps), now, now); err != nil {
			return fmt.Errorf("insert rollout: %w", err)
		}
		for i, b := range pool.RolloutBatches(len(steps), spec.Canary, spec.Batch) {
			if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO rollout_steps (rollout_id, account_id, slug, batch, from_generation, state)
				VALUES (?, ?, ?, ?, ?, 'pending')`), id, steps[i].AccountID, steps[i].Slug, b, steps[i].FromGeneration); err != nil {
				return fmt.Errorf("insert rollout step: %w", err)
			}
		}
		out, err = scanRollout(tx.QueryRowContext(ctx, s.rebind(`SELECT `+rolloutCols+` FROM rollouts WHERE id = ?`), id))
		return err
	})
	if err != nil {
		return pool.Rollout{}, fmt.Errorf("start rolling upgrade: %w", err)
	}
	return out, nil
}

// Rollout returns a rollout and its steps in upgrade order; pool.ErrNoRollout when unknown.
func (s *Store) Rollout(ctx context.Context, id int64) (pool.Rollout, []pool.RolloutStep, error) {
	ro, err := scanRollout(s.db.QueryRowContext(ctx, s.rebind(`SELECT `+rolloutCols+` FROM rollouts WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return ro, nil, fmt.Errorf("rolling upgrade %d: %w", id, pool.ErrNoRollout)
	}
	if err != nil {
		return ro, nil, fmt.Errorf("rolling upgrade %d: %w", id, err)
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT `+stepCols+` FROM rollout_steps WHERE rollout_id = ? ORDER BY batch, account_id`), id)
	if err != nil {
		return ro, nil, fmt.Errorf("rolling upgrade %d steps: %w", id, err)
	}
	defer rows.Close()
	var steps []pool.RolloutStep
	for rows.Next() {
		st, err := scanStep(rows)
		if err != nil {
			return ro, nil, err
		}
		steps = append(steps, st)
	}
	return ro, steps, rows.Err()
}

// ActiveRollout returns the id of the active rollout (running, paused or held); 0 when none.
func (s *Store) ActiveRollout(ctx context.Context) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT id FROM rollouts WHERE state IN ('running', 'paused', 'held') ORDER BY id LIMIT 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("active rolling upgrade: %w", err)
	}
	return id, nil
}

// Rollouts lists up to limit rollouts, newest first.
func (s *Store) Rollouts(ctx context.Context, limit int) ([]pool.Rollout, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT `+rolloutCols+` FROM rollouts ORDER BY id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("rolling upgrades: %w", err)
	}
	defer rows.Close()
	var out []pool.Rollout
	for rows.Next() {
		ro, err := scanRollout(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ro)
	}
	return out, rows.Err()
}

// InterruptedSteps lists the steps left in flight (upgrading or rolling back), of any rollout:
// at the start of the driver's pass these are a dead process's, to be finished.
func (s *Store) InterruptedSteps(ctx context.Context) ([]pool.RolloutStep, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+stepCols+` FROM rollout_steps WHERE state IN ('upgrading', 'rolling_back')
		ORDER BY rollout_id, batch, account_id`)
	if err != nil {
		return nil, fmt.Errorf("interrupted rollout steps: %w", err)
	}
	defer rows.Close()
	var out []pool.RolloutStep
	for rows.Next() {
		st, err := scanStep(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// lockRollout reads a rollout's state in tx (locking its row on PostgreSQL).
func (s *Store) lockRollout(ctx context.Context, tx *sql.Tx, id int64) (pool.RolloutState, error) {
	q := `SELECT state FROM rollouts WHERE id = ?`
	if s.pg {
		q += " FOR UPDATE"
	}
	var state string
	err := tx.QueryRowContext(ctx, s.rebind(q), id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("rolling upgrade %d: %w", id, pool.ErrNoRollout)
	}
	return pool.RolloutState(state), err
}

// PauseRollout stops a running rollout from starting steps (the ones in flight finish).
func (s *Store) PauseRollout(ctx context.Context, id int64) (pool.Rollout, error) {
	return s.setRolloutState(ctx, id, pool.RolloutPaused, pool.RolloutRunning)
}

// ResumeRollout runs a paused or held rollout again; the failed steps of a held one are pending
// again (retried first: they belong to the earliest batch not finished).
func (s *Store) ResumeRollout(ctx context.Context, id int64) (pool.Rollout, error) {
	return s.setRolloutState(ctx, id, pool.RolloutRunning, pool.RolloutPaused, pool.RolloutHeld)
}

// AbortRollout ends an active rollout: its pending steps are skipped, the ones in flight finish,
// and upgraded tenants stay upgraded.
func (s *Store) AbortRollout(ctx context.Context, id int64) (pool.Rollout, error) {
	return s.setRolloutState(ctx, id, pool.RolloutAborted, pool.RolloutRunning, pool.RolloutPaused, pool.RolloutHeld)
}

func (s *Store) setRolloutState(ctx context.Context, id int64, to pool.RolloutState, from ...pool.RolloutState) (pool.Rollout, error) {
	var out pool.Rollout
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := s.lockRollout(ctx, tx, id)
		if err != nil {
			return err
		}
		ok := false
		for _, f := range from {
			ok = ok || cur == f
		}
		if !ok {
			return fmt.Errorf("rolling upgrade %d is %s: it cannot become %s: %w", id, cur, to, pool.ErrIllegalTransition)
		}
		now := s.nowMS()
		switch to {
		case pool.RolloutRunning:
			res, err := tx.ExecContext(ctx, s.rebind(`UPDATE rollout_steps SET state = 'pending', error = ''
				WHERE rollout_id = ? AND state IN ('failed', 'rollback_failed')`), id)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			_, err = tx.ExecContext(ctx, s.rebind(`UPDATE rollouts SET state = ?, failed = failed - ?, last_error = '', updated_at = ? WHERE id = ?`),
				string(to), n, now, id)
			if err != nil {
				return err
			}
		case pool.RolloutAborted:
			res, err := tx.ExecContext(ctx, s.rebind(`UPDATE rollout_steps SET state = 'skipped', error = 'aborted', finished_at = ?
				WHERE rollout_id = ? AND state = 'pending'`), now, id)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE rollouts SET state = ?, skipped = skipped + ?, updated_at = ?, finished_at = ? WHERE id = ?`),
				string(to), n, now, now, id); err != nil {
				return err
			}
		default:
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE rollouts SET state = ?, updated_at = ? WHERE id = ?`), string(to), now, id); err != nil {
				return err
			}
		}
		out, err = scanRollout(tx.QueryRowContext(ctx, s.rebind(`SELECT `+rolloutCols+` FROM rollouts WHERE id = ?`), id))
		return err
	})
	if err != nil {
		return pool.Rollout{}, fmt.Errorf("rolling upgrade %d: %w", id, err)
	}
	return out, nil
}

// BeginStep marks a pending step upgrading, with where the tenant comes from (its generation
// and the image it runs, for the rollback), and counts the attempt — only while the rollout
// runs: false when it does not (paused, held or aborted meanwhile) or the step is not pending.
func (s *Store) BeginStep(ctx context.Context, rolloutID, accountID int64, fromGeneration, fromImage string) (bool, error) {
	started := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		state, err := s.lockRollout(ctx, tx, rolloutID)
		if err != nil || state != pool.RolloutRunning {
			return err
		}
		res, err := tx.ExecContext(ctx, s.rebind(`UPDATE rollout_steps SET state = 'upgrading', from_generation = ?, from_image = ?,
			attempts = attempts + 1, started_at = ?, finished_at = 0, error = '' WHERE rollout_id = ? AND account_id = ? AND state = 'pending'`),
			fromGeneration, fromImage, s.nowMS(), rolloutID, accountID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		started = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("begin rollout step %d/%d: %w", rolloutID, accountID, err)
	}
	return started, nil
}

// RetryStep counts another attempt of a step a dead process left in flight.
func (s *Store) RetryStep(ctx context.Context, rolloutID, accountID int64) error {
	_, err := s.db.ExecContext(ctx, s.rebind(`UPDATE rollout_steps SET attempts = attempts + 1, started_at = ? WHERE rollout_id = ? AND account_id = ?`),
		s.nowMS(), rolloutID, accountID)
	if err != nil {
		return fmt.Errorf("retry rollout step %d/%d: %w", rolloutID, accountID, err)
	}
	return nil
}

// RollingBack records that a step's upgrade failed (reason) and its rollback starts.
func (s *Store) RollingBack(ctx context.Context, rolloutID, accountID int64, reason string) error {
	_, err := s.db.ExecContext(ctx, s.rebind(`UPDATE rollout_steps SET state = 'rolling_back', error = ? WHERE rollout_id = ? AND account_id = ?
		AND state IN ('upgrading', 'rolling_back')`), clip(reason), rolloutID, accountID)
	if err != nil {
		return fmt.Errorf("rollout step %d/%d rolling back: %w", rolloutID, accountID, err)
	}
	return nil
}

// StepOutcome is how a step ended.
type StepOutcome struct {
	State pool.StepState // done, failed, rollback_failed or skipped
	// Generation is what the tenant runs now (done: the target; failed: its previous one).
	Generation string
	// Reason: why it failed or was skipped.
	Reason string
	// Event is the audit entry's detail (done, failed, rollback_failed): one per tenant.
	Event string
}

// FinishStep ends a step that is pending or in flight, in one transaction with everything it
// changes: the rollout's counters; for done the account's generation and an "upgraded" event;
// for failed and rollback_failed an "upgrade_failed" event, the rollout's last error and its
// hold (a running or paused rollout becomes held; an aborted one stays aborted). It returns
// false when the step had ended already (nothing changed).
func (s *Store) FinishStep(ctx context.Context, rolloutID, accountID int64, o StepOutcome) (bool, error) {
	counter := map[pool.StepState]string{pool.StepDone: "done", pool.StepFailed: "failed", pool.StepRollbackFailed: "failed", pool.StepSkipped: "skipped"}[o.State]
	if counter == "" {
		return false, fmt.Errorf("finish rollout step: %q is no outcome", o.State)
	}
	finished := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := s.lockRollout(ctx, tx, rolloutID)
		if err != nil {
			return err
		}
		now := s.nowMS()
		res, err := tx.ExecContext(ctx, s.rebind(`UPDATE rollout_steps SET state = ?, to_generation = ?, error = ?, finished_at = ?
			WHERE rollout_id = ? AND account_id = ? AND state IN ('pending', 'upgrading', 'rolling_back')`),
			string(o.State), o.Generation, clip(o.Reason), now, rolloutID, accountID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		finished = true
		state, lastErr := string(cur), ""
		if o.State.Failed() {
			if cur == pool.RolloutRunning || cur == pool.RolloutPaused {
				state = string(pool.RolloutHeld)
			}
			var slug string
			if err := tx.QueryRowContext(ctx, s.rebind(`SELECT slug FROM rollout_steps WHERE rollout_id = ? AND account_id = ?`), rolloutID, accountID).Scan(&slug); err != nil {
				return err
			}
			lastErr = clip(slug + ": " + o.Reason)
		}
		q := `UPDATE rollouts SET ` + counter + ` = ` + counter + ` + 1, state = ?, updated_at = ?`
		args := []any{state, now}
		if lastErr != "" {
			q += `, last_error = ?`
			args = append(args, lastErr)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(q+` WHERE id = ?`), append(args, rolloutID)...); err != nil {
			return err
		}
		switch o.State {
		case pool.StepDone:
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET generation = ?, updated_at = ? WHERE id = ?`), o.Generation, now, accountID); err != nil {
				return err
			}
			return s.addEventTx(ctx, tx, accountID, now, pool.EventUpgraded, clip(o.Event))
		case pool.StepFailed, pool.StepRollbackFailed:
			return s.addEventTx(ctx, tx, accountID, now, pool.EventUpgradeFailed, clip(o.Event))
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("finish rollout step %d/%d: %w", rolloutID, accountID, err)
	}
	return finished, nil
}

// FinishRollout marks a running rollout done when no step is left pending, in flight or
// failed; it reports whether it did.
func (s *Store) FinishRollout(ctx context.Context, id int64) (bool, error) {
	now := s.nowMS()
	res, err := s.db.ExecContext(ctx, s.rebind(`UPDATE rollouts SET state = 'done', updated_at = ?, finished_at = ? WHERE id = ? AND state = 'running'
		AND NOT EXISTS (SELECT 1 FROM rollout_steps WHERE rollout_id = ? AND state IN ('pending', 'upgrading', 'rolling_back', 'failed', 'rollback_failed'))`),
		now, now, id, id)
	if err != nil {
		return false, fmt.Errorf("finish rolling upgrade %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
