package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
)

// claimHook runs inside the claim's transaction, after the account is claimed and before the
// commit: what it writes (the order, its jobs) commits or rolls back with the claim. It runs
// only for a new claim, not when the order already holds its account.
type claimHook func(ctx context.Context, tx *sql.Tx, a pool.Account) error

// Claim hands the oldest ready account of a tier to an order, atomically and idempotently:
// the same order always gets the same account (created=false on a repeat). An empty pool
// returns pool.ErrPoolEmpty and changes nothing. The jobs in then are inserted in the claim's
// transaction (only for a new claim).
//
// PostgreSQL: one statement (prior-claim lookup + UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP
// LOCKED)), in autocommit unless a hook needs the transaction; the server group-commits
// concurrent transactions itself. SQLite: concurrent claims are group-committed here — one
// immediate transaction (one fsync) carries a batch of claims, each in its own savepoint, so
// one claim's failure rolls back only itself.
func (s *Store) Claim(ctx context.Context, tier, orderID string, then ...jobs.Job) (pool.Account, bool, error) {
	var hook claimHook
	if len(then) > 0 {
		hook = func(ctx context.Context, tx *sql.Tx, _ pool.Account) error { return s.insertJobs(ctx, tx, then...) }
	}
	return s.claim(ctx, tier, orderID, nil, hook)
}

// claimStatement is the statement of a claim on PostgreSQL (claimPGStatement, or one that
// writes more in the same round trip); it runs in the claim's transaction when there is a hook.
type claimStatement func(ctx context.Context, q rowQuerier) (pool.Account, bool, error)

// claim runs stmt (nil: claimPGStatement) then hook on PostgreSQL, the claim and hook in a
// batch on SQLite, with the retries of a claim that lost a race.
func (s *Store) claim(ctx context.Context, tier, orderID string, stmt claimStatement, hook claimHook) (a pool.Account, created bool, err error) {
	if orderID == "" {
		return a, false, errors.New("claim: order id is required")
	}
	if obs := s.claimObserver.Load(); obs != nil {
		start := time.Now()
		defer func() { (*obs)(tier, time.Since(start), err) }()
	}
	if !s.pg {
		return s.claimBatched(ctx, tier, orderID, hook)
	}
	for attempt := 0; ; attempt++ {
		a, created, err = s.claimPG(ctx, tier, orderID, stmt, hook)
		// Two concurrent claims of one order: the loser hits the unique order_id and finds the
		// winner's account on the next pass.
		if isUniqueViolation(err) && attempt < 3 {
			continue
		}
		// SKIP LOCKED passes over the ready accounts other claims hold at this moment: with
		// them all held the pool only looks empty (one of them may be this order's own claim,
		// by another request). Try again once they are decided; a pool empty for good answers
		// at once.
		if errors.Is(err, pool.ErrPoolEmpty) && attempt < 10 {
			if held, cerr := s.readyHeld(ctx, tier); cerr == nil && held {
				time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
				continue
			}
		}
		return a, created, err
	}
}

