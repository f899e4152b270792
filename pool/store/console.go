package store

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/axiestudio/tenantpool/pool"
)

// The operator console's reads (package console). They never read the sealed secrets, and each
// reads a bounded page through the indexes of migration 00008.

// AccountRow is one account as the console lists it: no secret.
type AccountRow struct {
	ID            int64
	Slug          string
	Tier          string
	State         pool.State
	URL           string
	OrderID       string
	Origin        pool.Origin
	Generation    string
	Attempts      int
	LastError     string
	CustomerEmail string // the order's ("" when unsold or a manual sale)
	CreatedAt     time.Time
	ReadyAt       time.Time
	ClaimedAt     time.Time
	RetireAt      time.Time
	Probe         ProbeStatus
}

// AccountQuery selects a page of accounts, newest first.
type AccountQuery struct {
	Tier  string
	State pool.State
	// Search matches a slug prefix, or an order id or a customer e-mail exactly.
	Search string
	// Flagged selects live (not retired) accounts that are flagged or failing their probes.
	Flagged bool
	// Before is the keyset cursor: only accounts with a smaller id (0 = from the newest).
	Before int64
	// IDs, when both set, restricts to the id range [From, To] (a batch).
	From, To int64
	Limit    int // 1–1000
}

var slugPrefix = regexp.MustCompile(`^[a-z0-9-]{1,63}$`)

const rowCols = `a.id, a.slug, a.tier, a.state, a.url, COALESCE(a.order_id, ''), a.origin, a.generation, a.attempts,
	a.last_error, COALESCE(o.customer_email, ''), a.created_at, a.ready_at, a.claimed_at, a.retire_at,
	a.probe_failures, a.probe_error, a.probed_at, a.flagged_at`

// ConsoleAccounts returns a page of accounts, newest first, and whether more follow.
func (s *Store) ConsoleAccounts(ctx context.Context, q AccountQuery) ([]AccountRow, bool, error) {
	if q.Limit < 1 || q.Limit > 1000 {
		return nil, false, fmt.Errorf("console accounts: limit %d out of 1–1000", q.Limit)
	}
	var where []string
	var args []any
	if q.Tier != "" {
		where, args = append(where, "a.tier = ?"), append(args, q.Tier)
	}
	if q.State != "" {
		where, args = append(where, "a.state = ?"), append(args, string(q.State))
	}
	if q.Flagged {
		where = append(where, "(flagged_at <> 0 OR probe_failures > 0)", "a.state <> 'retired'")
	}
	if q.Search != "" {
		// A slug prefix only when the search could be one (slugs are DNS labels): SQLite's GLOB
		// is case-sensitive and reads the slug index; PostgreSQL's LIKE needs no escaping then.
		terms := []string{"a.order_id = ?", "a.order_id IN (SELECT id FROM orders WHERE customer_email = ?)"}
		args = append(args, q.Search, q.Search)
		if slugPrefix.MatchString(q.Search) {
			if s.pg {
				terms, args = append(terms, "a.slug LIKE ?"), append(args, q.Search+"%")
			} else {
				terms, args = append(terms, "a.slug GLOB ?"), append(args, q.Search+"*")
			}
		}
		where = append(where, "("+strings.Join(terms, " OR ")+")")
	}
	if q.Before > 0 {
		where, args = append(where, "a.id < ?"), append(args, q.Before)
	}
	if q.From > 0 && q.To >= q.From {
		where, args = append(where, "a.id BETWEEN ? AND ?"), append(args, q.From, q.To)
	}
	query := `SELECT ` + rowCols + ` FROM accounts a LEFT JOIN orders o ON o.id = a.order_id`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	order := " ORDER BY a.id DESC"
	if q.Flagged {
		order = " ORDER BY a.flagged_at = 0, a.probe_failures DESC, a.id DESC"
	}
	query += order + fmt.Sprintf(" LIMIT %d", q.Limit+1)
	rows, err := s.db.QueryContext(ctx, s.rebind(query), args...)
	if err != nil {
		return nil, false, fmt.Errorf("console accounts: %w", err)
	}
	defer rows.Close()
	var out []AccountRow
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, false, fmt.Errorf("console accounts: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("console accounts: %w", err)
	}
	more := len(out) > q.Limit
	if more {
		out = out[:q.Limit]
	}
	return out, more, nil
}

