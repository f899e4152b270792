package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/secret"
)

func fsSub(f fs.FS, dir string) (fs.FS, error) { return fs.Sub(f, dir) }

const accountCols = `id, slug, tier, state, host, url, operator_user, customer_user, customer_user_id,
	secrets, order_id, origin, generation, attempts, last_error, created_at, updated_at, started_at, ready_at, claimed_at,
	retire_at`

// OperatorUser is the Langflow superuser name every tenant is built with.
const OperatorUser = "tenantpool-admin"

// sealedSecrets is the JSON sealed into accounts.secrets.
type sealedSecrets struct {
	OperatorPassword string `json:"op"`
	SecretKey        string `json:"sk"`
	CustomerPassword string `json:"cp"`
	// OperatorBootstrap is absent from rows written before it existed: their container
	// environment holds OperatorPassword itself (see scanAccount).
	OperatorBootstrap string `json:"ob,omitempty"`
}

func aad(id int64) []byte { return []byte("account:" + strconv.FormatInt(id, 10)) }

func (s *Store) seal(a pool.Account) (string, error) {
	b, err := json.Marshal(sealedSecrets{a.OperatorPassword, a.SecretKey, a.CustomerPassword, a.OperatorBootstrap})
	if err != nil {
		return "", err
	}
	return s.box.Seal(b, aad(a.ID)), nil
}

type scanner interface{ Scan(dest ...any) error }

func (s *Store) scanAccount(r scanner) (pool.Account, error) {
	var (
		a                                                pool.Account
		state, sealed, origin                            string
		order                                            sql.NullString
		created, updated, started, ready, claimd, retire int64
	)
	err := r.Scan(&a.ID, &a.Slug, &a.Tier, &state, &a.Host, &a.URL, &a.OperatorUser, &a.CustomerUser,
		&a.CustomerUserID, &sealed, &order, &origin, &a.Generation, &a.Attempts, &a.LastError,
		&created, &updated, &started, &ready, &claimd, &retire)
	if err != nil {
		return a, err
	}
	a.State, a.Origin = pool.State(state), pool.Origin(origin)
	a.OrderID = order.String
	a.CreatedAt, a.UpdatedAt, a.ReadyAt, a.ClaimedAt = msTime(created), msTime(updated), msTime(ready), msTime(claimd)
	a.StartedAt, a.RetireAt = msTime(started), msTime(retire)
	plain, err := s.box.Open(sealed, aad(a.ID))
	if err != nil {
		return a, fmt.Errorf("account %d: %w", a.ID, err)
	}
	var sec sealedSecrets
	if err := json.Unmarshal(plain, &sec); err != nil {
		return a, fmt.Errorf("account %d: secrets: %w", a.ID, err)
	}
	a.OperatorPassword, a.SecretKey, a.CustomerPassword = sec.OperatorPassword, sec.SecretKey, sec.CustomerPassword
	a.OperatorBootstrap = sec.OperatorBootstrap
	if a.OperatorBootstrap == "" {
		// Written before the operator's password was rotated at provisioning: the container's
		// environment holds the one the daemon uses, and re-applies must keep it there.
		a.OperatorBootstrap = a.OperatorPassword
	}
	return a, nil
}

