package pool

import (
	"reflect"
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cfg := PlanConfig{BackoffBase: time.Minute, BackoffMax: 8 * time.Minute, HardFailureLimit: 5}
	basic := Tier{Name: "basic", MinReady: 5, MaxTotal: 10, MaxInFlight: 3, MemoryMB: 512, CPUs: 1}
	tiers := Tiers{"basic": basic}

	tests := []struct {
		name  string
		given TierSnapshot // GIVEN the tier's snapshot
		now   time.Time    // WHEN planning at
		then  TierPlan     // THEN
	}{
		{"empty pool creates up to max_in_flight", TierSnapshot{}, now,
			TierPlan{Create: 3}},
		{"in-flight counts toward the deficit", TierSnapshot{Ready: 2, Provisioning: 2}, now,
			TierPlan{Create: 1}},
		{"full pool does nothing", TierSnapshot{Ready: 5}, now,
			TierPlan{}},
		{"never more than the deficit", TierSnapshot{Ready: 4}, now,
			TierPlan{Create: 1}},
		{"max_in_flight reached waits", TierSnapshot{Ready: 0, Provisioning: 3}, now,
			TierPlan{}},
		{"inventory above max_total retires the excess ready", TierSnapshot{Ready: 12}, now,
			TierPlan{Retire: 2}},
		{"excess made of in-flight retires only ready ones", TierSnapshot{Ready: 1, Provisioning: 11}, now,
			TierPlan{Retire: 1}},
		{"stuck rows are cleaned and no longer count as in flight", TierSnapshot{Provisioning: 3, Stuck: []int64{7, 8}}, now,
			TierPlan{CleanStuck: []int64{7, 8}, Create: 2}},
		{"recent failure backs off", TierSnapshot{ConsecutiveFailures: 1, LastFailureAt: now.Add(-30 * time.Second)}, now,
			TierPlan{BackoffUntil: now.Add(30 * time.Second)}},
		{"backoff over creates again", TierSnapshot{ConsecutiveFailures: 1, LastFailureAt: now.Add(-61 * time.Second)}, now,
			TierPlan{Create: 3}},
		{"backoff doubles per failure", TierSnapshot{ConsecutiveFailures: 3, LastFailureAt: now.Add(-3 * time.Minute)}, now,
			TierPlan{BackoffUntil: now.Add(time.Minute)}},
		{"backoff is capped", TierSnapshot{ConsecutiveFailures: 4, LastFailureAt: now.Add(-8*time.Minute - time.Second)}, now,
			TierPlan{Create: 3}},
		{"hard limit stops creating and says so", TierSnapshot{ConsecutiveFailures: 5, LastFailureAt: now.Add(-time.Hour)}, now,
			TierPlan{HardLimited: true}},
		{"hard limit still retires and cleans", TierSnapshot{Ready: 11, ConsecutiveFailures: 9, Stuck: []int64{1}, Provisioning: 1}, now,
			TierPlan{HardLimited: true, Retire: 1, CleanStuck: []int64{1}}},
		{"paused does nothing but clean stuck", TierSnapshot{Paused: true, Provisioning: 1, Stuck: []int64{4}}, now,
			TierPlan{Paused: true, CleanStuck: []int64{4}}},
		// Operator batches: sold like the pool's accounts, outside max_total and max_in_flight.
		{"a batch far above max_total is not retired and fills min_ready", TierSnapshot{BatchReady: 500}, now,
			TierPlan{}},
		{"ready batch accounts count toward min_ready", TierSnapshot{Ready: 1, BatchReady: 2}, now,
			TierPlan{Create: 2}},
		{"only the pool's excess over max_total is retired", TierSnapshot{Ready: 12, BatchReady: 100}, now,
			TierPlan{Retire: 2}},
		{"stuck batch accounts are cleaned but were never in the pool's flight", TierSnapshot{Provisioning: 3, BatchStuck: []int64{9}}, now,
			TierPlan{CleanStuck: []int64{9}}},
		{"both kinds of stuck are cleaned", TierSnapshot{Provisioning: 2, Stuck: []int64{7}, BatchStuck: []int64{9}}, now,
			TierPlan{CleanStuck: []int64{7, 9}, Create: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Plan(Snapshot{"basic": tt.given}, tiers, cfg, tt.now)
			tt.then.Tier = "basic"
			if len(got) != 1 || !reflect.DeepEqual(got[0], tt.then) {
				t.Fatalf("GIVEN %+v\nTHEN  %+v\nwant  %+v", tt.given, got, tt.then)
			}
			if got[0].Create > max(0, basic.MinReady-tt.given.Ready) || got[0].Create > basic.MaxInFlight {
				t.Fatalf("planned more than the deficit or max_in_flight: %+v", got[0])
			}
		})
	}
}

