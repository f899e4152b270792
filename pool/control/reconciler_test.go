package control_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

var testTiers = func() pool.Tiers {
	ts, err := pool.NewTiers([]pool.Tier{
		{Name: "basic", MinReady: 3, MaxTotal: 6, MaxInFlight: 2, MemoryMB: 512, CPUs: 1},
		{Name: "premium", MinReady: 1, MaxTotal: 2, MaxInFlight: 1, MemoryMB: 1024, CPUs: 1, CustomDomains: 1},
	})
	if err != nil {
		panic(err)
	}
	return ts
}()

func newReconciler(t *testing.T, s *store.Store, clock quartz.Clock) *control.Reconciler {
	t.Helper()
	r, err := control.NewReconciler(control.ReconcilerConfig{
		Store: s, Tiers: testTiers, Plan: pool.DefaultPlanConfig(), Prefix: "client",
		StuckTimeout: 30 * time.Minute, Clock: clock, Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func startJobs(t *testing.T, s *store.Store, prov pool.Tenants, mutate func(*control.WorkerConfig)) {
	t.Helper()
	cfg := control.WorkerConfig{Store: s, Tenants: prov, Tiers: testTiers, Log: slog.New(slog.DiscardHandler),
		Registry: jobs.Default().Tuned(func(_ string, p *jobs.Policy) { p.MaxAttempts = 3 }), PollInterval: 50 * time.Millisecond}
	if mutate != nil {
		mutate(&cfg)
	}
	pooltest.StartJobs(t, s.Driver(), cfg)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countState(t *testing.T, s *store.Store, tier string, st pool.State) int {
	t.Helper()
	as, err := s.List(context.Background(), store.Filter{Tier: tier, State: st})
	if err != nil {
		t.Fatal(err)
	}
	return len(as)
}

func TestReconcileIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger).WithLogger(quartz.NoOpLogger)
		s := open(clock)
		r := newReconciler(t, s, clock)
		first, err := r.ReconcileOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if first[0].Tier != "basic" || first[0].Create != 2 || first[1].Create != 1 {
			t.Fatalf("first pass = %+v, want basic 2 (max_in_flight), premium 1", first)
		}
		for i := range 8 {
			plans, err := r.ReconcileOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range plans {
				if !p.Empty() {
					t.Fatalf("pass %d on the same state planned %+v", i+2, p)
				}
			}
		}
		if n := countState(t, s, "", pool.StateProvisioning); n != 3 {
			t.Fatalf("provisioning = %d, want 3", n)
		}
	})
}

func TestReconcileFillsThePoolThroughJobs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		r := newReconciler(t, s, nil)
		prov := &pooltest.Provisioner{}
		startJobs(t, s, prov, nil)
		waitFor(t, "basic pool at min_ready", func() bool {
			if _, err := r.ReconcileOnce(ctx); err != nil {
				t.Fatal(err)
			}
			return countState(t, s, "basic", pool.StateReady) == 3 && countState(t, s, "premium", pool.StateReady) == 1
		})
		for range 8 {
			plans, _ := r.ReconcileOnce(ctx)
			for _, p := range plans {
				if !p.Empty() {
					t.Fatalf("full pool planned %+v", p)
				}
			}
		}
		ready, _ := s.List(ctx, store.Filter{State: pool.StateReady})
		for _, a := range ready {
			if prov.Provisioned(a.Slug) != 1 || a.URL == "" || a.CustomerUserID == "" {
				t.Fatalf("%s provisioned %d times, url %q", a.Slug, prov.Provisioned(a.Slug), a.URL)
			}
		}
		// A claim drains one; the next pass replaces it.
		if _, _, err := s.Claim(ctx, "basic", "order-1"); err != nil {
			t.Fatal(err)
		}
		plans, _ := r.ReconcileOnce(ctx)
		if plans[0].Create != 1 {
			t.Fatalf("after a claim: %+v, want create 1", plans[0])
		}
	})
}