func (s *Store) queryAccounts(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]pool.Account, error) {
	rows, err := q.QueryContext(ctx, s.rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pool.Account
	for rows.Next() {
		a, err := s.scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// bump atomically adds n to a named counter and returns the new value (the last of the n
// values handed out). Concurrent callers, in this process or another replica, never overlap.
func (s *Store) bump(ctx context.Context, tx *sql.Tx, name string, n int) (int64, error) {
	if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO counters (name, value) VALUES (?, 0) ON CONFLICT (name) DO NOTHING`), name); err != nil {
		return 0, fmt.Errorf("counter %s: %w", name, err)
	}
	var v int64
	err := tx.QueryRowContext(ctx, s.rebind(`UPDATE counters SET value = value + ? WHERE name = ? RETURNING value`), n, name).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("counter %s: %w", name, err)
	}
	return v, nil
}

// CreateAccounts writes an operator batch (`poold batch create`, the admin API's batch route):
// CreateAccountsFrom with origin pool.OriginBatch.
func (s *Store) CreateAccounts(ctx context.Context, tier, prefix string, n int) ([]pool.Account, error) {
	return s.CreateAccountsFrom(ctx, pool.OriginBatch, tier, prefix, n)
}

// CreateAccountsFrom writes n accounts of a tier in state provisioning, with fresh slugs
// (<prefix><NN>), generated credentials, the origin, and one provisioning job each — all in one
// transaction, before any infrastructure exists.
func (s *Store) CreateAccountsFrom(ctx context.Context, origin pool.Origin, tier, prefix string, n int) ([]pool.Account, error) {
	if origin != pool.OriginPool && origin != pool.OriginBatch && origin != pool.OriginOrder {
		return nil, fmt.Errorf("unknown account origin %q", origin)
	}
	if n < 1 {
		return nil, fmt.Errorf("count %d must be ≥ 1", n)
	}
	if err := pool.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	var accounts []pool.Account
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		accounts, err = s.createAccountsTx(ctx, tx, origin, tier, prefix, n, s.nowMS())
		return err
	})
	if err != nil {
		return nil, err
	}
	return accounts, nil
}

// createAccountsTx is CreateAccounts inside the caller's transaction (an on-demand account for
// a pending order commits with the order).
func (s *Store) createAccountsTx(ctx context.Context, tx *sql.Tx, origin pool.Origin, tier, prefix string, n int, now int64) ([]pool.Account, error) {
	lastID, err := s.bump(ctx, tx, "account", n)
	if err != nil {
		return nil, err
	}
	lastSlug, err := s.bump(ctx, tx, "slug:"+prefix, n)
	if err != nil {
		return nil, err
	}
	accounts := make([]pool.Account, n)
	provision := make([]jobs.Job, n)
	for i := range n {
		a := pool.Account{
			ID:           lastID - int64(n-1-i),
			Slug:         pool.Slug(prefix, lastSlug-int64(n-1-i)),
			Tier:         tier,
			State:        pool.StateProvisioning,
			Origin:       origin,
			OperatorUser: OperatorUser,
			// Both operator passwords are sealed here, before any infrastructure exists: the
			// bootstrap one goes into the container's environment, the other replaces it through
			// Langflow's API after the first healthy start. A crash between that change and
			// anything after it loses nothing: a retry logs in with either.
			OperatorBootstrap: secret.Password(32),
			OperatorPassword:  secret.Password(32),
			SecretKey:         secret.Token(),
			CustomerPassword:  secret.Password(24),
			CreatedAt:         msTime(now),
			UpdatedAt:         msTime(now),
		}
		a.CustomerUser = a.Slug
		if !pool.ValidLabel(a.Slug) {
			return nil, fmt.Errorf("slug %q is not a valid DNS label (prefix too long?)", a.Slug)
		}
		sealed, err := s.seal(a)
		if err != nil {
			return nil, err
		}
		_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO accounts
			(id, slug, tier, state, origin, operator_user, customer_user, secrets, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			a.ID, a.Slug, a.Tier, string(a.State), string(a.Origin), a.OperatorUser, a.CustomerUser, sealed, now, now)
		if err != nil {
			if isUniqueViolation(err) {
				return nil, fmt.Errorf("slug %s already taken: %w", a.Slug, err)
			}
			return nil, fmt.Errorf("insert account: %w", err)
		}
		accounts[i] = a
		provision[i] = jobs.Job{Args: jobs.ProvisionArgs{AccountID: a.ID}}
	}
	if err := s.insertJobs(ctx, tx, provision...); err != nil {
		return nil, fmt.Errorf("enqueue provisioning: %w", err)
	}
	return accounts, nil
}

// insertJobs enqueues jobs inside the caller's transaction (transactional enqueue), with the
// registry's options; a unique job already queued is skipped.
func (s *Store) insertJobs(ctx context.Context, tx *sql.Tx, js ...jobs.Job) error {
	if len(js) == 0 {
		return nil
	}
	params, err := jobs.Insert(js...)
	if err != nil {
		return err
	}
	if _, err := s.river.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue %s: %w", js[0].Args.Kind(), err)
	}
	return nil
}

// Get returns one account by id.
func (s *Store) Get(ctx context.Context, id int64) (pool.Account, error) {
	as, err := s.queryAccounts(ctx, s.db, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id)
	if err != nil {
		return pool.Account{}, fmt.Errorf("get account %d: %w", id, err)
	}
	if len(as) == 0 {
		return pool.Account{}, fmt.Errorf("account %d: %w", id, pool.ErrNotFound)
	}
	return as[0], nil
}

// GetBySlug returns one account by slug.
func (s *Store) GetBySlug(ctx context.Context, slug string) (pool.Account, error) {
	as, err := s.queryAccounts(ctx, s.db, `SELECT `+accountCols+` FROM accounts WHERE slug = ?`, slug)
	if err != nil {
		return pool.Account{}, fmt.Errorf("get account %s: %w", slug, err)
	}
	if len(as) == 0 {
		return pool.Account{}, fmt.Errorf("account %q: %w", slug, pool.ErrNotFound)
	}
	return as[0], nil
}

// Filter selects accounts for List.
type Filter struct {
	Tier  string
	State pool.State
	Limit int // 0 = no limit
}

// List returns accounts, oldest first.
func (s *Store) List(ctx context.Context, f Filter) ([]pool.Account, error) {
	var where []string
	var args []any
	if f.Tier != "" {
		where = append(where, "tier = ?")
		args = append(args, f.Tier)
	}
	if f.State != "" {
		where = append(where, "state = ?")
		args = append(args, string(f.State))
	}
	q := `SELECT ` + accountCols + ` FROM accounts`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	as, err := s.queryAccounts(ctx, s.db, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return as, nil
}

// Reserve takes up to n ready accounts of a tier (all tiers when tier is ""; all ready
// accounts when n is 0) out of the pool for good — state reserved — because their credentials
// leave the system. write runs before the commit: if it fails nothing is reserved; the
// accounts are only sold by whoever holds what write produced.
func (s *Store) Reserve(ctx context.Context, tier string, n int, write func([]pool.Account) error) ([]pool.Account, error) {
	var out []pool.Account
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		q := `SELECT id FROM accounts WHERE state = 'ready'`
		var args []any
		if tier != "" {
			q += " AND tier = ?"
			args = append(args, tier)
		}
		q += " ORDER BY id"
		if n > 0 {
			q += " LIMIT " + strconv.Itoa(n)
		}
		if s.pg {
			q += " FOR UPDATE SKIP LOCKED"
		}
		ids, err := queryIDs(ctx, tx, s.rebind(q), args...)
		if err != nil {
			return fmt.Errorf("reserve: %w", err)
		}
		now := s.nowMS()
		for _, id := range ids {
			got, err := s.queryAccounts(ctx, tx, `UPDATE accounts SET state = 'reserved', updated_at = ?
				WHERE id = ? AND state = 'ready' RETURNING `+accountCols, now, id)
			if err != nil {
				return fmt.Errorf("reserve: %w", err)
			}
			out = append(out, got...)
		}
		return write(out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// StartAttempt counts a provisioning attempt and returns the account; the first one also
// records when provisioning started (stuck time counts from there). An account that is no
// longer provisioning is returned as it is, unchanged.
func (s *Store) StartAttempt(ctx context.Context, id int64) (pool.Account, error) {
	now := s.nowMS()
	got, err := s.queryAccounts(ctx, s.db, `UPDATE accounts SET attempts = attempts + 1, updated_at = ?,
		started_at = CASE WHEN started_at = 0 THEN ? ELSE started_at END
		WHERE id = ? AND state = 'provisioning' RETURNING `+accountCols, now, now, id)
	if err != nil {
		return pool.Account{}, fmt.Errorf("start attempt %d: %w", id, err)
	}
	if len(got) == 0 {
		return s.Get(ctx, id)
	}
	return got[0], nil
}

// RecordError notes a provisioning error that will be retried.
func (s *Store) RecordError(ctx context.Context, id int64, reason string) error {
	_, err := s.db.ExecContext(ctx, s.rebind(`UPDATE accounts SET last_error = ?, updated_at = ? WHERE id = ?`), reason, s.nowMS(), id)
	if err != nil {
		return fmt.Errorf("record error %d: %w", id, err)
	}
	return nil
}

// MarkReady moves a provisioning account to ready with what provisioning reported, and
// resets its tier's failure streak. It fails with pool.ErrIllegalTransition when the account
// left provisioning meanwhile (cleaned as stuck, retired).
func (s *Store) MarkReady(ctx context.Context, id int64, p pool.Provisioned) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.nowMS()
		var tier string
		err := tx.QueryRowContext(ctx, s.rebind(`UPDATE accounts SET state = 'ready', host = ?, url = ?, customer_user_id = ?,
			generation = ?, last_error = '', ready_at = ?, updated_at = ? WHERE id = ? AND state = 'provisioning' RETURNING tier`),
			p.Host, p.URL, p.CustomerUserID, p.Generation, now, now, id).Scan(&tier)
		if errors.Is(err, sql.ErrNoRows) {
			return s.transitionError(ctx, tx, id, pool.StateReady)
		}
		if err != nil {
			return fmt.Errorf("mark ready %d: %w", id, err)
		}
		return s.tierSucceeded(ctx, tx, tier)
	})
}

// MarkFailed moves a provisioning account to failed, counts the failure against its tier
// (unless it belongs to an operator batch) and enqueues the teardown of whatever was built.
func (s *Store) MarkFailed(ctx context.Context, id int64, reason string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		n, err := s.failTx(ctx, tx, []int64{id}, reason)
		if err != nil {
			return err
		}
		if n == 0 {
			return s.transitionError(ctx, tx, id, pool.StateFailed)
		}
		return nil
	})
}

// FailStuck fails the listed accounts that are still provisioning (the planner found them
// stuck), counts the pool's against their tier and enqueues their teardown; it returns how many
// it failed.
func (s *Store) FailStuck(ctx context.Context, ids []int64, reason string) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		n, err = s.failTx(ctx, tx, ids, reason)
		return err
	})
	return n, err
}

func (s *Store) failTx(ctx context.Context, tx *sql.Tx, ids []int64, reason string) (int, error) {
	now := s.nowMS()
	n := 0
	for _, id := range ids {
		var tier, origin string
		err := tx.QueryRowContext(ctx, s.rebind(`UPDATE accounts SET state = 'failed', last_error = ?, updated_at = ?
			WHERE id = ? AND state = 'provisioning' RETURNING tier, origin`), reason, now, id).Scan(&tier, &origin)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("fail account %d: %w", id, err)
		}
		// An operator batch is not the pool's doing: its failures must not stop the tier.
		if pool.Origin(origin) != pool.OriginBatch {
			if err := s.tierFailed(ctx, tx, tier, reason, now); err != nil {
				return n, err
			}
		}
		if err := s.insertJobs(ctx, tx, jobs.Job{Args: jobs.DestroyArgs{AccountID: id}}); err != nil {
			return n, fmt.Errorf("enqueue teardown: %w", err)
		}
		n++
	}
	return n, nil
}

// Retire moves one account to retired (if its state allows it) and enqueues its teardown.
func (s *Store) Retire(ctx context.Context, id int64) (pool.Account, error) {
	var a pool.Account
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		if a, err = s.lockAccount(ctx, tx, id); err != nil {
			return fmt.Errorf("retire: %w", err)
		}
		return s.retireTx(ctx, tx, &a, s.nowMS())
	})
	return a, err
}

// RetireRequest is an operator's request to retire an account (`poold retire`, the admin API).
type RetireRequest struct {
	// Force allows retiring a sold account (pool.State.Sold).
	Force bool
	// Now retires a sold account at once instead of after the grace.
	Now bool
	// Grace is how long a sold account is kept suspended before it is destroyed.
	Grace time.Duration
}

// RequestRetire carries out an operator's retire request, decided by pool.DecideRetire on the
// account as it is inside the transaction (so a claim that lands meanwhile is never destroyed
// without force):
//
//   - pool.RetireNow: the account is retired and its teardown queued (as Retire);
//   - pool.RetireAfterGrace: the account becomes suspended and gets a retire time (now + grace;
//     a retirement already pending keeps its earlier time), and two jobs are queued with it —
//     one that stops the tenant now, keeping its data, and one that retires it at the retire
//     time.
//
// A sold account without Force is refused with pool.ErrForceRequired and nothing changes. It
// returns the account as it is afterwards and how it was retired.
func (s *Store) RequestRetire(ctx context.Context, id int64, req RetireRequest) (pool.Account, pool.RetireHow, error) {
	var (
		a   pool.Account
		how pool.RetireHow
	)
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		if a, err = s.lockAccount(ctx, tx, id); err != nil {
			return fmt.Errorf("retire: %w", err)
		}
		if how, err = pool.DecideRetire(a.State, req.Force, req.Now); err != nil {
			return fmt.Errorf("retire %s: %w", a.Slug, err)
		}
		now := s.nowMS()
		if how == pool.RetireNow {
			return s.retireTx(ctx, tx, &a, now)
		}
		if req.Grace <= 0 {
			return fmt.Errorf("retire %s: the suspension grace must be > 0", a.Slug)
		}
		if a.State != pool.StateSuspended {
			if err := pool.CheckTransition(a.State, pool.StateSuspended); err != nil {
				return fmt.Errorf("retire %s: %w", a.Slug, err)
			}
		}
		if a.RetireAt.IsZero() {
			a.RetireAt = msTime(now + req.Grace.Milliseconds())
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET state = 'suspended', retire_at = ?, updated_at = ? WHERE id = ?`),
			a.RetireAt.UnixMilli(), now, id); err != nil {
			return fmt.Errorf("retire %d: %w", id, err)
		}
		a.State, a.UpdatedAt = pool.StateSuspended, msTime(now)
		// Both unique by their arguments: a repeated request queues nothing new.
		return s.insertJobs(ctx, tx,
			jobs.Job{Args: jobs.SuspendAccountArgs{AccountID: id}},
			jobs.Job{Args: jobs.RetireAccountArgs{AccountID: id, RetireAt: a.RetireAt.UnixMilli()}, ScheduledAt: a.RetireAt})
	})
	if err != nil {
		return pool.Account{}, 0, err
	}
	return a, how, nil
}

