package pool

import (
	"reflect"
	"testing"
	"time"
)

// TestPlanRefresh: the ready pool refresh replaces stale ready accounts — new ones first, never
// dipping below min_ready, within max_in_flight, and without max_total retiring the pool
// while its replacements are in flight.
func TestPlanRefresh(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	cfg := PlanConfig{BackoffBase: time.Minute, BackoffMax: 8 * time.Minute, HardFailureLimit: 5}
	tight := Tier{Name: "basic", MinReady: 3, MaxTotal: 3, MaxInFlight: 2}
	roomy := Tier{Name: "basic", MinReady: 3, MaxTotal: 10, MaxInFlight: 2}

	tests := []struct {
		name  string
		tier  Tier
		given TierSnapshot // GIVEN the tier's snapshot
		then  TierPlan     // THEN
	}{
		{"nothing stale, nothing to refresh", tight, TierSnapshot{Ready: 3}, TierPlan{}},
		{"all stale at max_total: replacements first, nothing retired", tight,
			TierSnapshot{Ready: 3, StaleReady: 3}, TierPlan{RefreshCreate: 2}},
		{"replacements in flight: max_total does not retire the stale ones", tight,
			TierSnapshot{Ready: 3, StaleReady: 3, Provisioning: 2}, TierPlan{}},
		{"two replacements ready: two stale retired, one more replacement", tight,
			TierSnapshot{Ready: 5, StaleReady: 3}, TierPlan{RetireStale: 2, RefreshCreate: 1}},
		{"last replacement in flight: the last stale one stays", tight,
			TierSnapshot{Ready: 3, StaleReady: 1, Provisioning: 1}, TierPlan{}},
		{"last replacement ready: the last stale one goes", tight,
			TierSnapshot{Ready: 4, StaleReady: 1}, TierPlan{RetireStale: 1}},
		{"stale above min_ready go at once", roomy,
			TierSnapshot{Ready: 3, BatchReady: 2, StaleReady: 2}, TierPlan{RetireStale: 2}},
		{"stale batch accounts are replaced too", roomy,
			TierSnapshot{BatchReady: 3, StaleReady: 3}, TierPlan{RefreshCreate: 2}},
		{"a deficit and stale accounts share max_in_flight", roomy,
			TierSnapshot{Ready: 2, StaleReady: 2}, TierPlan{Create: 1, RefreshCreate: 1}},
		{"backoff: stale retired down to min_ready only, no creation", roomy,
			TierSnapshot{Ready: 4, StaleReady: 4, ConsecutiveFailures: 1, LastFailureAt: now},
			TierPlan{RetireStale: 1, BackoffUntil: now.Add(time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Plan(Snapshot{"basic": tt.given}, Tiers{"basic": tt.tier}, cfg, now)
			tt.then.Tier = "basic"
			if len(got) != 1 || !reflect.DeepEqual(got[0], tt.then) {
				t.Fatalf("GIVEN %+v\nTHEN  %+v\nwant  %+v", tt.given, got, tt.then)
			}
			p := got[0]
			if ready := tt.given.Ready + tt.given.BatchReady; ready-p.RetireStale-p.Retire < min(ready, tt.tier.MinReady) {
				t.Fatalf("the refresh dips below min_ready: %+v", p)
			}
			if p.Create+p.RefreshCreate+tt.given.Provisioning > tt.tier.MaxInFlight {
				t.Fatalf("more than max_in_flight: %+v", p)
			}
		})
	}
}
