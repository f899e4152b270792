package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/axiestudio/tenantpool/pool/secret"
)

// deliveryAAD binds a sealed delivery password to its key and account, so a value copied to
// another row does not open.
func deliveryAAD(key string, accountID int64) []byte {
	return []byte("delivery:" + strconv.FormatInt(accountID, 10) + ":" + key)
}

// DeliveryPassword returns the customer password that delivery key (an e-mail's dedupe key, a
// manual claim's order) hands out for an account: made on the first call and stored sealed,
// the same on every later call — a retry, a crash's re-send, another replica. The caller
// rotates the tenant to it only after this returns, so the password is recorded before the
// old one stops working.
func (s *Store) DeliveryPassword(ctx context.Context, key, orderID string, accountID int64) (string, error) {
	if key == "" || accountID == 0 {
		return "", errors.New("delivery password: key and account are required")
	}
	pw := secret.Password(24)
	res, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO delivery_passwords (delivery_key, account_id, order_id, secret, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (delivery_key, account_id) DO NOTHING`),
		key, accountID, orderID, s.box.Seal([]byte(pw), deliveryAAD(key, accountID)), s.nowMS())
	if err != nil {
		return "", fmt.Errorf("delivery password: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return pw, nil
	}
	var sealed string
	if err := s.db.QueryRowContext(ctx, s.rebind(`SELECT secret FROM delivery_passwords WHERE delivery_key = ? AND account_id = ?`),
		key, accountID).Scan(&sealed); err != nil {
		return "", fmt.Errorf("delivery password: %w", err)
	}
	plain, err := s.box.Open(sealed, deliveryAAD(key, accountID))
	if err != nil {
		return "", fmt.Errorf("delivery password of account %d: %w", accountID, err)
	}
	return string(plain), nil
}

// Heartbeat records that the process whose job client has this id is alive, now. A process
// writes it before it starts working jobs and every few seconds after.
func (s *Store) Heartbeat(ctx context.Context, id string) error {
	now := s.nowMS()
	_, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO job_processes (id, started_at, heartbeat_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`), id, now, now)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// LeaveProcesses removes a process's heartbeat row (a clean shutdown: its jobs are finished
// or handed back by then).
func (s *Store) LeaveProcesses(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM job_processes WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	return nil
}

// RescueDeadProcesses makes the jobs still "running" under a process whose heartbeat is older
// than stale available again at once, and forgets those processes. A job counts as the
// process's when the process was the last to attempt it (river's attempted_by): a job it had
// picked up and a live process took over since is left alone, as is every job of a process
// with a fresh heartbeat. The dead processes' rows are locked (PostgreSQL) or the transaction
// is immediate (SQLite), so replicas doing this at once never both rescue one job. It returns
// how many jobs were rescued and the dead processes' ids.
func (s *Store) RescueDeadProcesses(ctx context.Context, stale time.Duration) (int, []string, error) {
	var (
		n    int
		dead []string
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		q := `SELECT id FROM job_processes WHERE heartbeat_at < ?`
		if s.pg {
			q += ` FOR UPDATE` // a concurrent rescuer waits, then finds the rows gone
		}
		rows, err := tx.QueryContext(ctx, s.rebind(q), s.nowMS()-stale.Milliseconds())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			dead = append(dead, id)
		}
		if err := rows.Err(); err != nil || len(dead) == 0 {
			return err
		}
		isDead := map[string]bool{}
		for _, id := range dead {
			isDead[id] = true
		}
		if n, err = s.rescueJobs(ctx, s.driver.UnwrapExecutor(tx), time.Now().Add(time.Hour), func(j *rivertype.JobRow) bool {
			return len(j.AttemptedBy) > 0 && isDead[j.AttemptedBy[len(j.AttemptedBy)-1]]
		}, "rescued: the process running it stopped its heartbeat"); err != nil {
			return err
		}
		for _, id := range dead {
			if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM job_processes WHERE id = ?`), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("rescue dead processes: %w", err)
	}
	return n, dead, nil
}

// rescueJobs makes the running jobs attempted before horizon that pick accepts available at
// once, each with an attempt error saying why.
func (s *Store) rescueJobs(ctx context.Context, exec riverdriver.Executor, horizon time.Time, pick func(*rivertype.JobRow) bool, why string) (int, error) {
	n := 0
	var after int64
	for {
		stuck, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{AfterID: after, Max: 100, StuckHorizon: horizon})
		if err != nil {
			return n, fmt.Errorf("rescue jobs: %w", err)
		}
		if len(stuck) == 0 {
			return n, nil
		}
		now := time.Now().UTC()
		p := &riverdriver.JobRescueManyParams{StuckHorizon: horizon}
		for _, j := range stuck {
			after = j.ID
			if !pick(j) {
				continue
			}
			e, _ := json.Marshal(rivertype.AttemptError{At: now, Attempt: max(j.Attempt, 0), Error: why})
			p.ID = append(p.ID, j.ID)
			p.Error = append(p.Error, e)
			p.FinalizedAt = append(p.FinalizedAt, nil)
			p.ScheduledAt = append(p.ScheduledAt, now)
			p.State = append(p.State, string(rivertype.JobStateAvailable))
		}
		if len(p.ID) > 0 {
			if _, err := exec.JobRescueMany(ctx, p); err != nil {
				return n, fmt.Errorf("rescue jobs: %w", err)
			}
			n += len(p.ID)
		}
	}
}

// ManualOrderPrefix is the namespace of the order ids of manual claims (`poold claim`, the
// admin API): "manual:<id>". Stripe's Checkout Session ids ("cs_…") never start with it, so a
// manual claim can never take, or be taken for, a paid order.
const ManualOrderPrefix = "manual:"

// ManualOrderID is the stored order id of a manual claim whose operator-given id is id.
func ManualOrderID(id string) string { return ManualOrderPrefix + id }