// RetireReady retires up to n of the pool's oldest ready accounts of a tier (inventory above
// max_total; operator batches are never retired by it) and enqueues their teardown. It returns
// the retired ids.
func (s *Store) RetireReady(ctx context.Context, tier string, n int) ([]int64, error) {
	var ids []int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		q := `SELECT id FROM accounts WHERE state = 'ready' AND tier = ? AND origin <> 'batch' ORDER BY id LIMIT ?`
		if s.pg {
			q += " FOR UPDATE SKIP LOCKED"
		}
		var err error
		if ids, err = queryIDs(ctx, tx, s.rebind(q), tier, n); err != nil {
			return fmt.Errorf("retire ready: %w", err)
		}
		now := s.nowMS()
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET state = 'retired', updated_at = ? WHERE id = ?`), now, id); err != nil {
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

// SetState applies a lifecycle step checked against the state graph (e.g. claimed → delivered).
func (s *Store) SetState(ctx context.Context, id int64, to pool.State) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var from string
		q := `SELECT state FROM accounts WHERE id = ?`
		if s.pg {
			q += " FOR UPDATE"
		}
		if err := tx.QueryRowContext(ctx, s.rebind(q), id).Scan(&from); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("account %d: %w", id, pool.ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("set state %d: %w", id, err)
		}
		if err := pool.CheckTransition(pool.State(from), to); err != nil {
			return fmt.Errorf("account %d: %w", id, err)
		}
		_, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET state = ?, updated_at = ? WHERE id = ?`), string(to), s.nowMS(), id)
		return err
	})
}