func TestProvisioningFailuresRetryThenFailAndBackOff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger).WithLogger(quartz.NoOpLogger)
		s := open(clock)
		r := newReconciler(t, s, clock)
		prov := &pooltest.Provisioner{Fail: func(a pool.Account, attempt int) error {
			switch {
			case a.Slug == "client01" && attempt < 3:
				return errors.New("docker: connection reset") // retryable, third attempt works
			case a.Slug == "client02":
				return pool.Permanent(errors.New("invalid spec: image not pinned"))
			case a.Slug == "client03":
				return errors.New("host unreachable") // every attempt fails
			}
			return nil
		}}
		startJobs(t, s, prov, nil)
		if _, err := r.ReconcileOnce(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "all three settled", func() bool {
			return countState(t, s, "", pool.StateProvisioning) == 0
		})
		for slug, want := range map[string]struct {
			state    pool.State
			attempts int
		}{"client01": {pool.StateReady, 3}, "client02": {pool.StateFailed, 1}, "client03": {pool.StateFailed, 3}} {
			a, err := s.GetBySlug(ctx, slug)
			if err != nil {
				t.Fatal(err)
			}
			if a.State != want.state || prov.Attempts(slug) != want.attempts {
				t.Errorf("%s: %s after %d attempts, want %s after %d", slug, a.State, prov.Attempts(slug), want.state, want.attempts)
			}
			if a.State == pool.StateFailed && a.LastError == "" {
				t.Errorf("%s failed without a reason", slug)
			}
		}
		waitFor(t, "failed tenants torn down", func() bool {
			return prov.Destroyed("client02") == 1 && prov.Destroyed("client03") == 1
		})
		// premium's only account (client03) failed: its creation backs off; basic's streak was
		// reset by client01's success.
		plans, _ := r.ReconcileOnce(ctx)
		if p := plans[1]; p.Create != 0 || p.BackoffUntil.IsZero() {
			t.Fatalf("premium right after a failure: %+v, want a backoff", p)
		}
		clock.Advance(time.Hour)
		plans, _ = r.ReconcileOnce(ctx)
		if p := plans[1]; p.Create != 1 {
			t.Fatalf("premium after the backoff: %+v, want create 1", p)
		}
	})
}

