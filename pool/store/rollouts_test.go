package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// seedSoldGen makes n sold (claimed) accounts of tier built by generation "g-old".
func seedSoldGen(t *testing.T, s *store.Store, tier string, n int) []pool.Account {
	t.Helper()
	ctx := context.Background()
	as, err := s.CreateAccounts(ctx, tier, "client", n)
	if err != nil {
		t.Fatal(err)
	}
	var out []pool.Account
	for i := range as {
		if err := s.MarkReady(ctx, as[i].ID, pool.Provisioned{Host: "h1", URL: "https://" + as[i].Slug + ".example.com", Generation: "g-old"}); err != nil {
			t.Fatal(err)
		}
		a, _, err := s.Claim(ctx, tier, fmt.Sprintf("order-%s-%d", tier, i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// A rollout takes the tier's sold tenants of another generation in id order, canaries first;
// one rollout at most is active; steps begin only while it runs; outcomes move the counters,
// the account's generation and its history in one transaction; pause, resume (failed steps
// pending again) and abort (pending steps skipped) follow their rules; bad transitions change
// nothing.
func TestRolloutLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		sold := seedSoldGen(t, s, "basic", 4)
		seedSoldGen(t, s, "premium", 1)
		ready := seedReady(t, s, "basic", 1) // not sold: not upgraded

		spec := pool.RolloutSpec{Tier: "basic", Generation: "g-new", Canary: 1, Batch: 2, MaxUnavailable: 1}
		if _, err := s.StartRollout(ctx, pool.RolloutSpec{Tier: "basic", Generation: "g-old", Canary: 1, Batch: 2, MaxUnavailable: 1}, "img:old"); !errors.Is(err, pool.ErrNothingToDo) {
			t.Fatalf("rollout to what every tenant runs: %v, want ErrNothingToDo", err)
		}
		r, err := s.StartRollout(ctx, spec, "img:new")
		if err != nil {
			t.Fatal(err)
		}
		if r.State != pool.RolloutRunning || r.Total != 4 || r.Image != "img:new" || r.Tier != "basic" {
			t.Fatalf("rollout %+v", r)
		}
		if _, err := s.StartRollout(ctx, spec, "img:new"); !errors.Is(err, pool.ErrRolloutActive) {
			t.Fatalf("second active rollout: %v, want ErrRolloutActive", err)
		}
		if id, err := s.ActiveRollout(ctx); err != nil || id != r.ID {
			t.Fatalf("active %d, %v", id, err)
		}
		_, steps, err := s.Rollout(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantBatches := []int{0, 1, 1, 2}
		for i, st := range steps {
			if st.AccountID != sold[i].ID || st.Batch != wantBatches[i] || st.State != pool.StepPending || st.FromGeneration != "g-old" {
				t.Fatalf("step %d: %+v (want account %d batch %d)", i, st, sold[i].ID, wantBatches[i])
			}
			if st.AccountID == ready[0].ID {
				t.Fatal("a ready account is in the rollout")
			}
		}

		// Canary: begins, succeeds.
		if ok, err := s.BeginStep(ctx, r.ID, sold[0].ID, "g-old", "img:old"); err != nil || !ok {
			t.Fatalf("begin: %v %v", ok, err)
		}
		if ok, _ := s.BeginStep(ctx, r.ID, sold[0].ID, "g-old", "img:old"); ok {
			t.Fatal("a step began twice")
		}
		if in, err := s.InterruptedSteps(ctx); err != nil || len(in) != 1 || in[0].FromImage != "img:old" || in[0].Attempts != 1 {
			t.Fatalf("in flight: %+v %v", in, err)
		}
		if ok, err := s.FinishStep(ctx, r.ID, sold[0].ID, store.StepOutcome{State: pool.StepDone, Generation: "g-new", Event: "upgraded g-old → g-new"}); err != nil || !ok {
			t.Fatalf("finish: %v %v", ok, err)
		}
		if ok, _ := s.FinishStep(ctx, r.ID, sold[0].ID, store.StepOutcome{State: pool.StepDone, Generation: "g-new"}); ok {
			t.Fatal("a step finished twice")
		}
		a, _ := s.Get(ctx, sold[0].ID)
		evs, _ := s.AccountEvents(ctx, sold[0].ID)
		if a.Generation != "g-new" || len(evs) != 1 || evs[0].Kind != pool.EventUpgraded {
			t.Fatalf("after the canary: generation %s, events %+v", a.Generation, evs)
		}

		// Pause: nothing begins.
		if _, err := s.PauseRollout(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.BeginStep(ctx, r.ID, sold[1].ID, "g-old", "img:old"); ok {
			t.Fatal("a step began while paused")
		}
		if _, err := s.PauseRollout(ctx, r.ID); !errors.Is(err, pool.ErrIllegalTransition) {
			t.Fatalf("pause twice: %v", err)
		}
		if _, err := s.ResumeRollout(ctx, r.ID); err != nil {
			t.Fatal(err)
		}

		// A failure rolls back and holds.
		if ok, _ := s.BeginStep(ctx, r.ID, sold[1].ID, "g-old", "img:old"); !ok {
			t.Fatal("no begin after resume")
		}
		if err := s.RollingBack(ctx, r.ID, sold[1].ID, "health: timeout"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FinishStep(ctx, r.ID, sold[1].ID, store.StepOutcome{State: pool.StepFailed, Generation: "g-old", Reason: "health: timeout", Event: "rolled back"}); err != nil {
			t.Fatal(err)
		}
		r, steps, _ = s.Rollout(ctx, r.ID)
		if r.State != pool.RolloutHeld || r.Failed != 1 || r.Done != 1 || r.LastError != sold[1].Slug+": health: timeout" {
			t.Fatalf("after a failure: %+v", r)
		}
		if a, _ := s.Get(ctx, sold[1].ID); a.Generation != "g-old" {
			t.Fatalf("a rolled back tenant's generation %s", a.Generation)
		}
		if ok, _ := s.BeginStep(ctx, r.ID, sold[2].ID, "g-old", "img:old"); ok {
			t.Fatal("a step began while held")
		}
		if ok, _ := s.FinishRollout(ctx, r.ID); ok {
			t.Fatal("a held rollout finished")
		}

		// Resume: the failed step is pending again.
		if r, err = s.ResumeRollout(ctx, r.ID); err != nil || r.State != pool.RolloutRunning || r.Failed != 0 || r.LastError != "" {
			t.Fatalf("resume: %+v %v", r, err)
		}
		_, steps, _ = s.Rollout(ctx, r.ID)
		if steps[1].State != pool.StepPending || steps[1].Error != "" || steps[1].Attempts != 1 {
			t.Fatalf("failed step after resume: %+v", steps[1])
		}

		// Abort: the pending steps are skipped, the done one stays done.
		if r, err = s.AbortRollout(ctx, r.ID); err != nil || r.State != pool.RolloutAborted || r.Skipped != 3 || r.FinishedAt.IsZero() {
			t.Fatalf("abort: %+v %v", r, err)
		}
		if _, err := s.ResumeRollout(ctx, r.ID); !errors.Is(err, pool.ErrIllegalTransition) {
			t.Fatalf("resume an aborted rollout: %v", err)
		}
		if id, _ := s.ActiveRollout(ctx); id != 0 {
			t.Fatalf("active after abort: %d", id)
		}
		if a, _ := s.Get(ctx, sold[0].ID); a.Generation != "g-new" {
			t.Fatal("abort undid an upgrade")
		}
		if _, _, err := s.Rollout(ctx, 999); !errors.Is(err, pool.ErrNoRollout) {
			t.Fatalf("unknown rollout: %v", err)
		}

		// A new rollout may start now, and runs to done.
		r2, err := s.StartRollout(ctx, pool.RolloutSpec{Tier: "basic", Generation: "g-new", Canary: 0, Batch: 5, MaxUnavailable: 2}, "img:new")
		if err != nil || r2.Total != 3 {
			t.Fatalf("second rollout: %+v %v", r2, err)
		}
		_, steps, _ = s.Rollout(ctx, r2.ID)
		for _, st := range steps {
			if st.Batch != 1 {
				t.Fatalf("no canary: step in batch %d", st.Batch)
			}
			if ok, _ := s.BeginStep(ctx, r2.ID, st.AccountID, "g-old", "img:old"); !ok {
				t.Fatal("begin")
			}
			if ok, _ := s.FinishRollout(ctx, r2.ID); ok {
				t.Fatal("finished with a step in flight")
			}
			if _, err := s.FinishStep(ctx, r2.ID, st.AccountID, store.StepOutcome{State: pool.StepDone, Generation: "g-new"}); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := s.FinishRollout(ctx, r2.ID); err != nil || !ok {
			t.Fatalf("finish rollout: %v %v", ok, err)
		}
		list, err := s.Rollouts(ctx, 10)
		if err != nil || len(list) != 2 || list[0].ID != r2.ID || list[0].State != pool.RolloutDone || list[0].Done != 3 {
			t.Fatalf("rollouts: %+v %v", list, err)
		}
	})
}