func (s *Store) transitionError(ctx context.Context, tx *sql.Tx, id int64, to pool.State) error {
	var from string
	err := tx.QueryRowContext(ctx, s.rebind(`SELECT state FROM accounts WHERE id = ?`), id).Scan(&from)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("account %d: %w", id, pool.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("account %d: %w: %s → %s", id, pool.ErrIllegalTransition, from, to)
}

// tier status

func (s *Store) ensureTier(ctx context.Context, tx *sql.Tx, tier string) error {
	_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO tier_status (tier) VALUES (?) ON CONFLICT (tier) DO NOTHING`), tier)
	return err
}

func (s *Store) tierSucceeded(ctx context.Context, tx *sql.Tx, tier string) error {
	if err := s.ensureTier(ctx, tx, tier); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.rebind(`UPDATE tier_status SET consecutive_failures = 0 WHERE tier = ?`), tier)
	return err
}

func (s *Store) tierFailed(ctx context.Context, tx *sql.Tx, tier, reason string, now int64) error {
	if err := s.ensureTier(ctx, tx, tier); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.rebind(`UPDATE tier_status SET consecutive_failures = consecutive_failures + 1,
		last_failure_at = ?, last_error = ? WHERE tier = ?`), now, reason, tier)
	return err
}

// SetPaused pauses or resumes reconciling a tier. Resuming also clears its failure streak, so
// a hard-limited tier starts creating again once the operator has fixed the cause.
func (s *Store) SetPaused(ctx context.Context, tier string, paused bool) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.ensureTier(ctx, tx, tier); err != nil {
			return err
		}
		q := `UPDATE tier_status SET paused = ? WHERE tier = ?`
		if !paused {
			q = `UPDATE tier_status SET paused = ?, consecutive_failures = 0 WHERE tier = ?`
		}
		p := 0
		if paused {
			p = 1
		}
		_, err := tx.ExecContext(ctx, s.rebind(q), p, tier)
		return err
	})
}

// Snapshot reads what the planner needs, for every tier, in one read: counts of the live
// states (provisioning, ready) by origin, a page of stuck provisioning rows, and the tiers'
// pause and failure status. An account is stuck when its provisioning job first started
// (StartAttempt) before stuckBefore, or when it never started, was created before stuckBefore
// and has no provisioning job left that could start it (none in a non-final state: the job was
// lost). An account waiting in the queue behind a big batch is not stuck. Its cost follows the
// live rows and live jobs, not the claimed or retired history (indexed on state).
func (s *Store) Snapshot(ctx context.Context, stuckBefore time.Time, stuckPage int) (pool.Snapshot, error) {
	snap := pool.Snapshot{}
	opts := &sql.TxOptions{}
	if s.pg {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT tier, state, origin, COUNT(*) FROM accounts
		WHERE state IN ('provisioning', 'ready') GROUP BY tier, state, origin`)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	for rows.Next() {
		var tier, state, origin string
		var n int
		if err := rows.Scan(&tier, &state, &origin, &n); err != nil {
			rows.Close()
			return nil, err
		}
		t := snap[tier]
		switch {
		case state == string(pool.StateReady) && origin == string(pool.OriginBatch):
			t.BatchReady += n
		case state == string(pool.StateReady):
			t.Ready += n
		case origin != string(pool.OriginBatch):
			t.Provisioning += n
		}
		snap[tier] = t
	}
	rows.Close()
	jobAccount := `CAST(json_extract(args, '$.account_id') AS INTEGER)`
	if s.pg {
		jobAccount = `(args->>'account_id')::bigint`
	}
	cutoff := stuckBefore.UnixMilli()
	rows, err = tx.QueryContext(ctx, s.rebind(`SELECT id, tier, origin FROM accounts WHERE state = 'provisioning' AND (
			(started_at <> 0 AND started_at < ?)
			OR (started_at = 0 AND created_at < ? AND id NOT IN (
				SELECT `+jobAccount+` FROM river_job WHERE kind = ?
				AND state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
				AND `+jobAccount+` IS NOT NULL)))
		ORDER BY created_at LIMIT ?`), cutoff, cutoff, jobs.ProvisionArgs{}.Kind(), stuckPage)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	for rows.Next() {
		var id int64
		var tier, origin string
		if err := rows.Scan(&id, &tier, &origin); err != nil {
			rows.Close()
			return nil, err
		}
		t := snap[tier]
		if origin == string(pool.OriginBatch) {
			t.BatchStuck = append(t.BatchStuck, id)
		} else {
			t.Stuck = append(t.Stuck, id)
		}
		snap[tier] = t
	}
	rows.Close()
	status, err := tierStatuses(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	for tier, st := range status {
		t := snap[tier]
		t.Paused, t.ConsecutiveFailures, t.LastFailureAt = st.Paused, st.ConsecutiveFailures, st.LastFailureAt
		snap[tier] = t
	}
	return snap, tx.Commit()
}

// TierStatus is a tier's reconcile status, for status displays.
type TierStatus struct {
	Paused              bool
	ConsecutiveFailures int
	LastFailureAt       time.Time
	LastError           string
}

// Counts returns, per tier, the number of accounts in every state, plus each tier's status.
// (A full count, for operators: the planner uses Snapshot.)
func (s *Store) Counts(ctx context.Context) (map[string]map[pool.State]int, map[string]TierStatus, error) {
	counts := map[string]map[pool.State]int{}
	rows, err := s.db.QueryContext(ctx, `SELECT tier, state, COUNT(*) FROM accounts GROUP BY tier, state`)
	if err != nil {
		return nil, nil, fmt.Errorf("counts: %w", err)
	}
	for rows.Next() {
		var tier, state string
		var n int
		if err := rows.Scan(&tier, &state, &n); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if counts[tier] == nil {
			counts[tier] = map[pool.State]int{}
		}
		counts[tier][pool.State(state)] = n
	}
	rows.Close()
	status, err := tierStatuses(ctx, s.db)
	return counts, status, err
}

func tierStatuses(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[string]TierStatus, error) {
	status := map[string]TierStatus{}
	rows, err := q.QueryContext(ctx, `SELECT tier, paused, consecutive_failures, last_failure_at, last_error FROM tier_status`)
	if err != nil {
		return nil, fmt.Errorf("tier status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tier string
		var st TierStatus
		var paused int
		var last int64
		if err := rows.Scan(&tier, &paused, &st.ConsecutiveFailures, &last, &st.LastError); err != nil {
			return nil, err
		}
		st.Paused, st.LastFailureAt = paused != 0, msTime(last)
		status[tier] = st
	}
	return status, rows.Err()
}

// queryIDs runs a query of one id column and closes its rows before returning, so the
// transaction can run its next statement.
func queryIDs(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// retireTx retires a (read by lockAccount in tx) if its state allows it, and enqueues its
// teardown in the same transaction.
func (s *Store) retireTx(ctx context.Context, tx *sql.Tx, a *pool.Account, now int64) error {
	if err := pool.CheckTransition(a.State, pool.StateRetired); err != nil {
		return fmt.Errorf("retire %s: %w", a.Slug, err)
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET state = 'retired', updated_at = ? WHERE id = ?`), now, a.ID); err != nil {
		return fmt.Errorf("retire %s: %w", a.Slug, err)
	}
	a.State, a.UpdatedAt = pool.StateRetired, msTime(now)
	return s.insertJobs(ctx, tx, jobs.Job{Args: jobs.DestroyArgs{AccountID: a.ID}})
}

// lockAccount reads one account inside tx, locking its row on PostgreSQL (SQLite's immediate
// transaction holds the whole database).
func (s *Store) lockAccount(ctx context.Context, tx *sql.Tx, id int64) (pool.Account, error) {
	q := `SELECT ` + accountCols + ` FROM accounts WHERE id = ?`
	if s.pg {
		q += " FOR UPDATE"
	}
	got, err := s.queryAccounts(ctx, tx, q, id)
	if err != nil {
		return pool.Account{}, fmt.Errorf("account %d: %w", id, err)
	}
	if len(got) == 0 {
		return pool.Account{}, fmt.Errorf("account %d: %w", id, pool.ErrNotFound)
	}
	return got[0], nil
}
