package pool_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/pool"
)

func TestParseWindow(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	// 2026-12-06 is a Sunday.
	cases := []struct {
		window string
		open   []string
		closed []string
	}{
		{"", []string{"2026-12-02T12:00:00Z"}, nil},
		{"Sun 02:00-05:00", []string{"2026-12-06T02:00:00Z", "2026-12-06T04:59:00Z"},
			[]string{"2026-12-06T05:00:00Z", "2026-12-06T01:59:00Z", "2026-12-07T03:00:00Z", "2026-12-05T03:00:00Z"}},
		{"sat,sun 22:00-04:00", []string{"2026-12-05T23:00:00Z", "2026-12-06T03:00:00Z", "2026-12-06T22:30:00Z", "2026-12-07T03:59:00Z"},
			[]string{"2026-12-05T03:00:00Z", "2026-12-07T04:00:00Z", "2026-12-07T22:30:00Z"}},
		{"Mon-Fri 01:00-03:00", []string{"2026-12-07T01:00:00Z", "2026-12-11T02:00:00Z"}, []string{"2026-12-06T02:00:00Z", "2026-12-12T02:00:00Z"}},
		{"Fri-Mon 00:00-24:00", []string{"2026-12-06T12:00:00Z", "2026-12-07T23:59:00Z"}, []string{"2026-12-08T12:00:00Z"}},
		{"Sun 02:00-05:00 Europe/Berlin", []string{"2026-12-06T01:00:00Z", "2026-12-06T03:59:00Z"}, []string{"2026-12-06T04:00:00Z", "2026-12-06T00:59:00Z"}},
		{"02:00-03:00", []string{"2026-12-02T02:30:00Z"}, []string{"2026-12-02T03:00:00Z"}},
	}
	for _, c := range cases {
		w, err := pool.ParseWindow(c.window)
		if err != nil {
			t.Fatalf("%q: %v", c.window, err)
		}
		for _, s := range c.open {
			if !w.Open(at(s)) {
				t.Errorf("%q closed at %s, want open", c.window, s)
			}
			if !w.NextOpen(at(s)).Equal(at(s)) {
				t.Errorf("%q: NextOpen(%s) is not itself", c.window, s)
			}
		}
		for _, s := range c.closed {
			if w.Open(at(s)) {
				t.Errorf("%q open at %s, want closed", c.window, s)
			}
			if n := w.NextOpen(at(s)); n.IsZero() || !n.After(at(s)) || !w.Open(n) || w.Open(n.Add(-time.Minute)) {
				t.Errorf("%q: NextOpen(%s) = %s", c.window, s, n)
			}
		}
	}
	for _, bad := range []string{"Sun", "Sun 2:00-05:00", "Sun 02:00", "Sun 02:00-02:00", "Sun 25:00-26:00", "Sun 02:60-03:00",
		"Sunday 02:00-05:00", "Sun 02:00-05:00 Mars/Olympus", "Sun 02:00-05:00 UTC extra", "Sun 24:00-05:00", "02:00-05:00 Local"} {
		if _, err := pool.ParseWindow(bad); err == nil || !strings.Contains(err.Error(), "want e.g.") {
			t.Errorf("%q: %v, want a clear error", bad, err)
		}
	}
}

func TestRolloutSpecValidate(t *testing.T) {
	ok := pool.RolloutSpec{Generation: "g1", Canary: 1, Batch: 5, MaxUnavailable: 1, Window: "Sun 02:00-05:00"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []pool.RolloutSpec{
		{Canary: 1, Batch: 5, MaxUnavailable: 1},
		{Generation: "g1", Canary: -1, Batch: 5, MaxUnavailable: 1},
		{Generation: "g1", Canary: 1, Batch: 0, MaxUnavailable: 1},
		{Generation: "g1", Canary: 1, Batch: 5, MaxUnavailable: 0},
		{Generation: "g1", Canary: 1, Batch: 5, MaxUnavailable: 1, Window: "whenever"},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: valid", bad)
		}
	}
}

func TestRolloutBatches(t *testing.T) {
	if got := pool.RolloutBatches(8, 1, 3); !slices.Equal(got, []int{0, 1, 1, 1, 2, 2, 2, 3}) {
		t.Fatalf("canary 1 batch 3: %v", got)
	}
	if got := pool.RolloutBatches(3, 5, 2); !slices.Equal(got, []int{0, 0, 0}) {
		t.Fatalf("more canaries than tenants: %v", got)
	}
}

// GIVEN a rollout and its steps WHEN planned THEN the steps that start now.
func TestNextRolloutSteps(t *testing.T) {
	step := func(id int64, batch int, st pool.StepState) pool.RolloutStep {
		return pool.RolloutStep{AccountID: id, Batch: batch, State: st}
	}
	P, U, D, F, R, S := pool.StepPending, pool.StepUpgrading, pool.StepDone, pool.StepFailed, pool.StepRollingBack, pool.StepSkipped
	running := func(maxUnavail int) pool.Rollout {
		return pool.Rollout{State: pool.RolloutRunning, MaxUnavailable: maxUnavail}
	}
	cases := []struct {
		name  string
		r     pool.Rollout
		steps []pool.RolloutStep
		want  []int64
	}{
		{"canary first, alone", running(3), []pool.RolloutStep{step(1, 0, P), step(2, 1, P), step(3, 1, P)}, []int64{1}},
		{"canary in flight: the batch waits", running(3), []pool.RolloutStep{step(1, 0, U), step(2, 1, P)}, nil},
		{"batch after the canary, max-unavailable bounds it", running(2), []pool.RolloutStep{step(1, 0, D), step(2, 1, P), step(3, 1, P), step(4, 1, P)}, []int64{2, 3}},
		{"in flight counts against max-unavailable", running(2), []pool.RolloutStep{step(1, 0, D), step(2, 1, U), step(3, 1, P), step(4, 1, P)}, []int64{3}},
		{"full", running(1), []pool.RolloutStep{step(1, 0, D), step(2, 1, U), step(3, 1, P)}, nil},
		{"next batch only when the last finished", running(5), []pool.RolloutStep{step(1, 1, D), step(2, 1, S), step(3, 2, P), step(4, 2, P), step(5, 3, P)}, []int64{3, 4}},
		{"a failure holds everything", running(5), []pool.RolloutStep{step(1, 0, D), step(2, 1, F), step(3, 1, P)}, nil},
		{"a rollback in flight holds the next batch", running(5), []pool.RolloutStep{step(1, 1, R), step(2, 2, P)}, nil},
		{"paused", pool.Rollout{State: pool.RolloutPaused, MaxUnavailable: 5}, []pool.RolloutStep{step(1, 0, P)}, nil},
		{"held", pool.Rollout{State: pool.RolloutHeld, MaxUnavailable: 5}, []pool.RolloutStep{step(1, 0, P)}, nil},
		{"all done", running(1), []pool.RolloutStep{step(1, 0, D), step(2, 1, S)}, nil},
	}
	for _, c := range cases {
		var got []int64
		for _, s := range pool.NextRolloutSteps(c.r, c.steps) {
			got = append(got, s.AccountID)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if !pool.RolloutFinished([]pool.RolloutStep{step(1, 0, D), step(2, 1, S)}) || pool.RolloutFinished([]pool.RolloutStep{step(1, 0, D), step(2, 1, F)}) {
		t.Fatal("RolloutFinished")
	}
}
