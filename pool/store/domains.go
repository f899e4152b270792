package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/axiestudio/tenantpool/pool"
)

const domainCols = `d.id, d.account_id, a.slug, d.hostname, d.state, d.contact, d.cf_status, d.ssl_status, d.reason,
	d.notified, d.attempts, d.requested_at, d.updated_at, d.check_at`

const domainFrom = ` FROM custom_domains d JOIN accounts a ON a.id = d.account_id`

func (s *Store) queryDomains(ctx context.Context, q querier, query string, args ...any) ([]pool.CustomDomain, error) {
	rows, err := q.QueryContext(ctx, s.rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pool.CustomDomain
	for rows.Next() {
		var d pool.CustomDomain
		var req, upd, chk int64
		if err := rows.Scan(&d.ID, &d.AccountID, &d.Slug, &d.Hostname, &d.State, &d.Contact, &d.CFStatus, &d.SSLStatus,
			&d.Reason, &d.Notified, &d.Attempts, &req, &upd, &chk); err != nil {
			return nil, err
		}
		d.RequestedAt, d.UpdatedAt, d.CheckAt = msTime(req), msTime(upd), msTime(chk)
		out = append(out, d)
	}
	return out, rows.Err()
}

// domainAttachable are the account states a domain may be attached in: sold and running.
var domainAttachable = []pool.State{pool.StateClaimed, pool.StateDelivered, pool.StateReserved}

// AttachDomain takes hostname (already normalised, pool.NormalizeHostname) for the account, in
// state requested, within allowance (the tier's custom domains: rows not detaching count). The
// row is the hostname's lock across tenants: a hostname attached to another account is refused
// with pool.ErrDomainTaken, also when two attaches race (the UNIQUE constraint decides). The
// same hostname attached again to the same account returns its row unchanged (created false).
// contact is the customer's address for the DNS records and status e-mails.
func (s *Store) AttachDomain(ctx context.Context, accountID int64, hostname, contact string, allowance int) (d pool.CustomDomain, created bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.lockAccount(ctx, tx, accountID)
		if err != nil {
			return err
		}
		have, err := s.queryDomains(ctx, tx, `SELECT `+domainCols+domainFrom+` WHERE d.hostname = ?`, hostname)
		if err != nil {
			return err
		}
		if len(have) > 0 {
			switch h := have[0]; {
			case h.AccountID != accountID:
				return fmt.Errorf("%w: %s", pool.ErrDomainTaken, hostname)
			case h.State == pool.DomainDetaching:
				return fmt.Errorf("%s is being detached from %s: attach it again once it is gone", hostname, a.Slug)
			default:
				d = h
				return nil
			}
		}
		ok := false
		for _, st := range domainAttachable {
			ok = ok || a.State == st
		}
		if !ok {
			return fmt.Errorf("account %s is %s: %w", a.Slug, a.State, pool.ErrNotSold)
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM custom_domains WHERE account_id = ? AND state <> 'detaching'`), accountID).Scan(&n); err != nil {
			return err
		}
		if n >= allowance {
			return fmt.Errorf("%w: %s has %d of %d", pool.ErrDomainAllowance, a.Slug, n, allowance)
		}
		id, err := s.bump(ctx, tx, "custom_domains", 1)
		if err != nil {
			return err
		}
		now := s.nowMS()
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO custom_domains
			(id, account_id, hostname, state, contact, requested_at, updated_at, check_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
			id, accountID, hostname, pool.DomainRequested, contact, now, now, now); err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("%w: %s", pool.ErrDomainTaken, hostname)
			}
			return err
		}
		created = true
		d = pool.CustomDomain{ID: id, AccountID: accountID, Slug: a.Slug, Hostname: hostname, State: pool.DomainRequested,
			Contact: contact, RequestedAt: msTime(now), UpdatedAt: msTime(now), CheckAt: msTime(now)}
		return nil
	})
	if err != nil && isUniqueViolation(err) {
		// PostgreSQL reports the loser of a race at commit or insert: the hostname is taken.
		err = fmt.Errorf("%w: %s", pool.ErrDomainTaken, hostname)
	}
	if err != nil {
		return pool.CustomDomain{}, false, fmt.Errorf("attach %s: %w", hostname, err)
	}
	return d, created, nil
}

// AccountDomains lists an account's domains, oldest first (the provisioner builds the spec's
// custom hostnames and routes from them).
func (s *Store) AccountDomains(ctx context.Context, accountID int64) ([]pool.CustomDomain, error) {
	ds, err := s.queryDomains(ctx, s.db, `SELECT `+domainCols+domainFrom+` WHERE d.account_id = ? ORDER BY d.id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("domains of account %d: %w", accountID, err)
	}
	return ds, nil
}

// ListDomains lists every domain, by account and age.
func (s *Store) ListDomains(ctx context.Context) ([]pool.CustomDomain, error) {
	ds, err := s.queryDomains(ctx, s.db, `SELECT `+domainCols+domainFrom+` ORDER BY d.account_id, d.id`)
	if err != nil {
		return nil, fmt.Errorf("domains: %w", err)
	}
	return ds, nil
}

// GetDomain reads one domain by hostname; pool.ErrNotFound when none.
func (s *Store) GetDomain(ctx context.Context, hostname string) (pool.CustomDomain, error) {
	ds, err := s.queryDomains(ctx, s.db, `SELECT `+domainCols+domainFrom+` WHERE d.hostname = ?`, hostname)
	if err != nil {
		return pool.CustomDomain{}, fmt.Errorf("domain %s: %w", hostname, err)
	}
	if len(ds) == 0 {
		return pool.CustomDomain{}, fmt.Errorf("domain %s: %w", hostname, pool.ErrNotFound)
	}
	return ds[0], nil
}

// DueDomains lists up to limit domains whose next check is due at now, the most overdue
// first (the domains loop).
func (s *Store) DueDomains(ctx context.Context, now time.Time, limit int) ([]pool.CustomDomain, error) {
	ds, err := s.queryDomains(ctx, s.db, `SELECT `+domainCols+domainFrom+` WHERE d.check_at <= ? ORDER BY d.check_at, d.id LIMIT ?`,
		now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("due domains: %w", err)
	}
	return ds, nil
}

// UpdateDomain stores a check's outcome; false when the row is gone or no longer in u.From.
func (s *Store) UpdateDomain(ctx context.Context, id int64, u pool.DomainUpdate) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.rebind(`UPDATE custom_domains SET state = ?, cf_status = ?, ssl_status = ?, reason = ?,
		notified = ?, attempts = ?, check_at = ?, updated_at = ? WHERE id = ? AND state = ?`),
		u.State, u.CFStatus, u.SSLStatus, clip(u.Reason), u.Notified, u.Attempts, u.CheckAt.UnixMilli(), s.nowMS(), id, u.From)
	if err != nil {
		return false, fmt.Errorf("update domain %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// DetachDomain marks an account's hostname detaching and due now: the domains loop re-applies
// the stack without it, then deletes the row. pool.ErrNotFound when the account has no such
// hostname. Idempotent.
func (s *Store) DetachDomain(ctx context.Context, accountID int64, hostname string) (pool.CustomDomain, error) {
	var d pool.CustomDomain
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ds, err := s.queryDomains(ctx, tx, `SELECT `+domainCols+domainFrom+` WHERE d.hostname = ? AND d.account_id = ?`, hostname, accountID)
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			return pool.ErrNotFound
		}
		d = ds[0]
		now := s.nowMS()
		_, err = tx.ExecContext(ctx, s.rebind(`UPDATE custom_domains SET state = 'detaching', attempts = 0, check_at = ?, updated_at = ? WHERE id = ?`), now, now, d.ID)
		d.State = pool.DomainDetaching
		return err
	})
	if err != nil {
		return pool.CustomDomain{}, fmt.Errorf("detach %s: %w", hostname, err)
	}
	return d, nil
}