func TestRestartMidProvisioningRecovers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger).WithLogger(quartz.NoOpLogger)
		s := open(clock)
		r := newReconciler(t, s, clock)
		if _, err := r.ReconcileOnce(ctx); err != nil { // 2 basic + 1 premium, provisioning
			t.Fatal(err)
		}
		// The process died while the jobs ran: they are left "running", as a crash leaves them.
		longAgo := "datetime('now', '-1 hour')"
		if s.Postgres() {
			longAgo = "now() - interval '1 hour'"
		}
		if _, err := s.DB().ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = `+longAgo); err != nil {
			t.Fatal(err)
		}
		// One account's job is gone for good (say, an operator deleted it): only the stuck
		// cleanup can save that row.
		lost, _ := s.GetBySlug(ctx, "client03")
		byAccount := "json_extract(args, '$.account_id')"
		if s.Postgres() {
			byAccount = "(args->>'account_id')::bigint"
		}
		if _, err := s.DB().ExecContext(ctx, fmt.Sprintf(`DELETE FROM river_job WHERE %s = %d`, byAccount, lost.ID)); err != nil {
			t.Fatal(err)
		}
		// Restart: a new worker client rescues the jobs "running" for longer than RescueAfter.
		// (RescueAfter stays well above what one attempt takes on a loaded machine: a rescue
		// while the first run still works would provision twice.)
		prov := &pooltest.Provisioner{}
		startJobs(t, s, prov, func(c *control.WorkerConfig) {
			c.Registry = c.Registry.Tuned(func(_ string, p *jobs.Policy) { p.Timeout, p.RescueAfter = 2*time.Second, 3*time.Second })
		})
		waitFor(t, "rescued jobs finished", func() bool {
			return countState(t, s, "basic", pool.StateReady) == 2
		})
		clock.Advance(31 * time.Minute)
		plans, err := r.ReconcileOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p := plans[1]; p.Tier != "premium" || len(p.CleanStuck) != 1 || p.CleanStuck[0] != lost.ID || p.Create != 1 {
			t.Fatalf("premium plan after restart = %+v, want clean [%d] and create 1", p, lost.ID)
		}
		if a, _ := s.Get(ctx, lost.ID); a.State != pool.StateFailed {
			t.Fatalf("stuck account is %s, want failed", a.State)
		}
		waitFor(t, "pool refilled", func() bool {
			r.ReconcileOnce(ctx)
			return countState(t, s, "basic", pool.StateReady) == 3 && countState(t, s, "premium", pool.StateReady) == 1
		})
		all, _ := s.List(ctx, store.Filter{})
		seen := map[string]bool{}
		for _, a := range all {
			if seen[a.Slug] {
				t.Fatalf("slug %s used twice", a.Slug)
			}
			seen[a.Slug] = true
			if prov.Provisioned(a.Slug) > 1 {
				t.Fatalf("%s provisioned %d times", a.Slug, prov.Provisioned(a.Slug))
			}
		}
	})
}

// An operator batch larger than max_total (8 > 6) at a concurrency of 2: the accounts waiting
// in the queue are not stuck however long they wait (stuck time counts from their job's first
// start), the two whose attempts did hang are cleaned without counting toward the tier's failure
// streak, and once ready the batch is neither retired by max_total nor counted toward it — its
// ready accounts do fill min_ready.
func TestBigBatchIsNeitherStuckNorRetired(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger)
		s := open(clock)
		r := newReconciler(t, s, clock)
		if err := s.SetPaused(ctx, "premium", true); err != nil {
			t.Fatal(err)
		}
		batch, err := s.CreateAccounts(ctx, "basic", "batch", 8)
		if err != nil {
			t.Fatal(err)
		}
		prov := &pooltest.Provisioner{Block: make(chan struct{}), Started: make(chan string, 16)}
		startJobs(t, s, prov, func(c *control.WorkerConfig) { c.ProvisionConcurrency = 2 })
		hung := map[string]bool{<-prov.Started: true, <-prov.Started: true}

		clock.Advance(2 * time.Hour) // far beyond the stuck timeout (30m) since creation and start
		plans, err := r.ReconcileOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		basic := plans[0]
		if len(basic.CleanStuck) != 2 || basic.Retire != 0 || basic.Create != 2 || basic.HardLimited || !basic.BackoffUntil.IsZero() {
			t.Fatalf("basic plan = %+v; want the 2 hung batch accounts cleaned, nothing retired, the pool's own 2 created", basic)
		}
		for _, id := range basic.CleanStuck {
			a, _ := s.Get(ctx, id)
			if !hung[a.Slug] || a.State != pool.StateFailed || a.Origin != pool.OriginBatch {
				t.Fatalf("cleaned %s (%s, %s); want one of the hung %v", a.Slug, a.State, a.Origin, hung)
			}
		}
		if n := countState(t, s, "basic", pool.StateProvisioning); n != 8 {
			t.Fatalf("%d provisioning, want the 6 waiting batch accounts and the pool's 2", n)
		}
		if snap, _ := s.Snapshot(ctx, clock.Now(), 100); snap["basic"].ConsecutiveFailures != 0 {
			t.Fatalf("batch failures counted toward the tier: %d", snap["basic"].ConsecutiveFailures)
		}

		close(prov.Block)
		waitFor(t, "the batch and the pool's accounts ready", func() bool {
			return countState(t, s, "basic", pool.StateReady) == 8
		})
		for range 3 {
			plans, err := r.ReconcileOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !plans[0].Empty() {
				t.Fatalf("with 6 batch and 2 pool accounts ready: %+v; want nothing (min_ready 3 is met, the batch is not inventory above max_total 6)", plans[0])
			}
		}
		for _, a := range batch {
			if got, _ := s.Get(ctx, a.ID); got.State == pool.StateRetired {
				t.Fatalf("batch account %s retired", a.Slug)
			}
		}
	})
}

func TestPausedTierIsLeftAlone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		r := newReconciler(t, s, nil)
		if err := s.SetPaused(ctx, "basic", true); err != nil {
			t.Fatal(err)
		}
		plans, err := r.ReconcileOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !plans[0].Paused || plans[0].Create != 0 || plans[1].Create != 1 {
			t.Fatalf("plans = %+v", plans)
		}
		s.SetPaused(ctx, "basic", false)
		plans, _ = r.ReconcileOnce(ctx)
		if plans[0].Create != 2 {
			t.Fatalf("resumed: %+v", plans[0])
		}
	})
}

// The SQL store is what the runtime runs on.
var (
	_ control.Store      = (*store.Store)(nil)
	_ control.ProbeStore = (*store.Store)(nil)
)