// ConsoleAccount returns one account's row.
func (s *Store) ConsoleAccount(ctx context.Context, id int64) (AccountRow, error) {
	row := s.db.QueryRowContext(ctx, s.rebind(`SELECT `+rowCols+` FROM accounts a LEFT JOIN orders o ON o.id = a.order_id WHERE a.id = ?`), id)
	r, err := scanRow(row)
	if err == sql.ErrNoRows {
		return r, fmt.Errorf("account %d: %w", id, pool.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("account %d: %w", id, err)
	}
	return r, nil
}

func scanRow(sc scanner) (AccountRow, error) {
	var (
		r                                                AccountRow
		state, origin                                    string
		created, ready, claimed, retire, probed, flagged int64
	)
	err := sc.Scan(&r.ID, &r.Slug, &r.Tier, &state, &r.URL, &r.OrderID, &origin, &r.Generation, &r.Attempts,
		&r.LastError, &r.CustomerEmail, &created, &ready, &claimed, &retire,
		&r.Probe.Failures, &r.Probe.LastError, &probed, &flagged)
	if err != nil {
		return r, err
	}
	r.State, r.Origin = pool.State(state), pool.Origin(origin)
	r.CreatedAt, r.ReadyAt, r.ClaimedAt, r.RetireAt = msTime(created), msTime(ready), msTime(claimed), msTime(retire)
	r.Probe.ProbedAt, r.Probe.FlaggedAt = msTime(probed), msTime(flagged)
	return r, nil
}

// EventRow is an account event with the account's slug.
type EventRow struct {
	pool.AccountEvent
	Slug string
}

// RecentEvents returns the newest events of the given kinds (all kinds when none), newest
// first.
func (s *Store) RecentEvents(ctx context.Context, limit int, kinds ...pool.EventKind) ([]EventRow, error) {
	q := `SELECT e.id, e.account_id, e.at, e.kind, e.detail, COALESCE(a.slug, '') FROM account_events e
		LEFT JOIN accounts a ON a.id = e.account_id`
	var args []any
	if len(kinds) > 0 {
		q += " WHERE e.kind IN (?" + strings.Repeat(", ?", len(kinds)-1) + ")"
		for _, k := range kinds {
			args = append(args, string(k))
		}
	}
	q += fmt.Sprintf(" ORDER BY e.id DESC LIMIT %d", max(limit, 1))
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("recent events: %w", err)
	}
	defer rows.Close()
	var out []EventRow
	for rows.Next() {
		var e EventRow
		var at int64
		var kind string
		if err := rows.Scan(&e.ID, &e.AccountID, &at, &kind, &e.Detail, &e.Slug); err != nil {
			return nil, fmt.Errorf("recent events: %w", err)
		}
		e.At, e.Kind = msTime(at), pool.EventKind(kind)
		out = append(out, e)
	}
	return out, rows.Err()
}

// OrderQuery selects a page of orders, newest first.
type OrderQuery struct {
	State OrderState
	// Before is the keyset cursor: orders created before (BeforeAt, BeforeID) in (created, id)
	// order; zero: from the newest.
	BeforeAt time.Time
	BeforeID string
	Limit    int // 1–1000
}

