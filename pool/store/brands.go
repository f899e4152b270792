package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
)

// EventBrandChanged is the account history's entry of a saved brand.
const EventBrandChanged pool.EventKind = "brand_changed"

// Brand returns an account's white-label settings; zero when it has none. ErrNotFound when the
// account does not exist.
func (s *Store) Brand(ctx context.Context, id int64) (pool.Brand, error) {
	var b pool.Brand
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT name, logo, color FROM account_brands WHERE account_id = ?`), id).
		Scan(&b.Name, &b.Logo, &b.Color)
	if errors.Is(err, sql.ErrNoRows) {
		var one int
		err = s.db.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM accounts WHERE id = ?`), id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return pool.Brand{}, fmt.Errorf("account %d: %w", id, pool.ErrNotFound)
		}
		return pool.Brand{}, err
	}
	return b, err
}

// BrandSaved is what SetBrand did.
type BrandSaved struct {
	Account pool.Account
	// Reapply: the account is sold and running (claimed or delivered), so a re-apply job was
	// enqueued with the change; otherwise the brand is applied when its tenant is next
	// provisioned or resumed.
	Reapply bool
}

// SetBrand saves an account's brand (a zero brand removes it), records it in the account's
// history and — in the same transaction — enqueues the re-apply of its tenant when it is sold
// and running. The brand must be valid and the account's tier must include branding
// (check is given the account's tier name and returns an error to refuse); nothing changes
// otherwise.
func (s *Store) SetBrand(ctx context.Context, id int64, b pool.Brand, check func(tier string) error) (BrandSaved, error) {
	b = b.Normalized()
	if err := b.Validate(); err != nil {
		return BrandSaved{}, err
	}
	var out BrandSaved
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.lockAccount(ctx, tx, id)
		if err != nil {
			return err
		}
		if a.State == pool.StateRetired || a.State == pool.StateFailed {
			return fmt.Errorf("%w: %s is %s", pool.ErrIllegalTransition, a.Slug, a.State)
		}
		if check != nil && !b.IsZero() {
			if err := check(a.Tier); err != nil {
				return err
			}
		}
		now := s.nowMS()
		if b.IsZero() {
			if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM account_brands WHERE account_id = ?`), id); err != nil {
				return fmt.Errorf("delete brand: %w", err)
			}
		} else if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO account_brands (account_id, name, logo, color, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET name = excluded.name, logo = excluded.logo,
			color = excluded.color, updated_at = excluded.updated_at`), id, b.Name, b.Logo, b.Color, now); err != nil {
			return fmt.Errorf("save brand: %w", err)
		}
		detail := "brand removed"
		if !b.IsZero() {
			detail = fmt.Sprintf("brand set: name %q, colour %q, logo %s", b.Name, b.Color, logoKind(b.Logo))
		}
		out = BrandSaved{Account: a, Reapply: a.State == pool.StateClaimed || a.State == pool.StateDelivered}
		if out.Reapply {
			detail += "; tenant re-apply enqueued"
			if err := s.insertJobs(ctx, tx, jobs.Job{Args: jobs.ReapplyArgs{AccountID: id, Reason: "brand"}}); err != nil {
				return err
			}
		}
		return s.addEventTx(ctx, tx, id, now, EventBrandChanged, clip(detail))
	})
	return out, err
}

func logoKind(logo string) string {
	switch {
	case logo == "":
		return "none"
	case len(logo) > 5 && logo[:5] == "data:":
		return fmt.Sprintf("inline (%d bytes)", len(logo))
	}
	return logo
}

// EnqueueFlows enqueues the starter flows' import (jobs.FlowsArgs) for every account of the tier
// whose studio has its customer login — ready, claimed, delivered or reserved — and returns how
// many. The import skips flows already there, so enqueuing twice is harmless.
func (s *Store) EnqueueFlows(ctx context.Context, tier string) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.rebind(`SELECT id FROM accounts WHERE tier = ? AND state IN ('ready', 'claimed', 'delivered', 'reserved') ORDER BY id`), tier)
		if err != nil {
			return err
		}
		var js []jobs.Job
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			js = append(js, jobs.Job{Args: jobs.FlowsArgs{AccountID: id}})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		n = len(js)
		return s.insertJobs(ctx, tx, js...)
	})
	return n, err
}