// DetachBeyond detaches an account's domains beyond allowance (a downgrade): the oldest
// allowance domains not detaching stay, the newer ones become detaching and due now. It
// returns the hostnames it detached; idempotent.
func (s *Store) DetachBeyond(ctx context.Context, accountID int64, allowance int) ([]string, error) {
	if allowance < 0 {
		allowance = 0
	}
	var gone []string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ds, err := s.queryDomains(ctx, tx, `SELECT `+domainCols+domainFrom+` WHERE d.account_id = ? AND d.state <> 'detaching' ORDER BY d.id`, accountID)
		if err != nil {
			return err
		}
		now := s.nowMS()
		for _, d := range ds[min(allowance, len(ds)):] {
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE custom_domains SET state = 'detaching', attempts = 0, reason = ?, check_at = ?, updated_at = ? WHERE id = ?`),
				fmt.Sprintf("beyond the plan's allowance of %d", allowance), now, now, d.ID); err != nil {
				return err
			}
			gone = append(gone, d.Hostname)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("detach domains beyond %d of account %d: %w", allowance, accountID, err)
	}
	return gone, nil
}

// ExcessDomains lists the account's domains beyond allowance, not detaching: the oldest
// allowance ones stay, the newer ones are listed (what DetachBeyond would detach).
func (s *Store) ExcessDomains(ctx context.Context, accountID int64, allowance int) ([]string, error) {
	ds, err := s.queryDomains(ctx, s.db, `SELECT `+domainCols+domainFrom+` WHERE d.account_id = ? AND d.state <> 'detaching' ORDER BY d.id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("domains of account %d: %w", accountID, err)
	}
	var out []string
	for _, d := range ds[min(max(allowance, 0), len(ds)):] {
		out = append(out, d.Hostname)
	}
	return out, nil
}

// DeleteDomain removes a detached domain's row once its stack no longer has it: the hostname
// is free again. Only a row in state detaching is deleted.
func (s *Store) DeleteDomain(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM custom_domains WHERE id = ? AND state = 'detaching'`), id)
	if err != nil {
		return fmt.Errorf("delete domain %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("delete domain %d: %w", id, errors.Join(pool.ErrNotFound, errors.New("no detaching row")))
	}
	return nil
}
