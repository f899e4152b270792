package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/axiestudio/tenantpool/pool"
)

// LeadSamples is how many of a tier's most recently ready accounts the mean and p95 provisioning times
// are measured over, within LeadHorizon: older provisioning times say little about today's, and
// the horizon bounds the read of a tier with few accounts to a month of the ready_at index,
// not the whole history.
const (
	LeadSamples = 100
	LeadHorizon = 30 * 24 * time.Hour
)

// Demand reads, per tier, what its ready target and capacity signal are computed from: the
// accounts claimed within the tier's sales windows ending at now (auto.window and
// auto.burst_window, their defaults for a fixed tier) and the mean and p95 created → ready time
// of its last LeadSamples ready accounts (within LeadHorizon) of origin pool or order (an operator batch waits in its queue,
// which is not the pool's provisioning time). Both reads are bounded ranges of the claimed_at
// and ready_at indexes, whatever the history's size.
func (s *Store) Demand(ctx context.Context, now time.Time, tiers pool.Tiers) (map[string]pool.Demand, error) {
	out := make(map[string]pool.Demand, len(tiers))
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: s.pg})
	if err != nil {
		return nil, fmt.Errorf("demand: %w", err)
	}
	defer tx.Rollback()
	count := s.rebind(`SELECT COUNT(*) FROM accounts WHERE claimed_at <> 0 AND claimed_at > ? AND tier = ?`)
	lead := s.rebind(`SELECT ready_at - created_at FROM accounts WHERE ready_at <> 0 AND ready_at > ? AND tier = ? AND origin <> 'batch'
		ORDER BY ready_at DESC LIMIT ?`)
	for _, name := range tiers.Names() {
		a := tiers[name].AutoReady.Effective()
		d := pool.Demand{Window: a.Window, BurstWindow: a.BurstWindow}
		if err := tx.QueryRowContext(ctx, count, now.Add(-d.Window).UnixMilli(), name).Scan(&d.Sales); err != nil {
			return nil, fmt.Errorf("demand %s: %w", name, err)
		}
		if err := tx.QueryRowContext(ctx, count, now.Add(-d.BurstWindow).UnixMilli(), name).Scan(&d.BurstSales); err != nil {
			return nil, fmt.Errorf("demand %s: %w", name, err)
		}
		rows, err := tx.QueryContext(ctx, lead, now.Add(-LeadHorizon).UnixMilli(), name, LeadSamples)
		if err != nil {
			return nil, fmt.Errorf("demand %s: %w", name, err)
		}
		var ms []int64
		for rows.Next() {
			var v int64
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("demand %s: %w", name, err)
			}
			ms = append(ms, max(v, 0))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("demand %s: %w", name, err)
		}
		var sum int64
		for _, v := range ms {
			sum += v
		}
		if len(ms) > 0 {
			d.LeadMean = time.Duration(sum/int64(len(ms))) * time.Millisecond
		}
		d.LeadP95, d.LeadSamples = time.Duration(percentile(ms, 0.95))*time.Millisecond, len(ms)
		out[name] = d
	}
	return out, tx.Commit()
}

// percentile is the nearest-rank p-th percentile of vs (0 when empty); it sorts vs.
func percentile(vs []int64, p float64) int64 {
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	rank := int(float64(len(vs))*p+0.999999) - 1
	return vs[min(max(rank, 0), len(vs)-1)]
}

// HostLoads counts the accounts in a live state per host they hold (placement's count), and
// under "" those not placed yet: where the hosts' free capacity goes.
func (s *Store) HostLoads(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT host, COUNT(*) FROM accounts WHERE state IN `+liveStates+` GROUP BY host`)
	if err != nil {
		return nil, fmt.Errorf("host loads: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var host string
		var n int
		if err := rows.Scan(&host, &n); err != nil {
			return nil, fmt.Errorf("host loads: %w", err)
		}
		out[host] = n
	}
	return out, rows.Err()
}

// TierLoads reads what the capacity signal needs of every tier (pool.PlanCapacity): its ready
// accounts (every origin), the pool's in-flight ones (origins pool and order) and its Demand.
func (s *Store) TierLoads(ctx context.Context, now time.Time, tiers pool.Tiers) (map[string]pool.TierLoad, error) {
	ds, err := s.Demand(ctx, now, tiers)
	if err != nil {
		return nil, err
	}
	out := make(map[string]pool.TierLoad, len(tiers))
	for name, d := range ds {
		out[name] = pool.TierLoad{Demand: d}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT tier, state, COUNT(*) FROM accounts
		WHERE state = 'ready' OR (state = 'provisioning' AND origin <> 'batch') GROUP BY tier, state`)
	if err != nil {
		return nil, fmt.Errorf("tier loads: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tier, state string
		var n int
		if err := rows.Scan(&tier, &state, &n); err != nil {
			return nil, fmt.Errorf("tier loads: %w", err)
		}
		l, ok := out[tier]
		if !ok {
			continue // a tier no longer configured
		}
		if state == string(pool.StateReady) {
			l.Ready = n
		} else {
			l.InFlight = n
		}
		out[tier] = l
	}
	return out, rows.Err()
}

// Capacity is the capacity report (pool.PlanCapacity) at now: the tiers' loads and demand and
// the hosts' loads, read from the store; hosts nil means unknown.
func (s *Store) Capacity(ctx context.Context, now time.Time, tiers pool.Tiers, hosts []pool.HostCapacity) (pool.Capacity, error) {
	loads, err := s.TierLoads(ctx, now, tiers)
	if err != nil {
		return pool.Capacity{}, err
	}
	var hostLoads map[string]int
	if hosts != nil {
		if hostLoads, err = s.HostLoads(ctx); err != nil {
			return pool.Capacity{}, err
		}
	}
	return pool.PlanCapacity(tiers, loads, hosts, hostLoads), nil
}