// readyHeld reports whether tier has ready accounts at all (committed, whether or not a
// claim in flight holds them).
func (s *Store) readyHeld(ctx context.Context, tier string) (bool, error) {
	var some bool
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE state = 'ready' AND tier = $1)`, tier).Scan(&some)
	return some, err
}

const claimPGQuery = `WITH prior AS (
	SELECT ` + accountCols + ` FROM accounts WHERE order_id = $1
), claimed AS (
	UPDATE accounts SET state = 'claimed', order_id = $1, claimed_at = $3, updated_at = $3
	WHERE id = (SELECT id FROM accounts WHERE state = 'ready' AND tier = $2
		AND NOT EXISTS (SELECT 1 FROM prior) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
	RETURNING ` + accountCols + `
)
SELECT false, * FROM prior UNION ALL SELECT true, * FROM claimed`

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// claimPGStatement runs the claim statement; an empty pool is pool.ErrPoolEmpty, not an SQL
// error, so it never aborts a batch.
func (s *Store) claimPGStatement(ctx context.Context, q rowQuerier, tier, orderID string) (pool.Account, bool, error) {
	var created bool
	a, err := s.scanAccount(withLeading{q.QueryRowContext(ctx, claimPGQuery, orderID, tier, s.nowMS()), []any{&created}})
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, fmt.Errorf("tier %s: %w", tier, pool.ErrPoolEmpty)
	}
	if err != nil {
		return a, false, fmt.Errorf("claim: %w", err)
	}
	return a, created, nil
}

func (s *Store) claimPG(ctx context.Context, tier, orderID string, stmt claimStatement, hook claimHook) (pool.Account, bool, error) {
	run := func(q rowQuerier) (pool.Account, bool, error) { return s.claimPGStatement(ctx, q, tier, orderID) }
	if stmt != nil {
		run = func(q rowQuerier) (pool.Account, bool, error) { return stmt(ctx, q) }
	}
	if hook == nil {
		return run(s.db)
	}
	var (
		a       pool.Account
		created bool
	)
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		if a, created, err = run(tx); err != nil || !created {
			return err
		}
		return hook(ctx, tx, a)
	})
	return a, created, err
}

// ObserveClaims makes every claim report its tier, duration and error to fn (metrics).
func (s *Store) ObserveClaims(fn func(tier string, d time.Duration, err error)) {
	s.claimObserver.Store(&fn)
}

// withLeading scans leading columns into pre, then the rest into the caller's destinations.
type withLeading struct {
	r   scanner
	pre []any
}

func (w withLeading) Scan(dest ...any) error {
	return w.r.Scan(append(append([]any{}, w.pre...), dest...)...)
}

// withTrailing scans the caller's columns, then trailing columns into post.
type withTrailing struct {
	r    scanner
	post []any
}

func (w withTrailing) Scan(dest ...any) error {
	return w.r.Scan(append(append([]any{}, dest...), w.post...)...)
}

// SQLite group commit.

type claimReq struct {
	ctx         context.Context
	tier, order string
	hook        claimHook
	a           pool.Account
	created     bool
	err         error
	done        chan struct{}
}

// maxClaimBatch bounds how many claims share one transaction.
const maxClaimBatch = 64

func (s *Store) claimBatched(ctx context.Context, tier, orderID string, hook claimHook) (pool.Account, bool, error) {
	req := &claimReq{ctx: ctx, tier: tier, order: orderID, hook: hook, done: make(chan struct{})}
	select {
	case s.claims <- req:
	case <-ctx.Done():
		return pool.Account{}, false, ctx.Err()
	case <-s.closed:
		return pool.Account{}, false, errors.New("claim: store closed")
	}
	<-req.done // the batcher always answers, even when the caller's ctx ends meanwhile
	return req.a, req.created, req.err
}

// claimLoop is the SQLite claim batcher: it owns no state beyond the channel and exits when
// the store closes.
func (s *Store) claimLoop() {
	defer close(s.claimsDone)
	for {
		var first *claimReq
		select {
		case first = <-s.claims:
		case <-s.closed:
			return
		}
		batch := []*claimReq{first}
	drain:
		for len(batch) < maxClaimBatch {
			select {
			case r := <-s.claims:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.runClaimBatch(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

func (s *Store) runClaimBatch(batch []*claimReq) {
	ctx := context.Background() // one caller's cancellation must not abort the others' claims
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		for _, r := range batch {
			r.err = fmt.Errorf("claim: begin: %w", err)
		}
		return
	}
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT claim"); err != nil {
			r.err = fmt.Errorf("claim: %w", err)
			continue
		}
		r.a, r.created, r.err = s.claimSQLite(r.ctx, tx, r.tier, r.order, r.hook)
		if r.err != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO claim"); err != nil {
				r.err = errors.Join(r.err, err)
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE claim"); err != nil && r.err == nil {
			r.err = fmt.Errorf("claim: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		for _, r := range batch {
			if r.err == nil {
				r.a, r.created, r.err = pool.Account{}, false, fmt.Errorf("claim: commit: %w", err)
			}
		}
	}
}

func (s *Store) claimSQLite(ctx context.Context, tx *sql.Tx, tier, orderID string, hook claimHook) (pool.Account, bool, error) {
	prior, err := s.queryAccounts(ctx, tx, `SELECT `+accountCols+` FROM accounts WHERE order_id = ?`, orderID)
	if err != nil {
		return pool.Account{}, false, fmt.Errorf("claim: %w", err)
	}
	if len(prior) > 0 {
		return prior[0], false, nil
	}
	now := s.nowMS()
	got, err := s.queryAccounts(ctx, tx, `UPDATE accounts SET state = 'claimed', order_id = ?, claimed_at = ?, updated_at = ?
		WHERE id = (SELECT id FROM accounts WHERE state = 'ready' AND tier = ? ORDER BY id LIMIT 1)
		RETURNING `+accountCols, orderID, now, now, tier)
	if err != nil {
		return pool.Account{}, false, fmt.Errorf("claim: %w", err)
	}
	if len(got) == 0 {
		return pool.Account{}, false, fmt.Errorf("tier %s: %w", tier, pool.ErrPoolEmpty)
	}
	if hook != nil {
		if err := hook(ctx, tx, got[0]); err != nil {
			return pool.Account{}, false, err
		}
	}
	return got[0], true, nil
}