// ConsoleOrders returns a page of orders, newest first, and whether more follow.
func (s *Store) ConsoleOrders(ctx context.Context, q OrderQuery) ([]Order, bool, error) {
	if q.Limit < 1 || q.Limit > 1000 {
		return nil, false, fmt.Errorf("console orders: limit %d out of 1–1000", q.Limit)
	}
	var where []string
	var args []any
	if q.State != "" {
		where, args = append(where, "state = ?"), append(args, string(q.State))
	}
	if !q.BeforeAt.IsZero() {
		at := q.BeforeAt.UnixMilli()
		where, args = append(where, "(created_at < ? OR (created_at = ? AND id < ?))"), append(args, at, at, q.BeforeID)
	}
	query := `SELECT ` + orderCols + ` FROM orders`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += fmt.Sprintf(" ORDER BY created_at DESC, id DESC LIMIT %d", q.Limit+1)
	os, err := s.queryOrders(ctx, s.db, query, args...)
	if err != nil {
		return nil, false, fmt.Errorf("console orders: %w", err)
	}
	more := len(os) > q.Limit
	if more {
		os = os[:q.Limit]
	}
	return os, more, nil
}

// History is the pool's recent past, derived from the accounts' own times: per bucket, the
// ready accounts at the bucket's end and the accounts claimed (sales) within it.
type History struct {
	Start time.Time
	Step  time.Duration
	Ready []int // at the end of each bucket
	Sales []int // claimed within each bucket
}

// PoolHistory computes n buckets of step ending at end. The ready count at a time t is the
// ready count now, minus the accounts that became ready after t, plus those that left ready
// after t (claimed: their claim time; reserved, failed or retired without a claim: their last
// update, an approximation for accounts changed again since). It reads only the accounts that
// changed since the window began.
func (s *Store) PoolHistory(ctx context.Context, end time.Time, step time.Duration, n int) (History, error) {
	h := History{Start: end.Add(-step * time.Duration(n)), Step: step, Ready: make([]int, n), Sales: make([]int, n)}
	start := h.Start.UnixMilli()
	stepMS := step.Milliseconds()
	var readyNow int
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: s.pg})
	if err != nil {
		return h, fmt.Errorf("pool history: %w", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE state = 'ready'`).Scan(&readyNow); err != nil {
		return h, fmt.Errorf("pool history: %w", err)
	}
	// delta[b]: ready changes (+became ready, -left ready) within bucket b; after the window's
	// end (the clock of the page may lag the rows) they count into the last bucket's future.
	delta := make([]int, n+1)
	bucket := func(at int64) int {
		b := int((at - start) / stepMS)
		return min(max(b, 0), n)
	}
	add := func(q string, sign int, sales bool) error {
		rows, err := tx.QueryContext(ctx, s.rebind(q), start)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var at int64
			var c int
			if err := rows.Scan(&at, &c); err != nil {
				return err
			}
			b := bucket(at*stepMS + start)
			delta[b] += sign * c
			if sales && b < n {
				h.Sales[b] += c
			}
		}
		return rows.Err()
	}
	bk := fmt.Sprintf("(%%s - %d) / %d", start, stepMS)
	byBucket := func(col, where string) string {
		e := fmt.Sprintf(bk, col)
		return `SELECT ` + e + `, COUNT(*) FROM accounts WHERE ` + where + ` GROUP BY ` + e
	}
	if err := add(byBucket("ready_at", "ready_at <> 0 AND ready_at > ?"), 1, false); err != nil {
		return h, fmt.Errorf("pool history: %w", err)
	}
	if err := add(byBucket("claimed_at", "claimed_at <> 0 AND claimed_at > ? AND ready_at <> 0"), -1, true); err != nil {
		return h, fmt.Errorf("pool history: %w", err)
	}
	if err := add(byBucket("updated_at", "claimed_at = 0 AND ready_at <> 0 AND updated_at > ? AND state IN ('reserved', 'failed', 'retired')"), -1, false); err != nil {
		return h, fmt.Errorf("pool history: %w", err)
	}
	// Walk back from now: ready at the end of bucket b = now − every change after it.
	level := readyNow - delta[n]
	for b := n - 1; b >= 0; b-- {
		h.Ready[b] = max(level, 0)
		level -= delta[b]
	}
	return h, tx.Commit()
}
