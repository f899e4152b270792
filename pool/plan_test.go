package pool_test

import (
	"errors"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/pool"
)

func TestDecidePlan(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name     string
		cur, to  string
		last, at time.Time
		want     pool.PlanDecision
	}{
		{"GIVEN basic WHEN premium is asked THEN the tier changes", "basic", "premium", t0, t0.Add(time.Second), pool.PlanChangeTier},
		{"GIVEN no decision yet WHEN premium is asked THEN the tier changes", "basic", "premium", time.Time{}, t0, pool.PlanChangeTier},
		{"GIVEN a decision at t WHEN an older event asks basic THEN it is stale", "premium", "basic", t0, t0.Add(-time.Second), pool.PlanStale},
		{"GIVEN a decision at t WHEN an older event has an unknown price THEN it is stale", "premium", "", t0, t0.Add(-time.Second), pool.PlanStale},
		{"GIVEN a decision at t WHEN another of the same instant arrives THEN it applies", "premium", "basic", t0, t0, pool.PlanChangeTier},
		{"GIVEN premium WHEN premium is asked THEN nothing changes", "premium", "premium", t0, t0.Add(time.Second), pool.PlanSame},
		{"GIVEN basic WHEN a price of no tier is asked THEN it is held", "basic", "", t0, t0.Add(time.Second), pool.PlanHold},
	} {
		if got := pool.DecidePlan(c.cur, c.last, c.to, c.at); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
}

func TestPlannableAndDowngrade(t *testing.T) {
	for _, st := range pool.States {
		err := pool.Plannable(st)
		sold := st == pool.StateClaimed || st == pool.StateDelivered || st == pool.StateSuspended
		if sold != (err == nil) || (err != nil && !errors.Is(err, pool.ErrIllegalTransition)) {
			t.Errorf("Plannable(%s) = %v", st, err)
		}
	}
	ts := pool.DefaultTiers()
	basic, premium, enterprise := ts[0], ts[1], ts[2]
	if !pool.Downgrade(premium, basic) || !pool.Downgrade(enterprise, premium) || pool.Downgrade(basic, premium) || pool.Downgrade(premium, premium) {
		t.Error("Downgrade must be true exactly when the custom domain allowance drops")
	}
}
