package control_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

var (
	oldImage = "langflow@sha256:" + sixtyFour("a")
	newImage = "langflow@sha256:" + sixtyFour("b")
)

// rolloutFixture is a store with n sold basic tenants running oldImage on the provisioner
// double, and the target generation of newImage.
type rolloutFixture struct {
	s      *store.Store
	prov   *pooltest.Provisioner
	clock  *quartz.Mock
	sold   []pool.Account
	oldGen string
	target string
}

func newRolloutFixture(t *testing.T, open func(quartz.Clock) *store.Store, n int) *rolloutFixture {
	t.Helper()
	ctx := context.Background()
	clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger)
	// A Wednesday, at noon.
	clock.Set(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	f := &rolloutFixture{s: open(clock), prov: &pooltest.Provisioner{Tiers: testTiers}, clock: clock}
	f.prov.SetImage(oldImage)
	f.oldGen = f.prov.Build(testTiers["basic"]).Generation
	as, err := f.s.CreateAccounts(ctx, "basic", "client", n)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range as {
		if err := f.s.MarkReady(ctx, a.ID, pool.Provisioned{Host: "h1", URL: "https://" + a.Slug + ".example.test", Generation: f.oldGen}); err != nil {
			t.Fatal(err)
		}
		got, _, err := f.s.Claim(ctx, "basic", fmt.Sprintf("order-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		f.prov.SetImageOf(got.Slug, oldImage)
		f.sold = append(f.sold, got)
	}
	f.prov.SetImage(newImage)
	f.target = f.prov.Build(testTiers["basic"]).Generation
	return f
}

func (f *rolloutFixture) driver(t *testing.T) *control.Rollouts {
	t.Helper()
	d, err := control.NewRollouts(control.RolloutConfig{Store: f.s, Tenants: f.prov, Clock: f.clock, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (f *rolloutFixture) start(t *testing.T, canary, batch, maxUnavailable int, window string) pool.Rollout {
	t.Helper()
	r, err := f.s.StartRollout(context.Background(), pool.RolloutSpec{Tier: "basic", Generation: f.target, Canary: canary,
		Batch: batch, MaxUnavailable: maxUnavailable, Window: window}, newImage)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *rolloutFixture) rollout(t *testing.T, id int64) (pool.Rollout, []pool.RolloutStep) {
	t.Helper()
	r, steps, err := f.s.Rollout(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r, steps
}

// upgraded checks that a tenant runs the target: its image at the double, its generation in
// the store, and one "upgraded" event.
func (f *rolloutFixture) upgraded(t *testing.T, a pool.Account) {
	t.Helper()
	ctx := context.Background()
	img, _ := f.prov.Image(ctx, a)
	got, err := f.s.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := f.s.AccountEvents(ctx, a.ID)
	n := 0
	for _, e := range evs {
		if e.Kind == pool.EventUpgraded {
			n++
		}
	}
	if img != newImage || got.Generation != f.target || n != 1 {
		t.Fatalf("%s: image %s, generation %s (want %s), %d upgraded events", a.Slug, img, got.Generation, f.target, n)
	}
}

// The canary goes alone, then each batch, never more than max-unavailable at once and never a
// batch before the last one finished; every tenant ends on the target with one audit event and
// the rollout is done.
func TestRolloutCanaryThenBatchesWithinMaxUnavailable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		f := newRolloutFixture(t, open, 6)
		block, started := make(chan struct{}), make(chan string, 16)
		f.prov.ReimageBlock, f.prov.ReimageStarted = block, started
		r := f.start(t, 1, 3, 2, "")
		d := f.driver(t)
		done := make(chan error, 1)
		go func() { done <- d.Pass(context.Background()) }()

		slug := func(i int) string { return f.sold[i].Slug }
		// Waves: the canary; batch 1 (3 tenants) as 2 then 1; batch 2 as 2.
		for _, wave := range [][]string{{slug(0)}, {slug(1), slug(2)}, {slug(3)}, {slug(4), slug(5)}} {
			var got []string
			for range wave {
				got = append(got, <-started)
			}
			slices.Sort(got)
			if !slices.Equal(got, wave) {
				t.Fatalf("wave %v started, want %v", got, wave)
			}
			if m := f.prov.MaxReimaging(); m > 2 {
				t.Fatalf("%d tenants re-imaged at once, max-unavailable 2", m)
			}
			for range wave {
				block <- struct{}{}
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if f.prov.MaxReimaging() != 2 {
			t.Fatalf("at most %d at once: max-unavailable 2 was never used", f.prov.MaxReimaging())
		}
		got, steps := f.rollout(t, r.ID)
		if got.State != pool.RolloutDone || got.Done != 6 || got.Failed != 0 || got.FinishedAt.IsZero() {
			t.Fatalf("rollout %+v", got)
		}
		for i, a := range f.sold {
			f.upgraded(t, a)
			if steps[i].State != pool.StepDone || steps[i].FromImage != oldImage || steps[i].FromGeneration != f.oldGen || steps[i].ToGeneration != f.target {
				t.Fatalf("step %+v", steps[i])
			}
		}
		if err := d.Pass(context.Background()); err != nil || f.prov.Reimaged(slug(0)) != 1 {
			t.Fatalf("a pass after done: %v, canary re-imaged %d times", err, f.prov.Reimaged(slug(0)))
		}
	})
}

// Outside its window a rollout waits; once the window opens it runs.
func TestRolloutWaitsForItsWindow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		f := newRolloutFixture(t, open, 2)
		r := f.start(t, 1, 5, 1, "Sun 02:00-05:00")
		d := f.driver(t)
		if err := d.Pass(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, steps := f.rollout(t, r.ID); got.State != pool.RolloutRunning || steps[0].State != pool.StepPending || f.prov.Reimaged(f.sold[0].Slug) != 0 {
			t.Fatalf("on a Wednesday: %+v %+v", got, steps)
		}
		f.clock.Set(time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)) // Sunday 02:00
		if err := d.Pass(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.rollout(t, r.ID); got.State != pool.RolloutDone || got.Done != 2 {
			t.Fatalf("in the window: %+v", got)
		}
	})
}

// The first failure rolls that tenant back to its previous image and holds the rollout; later
// batches are not touched; resume retries the failed tenant and goes on; abort stops, and the
// upgraded tenants stay upgraded.
func TestRolloutFailureRollsBackAndHoldsThenResumeAndAbort(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		f := newRolloutFixture(t, open, 5)
		bad := f.sold[2].Slug
		var mu sync.Mutex
		broken := true
		f.prov.ReimageFail = func(a pool.Account, image string, _ int) error {
			mu.Lock()
			defer mu.Unlock()
			if a.Slug == bad && image == newImage && broken {
				return errors.New("health: tenant never became healthy")
			}
			return nil
		}
		r := f.start(t, 1, 2, 1, "")
		d := f.driver(t)
		if err := d.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		got, steps := f.rollout(t, r.ID)
		if got.State != pool.RolloutHeld || got.Done != 2 || got.Failed != 1 || got.LastError == "" {
			t.Fatalf("after the failure: %+v", got)
		}
		if steps[2].State != pool.StepFailed || steps[2].ToGeneration != f.oldGen {
			t.Fatalf("failed step %+v", steps[2])
		}
		if img, _ := f.prov.Image(ctx, f.sold[2]); img != oldImage || f.prov.Reimaged(bad) != 2 {
			t.Fatalf("failed tenant runs %s after %d re-images: not rolled back", img, f.prov.Reimaged(bad))
		}
		if a, _ := f.s.Get(ctx, f.sold[2].ID); a.Generation != f.oldGen {
			t.Fatalf("failed tenant's generation %s", a.Generation)
		}
		evs, _ := f.s.AccountEvents(ctx, f.sold[2].ID)
		if len(evs) != 1 || evs[0].Kind != pool.EventUpgradeFailed {
			t.Fatalf("failed tenant's events %+v", evs)
		}
		for _, a := range f.sold[3:] {
			if f.prov.Reimaged(a.Slug) != 0 {
				t.Fatalf("%s re-imaged after the failure", a.Slug)
			}
		}
		if err := d.Pass(ctx); err != nil || f.prov.Reimaged(f.sold[3].Slug) != 0 {
			t.Fatalf("a held rollout went on: %v", err)
		}

		// Resume, the tenant fixed: it is retried, then the rest in order up to one batch.
		mu.Lock()
		broken = false
		mu.Unlock()
		if _, err := f.s.ResumeRollout(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.PauseRollout(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if err := d.Pass(ctx); err != nil || f.prov.Reimaged(bad) != 2 {
			t.Fatalf("a paused rollout went on: %v", err)
		}
		if _, err := f.s.ResumeRollout(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		// Stop after the failed tenant's batch: abort once it is upgraded.
		f.prov.ReimageFail = func(a pool.Account, image string, _ int) error {
			if a.Slug == bad {
				if _, err := f.s.AbortRollout(ctx, r.ID); err != nil {
					t.Error(err)
				}
			}
			return nil
		}
		if err := d.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		got, steps = f.rollout(t, r.ID)
		if got.State != pool.RolloutAborted || got.Done != 3 || got.Skipped != 2 {
			t.Fatalf("after abort: %+v", got)
		}
		for _, a := range f.sold[:3] {
			f.upgraded(t, a)
		}
		for i, a := range f.sold[3:] {
			if f.prov.Reimaged(a.Slug) != 0 || steps[3+i].State != pool.StepSkipped {
				t.Fatalf("%s: re-imaged %d times, step %s after abort", a.Slug, f.prov.Reimaged(a.Slug), steps[3+i].State)
			}
			if got, _ := f.s.Get(ctx, a.ID); got.Generation != f.oldGen {
				t.Fatalf("%s changed generation", a.Slug)
			}
		}
	})
}

// A daemon stopped in the middle of a step leaves it in flight; the next daemon's driver
// finishes it (the upgrade tried again; an interrupted rollback tried again) and goes on.
func TestRolloutResumesAfterARestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		f := newRolloutFixture(t, open, 3)
		block, started := make(chan struct{}), make(chan string, 4)
		f.prov.ReimageBlock, f.prov.ReimageStarted = block, started
		r := f.start(t, 1, 5, 1, "")
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- f.driver(t).Pass(runCtx) }()
		if s := <-started; s != f.sold[0].Slug {
			t.Fatalf("first step %s", s)
		}
		stop() // the daemon dies with the canary in flight
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("stopped pass: %v", err)
		}
		_, steps := f.rollout(t, r.ID)
		if steps[0].State != pool.StepUpgrading || steps[0].Attempts != 1 {
			t.Fatalf("canary after the stop: %+v", steps[0])
		}

		f.prov.ReimageBlock, f.prov.ReimageStarted = nil, nil
		if err := f.driver(t).Pass(ctx); err != nil { // a new daemon
			t.Fatal(err)
		}
		got, steps := f.rollout(t, r.ID)
		if got.State != pool.RolloutDone || got.Done != 3 || steps[0].Attempts != 2 {
			t.Fatalf("after the restart: %+v %+v", got, steps[0])
		}
		for _, a := range f.sold {
			f.upgraded(t, a)
		}

		// An interrupted rollback: the new daemon rolls back and holds.
		g := newRolloutFixture(t, open, 2)
		r2 := g.start(t, 1, 5, 1, "")
		if ok, err := g.s.BeginStep(ctx, r2.ID, g.sold[0].ID, g.oldGen, oldImage); err != nil || !ok {
			t.Fatal(err)
		}
		if err := g.s.RollingBack(ctx, r2.ID, g.sold[0].ID, "health: timeout"); err != nil {
			t.Fatal(err)
		}
		g.prov.SetImageOf(g.sold[0].Slug, newImage) // half-way: the new image runs
		if err := g.driver(t).Pass(ctx); err != nil {
			t.Fatal(err)
		}
		got, steps = g.rollout(t, r2.ID)
		if got.State != pool.RolloutHeld || steps[0].State != pool.StepFailed || g.prov.Reimaged(g.sold[1].Slug) != 0 {
			t.Fatalf("after an interrupted rollback: %+v %+v", got, steps)
		}
		if img, _ := g.prov.Image(ctx, g.sold[0]); img != oldImage {
			t.Fatalf("rolled back to %s", img)
		}
	})
}

// A tenant no longer sold when its turn comes (suspended meanwhile) is skipped, untouched; the
// rollout still finishes.
func TestRolloutSkipsTenantsNoLongerSold(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		f := newRolloutFixture(t, open, 3)
		r := f.start(t, 1, 5, 2, "")
		if err := f.s.SetState(ctx, f.sold[1].ID, pool.StateSuspended); err != nil {
			t.Fatal(err)
		}
		if err := f.driver(t).Pass(ctx); err != nil {
			t.Fatal(err)
		}
		got, steps := f.rollout(t, r.ID)
		if got.State != pool.RolloutDone || got.Done != 2 || got.Skipped != 1 || steps[1].State != pool.StepSkipped ||
			!strings.Contains(steps[1].Error, "suspended") || f.prov.Reimaged(f.sold[1].Slug) != 0 {
			t.Fatalf("rollout %+v, steps %+v", got, steps)
		}
		f.upgraded(t, f.sold[0])
		f.upgraded(t, f.sold[2])
	})
}