func TestPlanCoversEveryTierSorted(t *testing.T) {
	tiers, err := NewTiers(DefaultTiers())
	if err != nil {
		t.Fatal(err)
	}
	got := Plan(Snapshot{"ghost": {Ready: 99}}, tiers, DefaultPlanConfig(), time.Now())
	var names []string
	for _, p := range got {
		names = append(names, p.Tier)
	}
	if !reflect.DeepEqual(names, []string{"basic", "enterprise", "premium"}) {
		t.Fatalf("tiers planned = %v (a tier not configured is left alone)", names)
	}
	for _, p := range got {
		if p.Create != tiers[p.Tier].MaxInFlight && p.Create != tiers[p.Tier].MinReady {
			t.Fatalf("%s: create %d", p.Tier, p.Create)
		}
	}
}

func TestTransitions(t *testing.T) {
	legal := [][2]State{
		{StateProvisioning, StateReady}, {StateProvisioning, StateFailed}, {StateReady, StateClaimed},
		{StateReady, StateReserved}, {StateClaimed, StateDelivered}, {StateDelivered, StateSuspended},
		{StateSuspended, StateRetired}, {StateSuspended, StateDelivered}, {StateReady, StateRetired},
	}
	for _, tr := range legal {
		if err := CheckTransition(tr[0], tr[1]); err != nil {
			t.Errorf("%s → %s should be legal: %v", tr[0], tr[1], err)
		}
	}
	// Nothing returns to the pool; nothing leaves retired.
	for _, from := range States {
		if from != StateProvisioning && CanTransition(from, StateReady) {
			t.Errorf("%s → ready is allowed: a touched account would be sold again", from)
		}
		if CanTransition(StateRetired, from) {
			t.Errorf("retired → %s is allowed", from)
		}
	}
	if CanTransition(StateReserved, StateClaimed) {
		t.Error("reserved → claimed: an exported account could be sold by the webhook")
	}
	if _, err := ParseState("sold"); err == nil {
		t.Error("unknown state parsed")
	}
}

func TestTiersValidate(t *testing.T) {
	ok := Tier{Name: "basic", MinReady: 1, MaxTotal: 2, MaxInFlight: 1, MemoryMB: 512, CPUs: 1}
	bad := map[string]func(*Tier){
		"name":      func(t *Tier) { t.Name = "Basic Tier" },
		"min":       func(t *Tier) { t.MinReady = -1 },
		"max<min":   func(t *Tier) { t.MaxTotal = 0 },
		"in-flight": func(t *Tier) { t.MaxInFlight = 0 },
		"memory":    func(t *Tier) { t.MemoryMB = 16 },
		"cpus":      func(t *Tier) { t.CPUs = 0 },
		"domains":   func(t *Tier) { t.CustomDomains = -1 },
	}
	for name, mutate := range bad {
		tt := ok
		mutate(&tt)
		if err := tt.Validate(); err == nil {
			t.Errorf("%s: invalid tier accepted", name)
		}
	}
	if _, err := NewTiers([]Tier{ok, ok}); err == nil {
		t.Error("duplicate tier accepted")
	}
	if _, err := NewTiers(nil); err == nil {
		t.Error("no tiers accepted")
	}
	ts, _ := NewTiers([]Tier{ok})
	if _, err := ts.Get("gold"); err == nil {
		t.Error("unknown tier found")
	}
}
