package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/secret"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// seedReady creates n accounts of a tier and marks them ready.
func seedReady(t testing.TB, s *store.Store, tier string, n int) []pool.Account {
	t.Helper()
	ctx := context.Background()
	as, err := s.CreateAccounts(ctx, tier, "client", n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range as {
		if err := s.MarkReady(ctx, as[i].ID, pool.Provisioned{Host: "h1", URL: "https://" + as[i].Slug + ".example.com"}); err != nil {
			t.Fatal(err)
		}
		as[i].State = pool.StateReady
	}
	return as
}

func TestCreateAccountsSealsSecretsAndAllocatesSlugs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		as, err := s.CreateAccounts(ctx, "basic", "client", 3)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range as {
			if want := fmt.Sprintf("client%02d", i+1); a.Slug != want || a.State != pool.StateProvisioning {
				t.Fatalf("account %d = %s/%s, want %s/provisioning", i, a.Slug, a.State, want)
			}
			if len(a.OperatorPassword) < 24 || len(a.OperatorBootstrap) < 24 || len(a.CustomerPassword) < 24 || a.SecretKey == "" {
				t.Fatalf("weak or missing generated secrets on %s", a.Slug)
			}
			if a.OperatorBootstrap == a.OperatorPassword {
				t.Fatalf("%s: the container's bootstrap operator password is the daemon's", a.Slug)
			}
			got, err := s.Get(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.OperatorPassword != a.OperatorPassword || got.OperatorBootstrap != a.OperatorBootstrap ||
				got.CustomerPassword != a.CustomerPassword || got.SecretKey != a.SecretKey {
				t.Fatalf("secrets of %s did not round-trip", a.Slug)
			}
			var raw string
			if err := s.DB().QueryRow(fmt.Sprintf("SELECT secrets FROM accounts WHERE id = %d", a.ID)).Scan(&raw); err != nil {
				t.Fatal(err)
			}
			for _, sec := range []string{a.OperatorPassword, a.OperatorBootstrap, a.CustomerPassword, a.SecretKey} {
				if strings.Contains(raw, sec) {
					t.Fatalf("secret stored in clear for %s", a.Slug)
				}
			}
		}
		var jobs int
		if err := s.DB().QueryRow("SELECT COUNT(*) FROM river_job WHERE kind = 'provision'").Scan(&jobs); err != nil {
			t.Fatal(err)
		}
		if jobs != 3 {
			t.Fatalf("provision jobs = %d, want 3 (one per account, same transaction)", jobs)
		}
		more, err := s.CreateAccounts(ctx, "premium", "client", 1)
		if err != nil || more[0].Slug != "client04" {
			t.Fatalf("next slug = %v, %v; want client04", more, err)
		}
		for _, bad := range []string{"", "Client", "9lives", "client-", strings.Repeat("a", 50)} {
			if _, err := s.CreateAccounts(ctx, "basic", bad, 1); err == nil {
				t.Fatalf("prefix %q accepted", bad)
			}
		}
		if _, err := s.CreateAccounts(ctx, "basic", "client", 0); err == nil {
			t.Fatal("count 0 accepted")
		}
		all, _ := s.List(ctx, store.Filter{})
		if len(all) != 4 {
			t.Fatalf("bad input wrote rows: %d accounts, want 4", len(all))
		}
	})
}

func TestConcurrentBatchesNeverShareASlug(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				_, err := s.CreateAccounts(ctx, "basic", "client", 10)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.List(ctx, store.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, a := range all {
			if seen[a.Slug] {
				t.Fatalf("slug %s allocated twice", a.Slug)
			}
			seen[a.Slug] = true
		}
		if len(seen) != 80 {
			t.Fatalf("%d distinct slugs, want 80", len(seen))
		}
	})
}

func TestTwoReplicasAllocateDistinctSlugs(t *testing.T) {
	u := storetest.SchemaURL(t, storetest.RequirePostgres(t))
	a, b := storetest.OpenPostgres(t, u, nil), storetest.OpenPostgres(t, u, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, s := range []*store.Store{a, b, a, b} {
		wg.Go(func() {
			if _, err := s.CreateAccounts(ctx, "basic", "client", 25); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	all, _ := a.List(ctx, store.Filter{})
	seen := map[string]bool{}
	for _, x := range all {
		seen[x.Slug] = true
	}
	if len(all) != 100 || len(seen) != 100 {
		t.Fatalf("%d accounts, %d distinct slugs; want 100 and 100", len(all), len(seen))
	}
}

func TestConcurrentClaimsTakeEachAccountOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		seedReady(t, s, "basic", 50)
		seedReady(t, s, "premium", 5) // another tier's pool is never touched
		var (
			mu      sync.Mutex
			claimed = map[int64]string{}
			empty   int
			wg      sync.WaitGroup
		)
		for i := range 200 {
			wg.Go(func() {
				order := fmt.Sprintf("order-%03d", i)
				a, created, err := s.Claim(ctx, "basic", order)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, pool.ErrPoolEmpty):
					empty++
				case err != nil:
					t.Errorf("claim %s: %v", order, err)
				default:
					if !created || a.Tier != "basic" || a.State != pool.StateClaimed || a.OrderID != order {
						t.Errorf("claim %s got %v created=%v", order, a, created)
					}
					if prev, dup := claimed[a.ID]; dup {
						t.Errorf("account %d claimed by %s and %s", a.ID, prev, order)
					}
					claimed[a.ID] = order
				}
			})
		}
		wg.Wait()
		if len(claimed) != 50 || empty != 150 {
			t.Fatalf("claimed %d distinct, %d empty-pool errors; want 50 and 150", len(claimed), empty)
		}
		prem, _ := s.List(ctx, store.Filter{Tier: "premium", State: pool.StateReady})
		if len(prem) != 5 {
			t.Fatalf("premium ready = %d, want 5", len(prem))
		}
	})
}

func TestSameOrderClaimedConcurrentlyGetsOneAccount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		seedReady(t, s, "basic", 5)
		var (
			mu      sync.Mutex
			ids     = map[int64]int{}
			created int
			wg      sync.WaitGroup
		)
		for range 10 {
			wg.Go(func() {
				a, c, err := s.Claim(ctx, "basic", "cs_test_same")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids[a.ID]++
				if c {
					created++
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(ids) != 1 || created != 1 {
			t.Fatalf("accounts %v, created %d; want one account, created once", ids, created)
		}
		ready, _ := s.List(ctx, store.Filter{State: pool.StateReady})
		if len(ready) != 4 {
			t.Fatalf("ready after one order = %d, want 4", len(ready))
		}
	})
}

func TestClaimEmptyPoolAndHookRollback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		if _, _, err := s.Claim(ctx, "basic", "o1"); !errors.Is(err, pool.ErrPoolEmpty) {
			t.Fatalf("empty pool: err = %v, want ErrPoolEmpty", err)
		}
		seedReady(t, s, "basic", 1)
		// A job that cannot be inserted (its kind has no policy) rolls the claim back with it.
		if _, _, err := s.Claim(ctx, "basic", "o1", jobs.Job{Args: unknownArgs{}}); err == nil {
			t.Fatal("a claim with an unknown job kind succeeded")
		}
		if ready, _ := s.List(ctx, store.Filter{State: pool.StateReady}); len(ready) != 1 || ready[0].OrderID != "" {
			t.Fatalf("a failed job insert left the claim in place: %+v", ready)
		}
		a, _, err := s.Claim(ctx, "basic", "o1", jobs.Job{Args: jobs.DeliverArgs{OrderID: "o1"}})
		if err != nil || a.OrderID != "o1" {
			t.Fatalf("claim with a job = %v, %v", a, err)
		}
		if n := countJobs(t, s, jobs.DeliverArgs{}.Kind()); n != 1 {
			t.Fatalf("delivery jobs = %d, want 1 (committed with the claim)", n)
		}
		if _, _, err := s.Claim(ctx, "basic", "o1", jobs.Job{Args: jobs.DeliverArgs{OrderID: "o1", Resend: 7}}); err != nil {
			t.Fatal(err)
		}
		if n := countJobs(t, s, jobs.DeliverArgs{}.Kind()); n != 1 {
			t.Fatalf("delivery jobs = %d after a repeated claim, want 1 (nothing written)", n)
		}
		if _, _, err := s.Claim(ctx, "basic", ""); err == nil {
			t.Fatal("empty order id accepted")
		}
	})
}

func TestReserveTakesAccountsOutOfThePool(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		seedReady(t, s, "basic", 3)
		failWrite := errors.New("disk full")
		if _, err := s.Reserve(ctx, "basic", 2, func([]pool.Account) error { return failWrite }); !errors.Is(err, failWrite) {
			t.Fatalf("err = %v", err)
		}
		if ready, _ := s.List(ctx, store.Filter{State: pool.StateReady}); len(ready) != 3 {
			t.Fatalf("failed export reserved accounts: %d ready, want 3", len(ready))
		}
		got, err := s.Reserve(ctx, "basic", 2, func(as []pool.Account) error {
			for _, a := range as {
				if a.CustomerPassword == "" {
					return errors.New("no password to export")
				}
			}
			return nil
		})
		if err != nil || len(got) != 2 {
			t.Fatalf("reserve = %d, %v", len(got), err)
		}
		a, _, err := s.Claim(ctx, "basic", "o1")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			if r.ID == a.ID {
				t.Fatal("a reserved account was sold")
			}
		}
		if _, _, err := s.Claim(ctx, "basic", "o2"); !errors.Is(err, pool.ErrPoolEmpty) {
			t.Fatalf("reserved accounts still claimable: %v", err)
		}
	})
}

func TestLifecycleTransitionsAreChecked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger).WithLogger(quartz.NoOpLogger)
		s := open(clock)
		as, err := s.CreateAccounts(ctx, "basic", "client", 3)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.MarkFailed(ctx, as[0].ID, "image pull failed"); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkReady(ctx, as[0].ID, pool.Provisioned{}); !errors.Is(err, pool.ErrIllegalTransition) {
			t.Fatalf("failed → ready: err = %v, want ErrIllegalTransition", err)
		}
		if err := s.MarkFailed(ctx, as[0].ID, "again"); !errors.Is(err, pool.ErrIllegalTransition) {
			t.Fatalf("failed → failed: err = %v", err)
		}
		if err := s.MarkReady(ctx, as[1].ID, pool.Provisioned{URL: "https://client02.example.com"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Claim(ctx, "basic", "o1"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetState(ctx, as[1].ID, pool.StateReady); !errors.Is(err, pool.ErrIllegalTransition) {
			t.Fatalf("claimed → ready: err = %v (a sold account must never return to the pool)", err)
		}
		if err := s.SetState(ctx, as[1].ID, pool.StateDelivered); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Retire(ctx, as[2].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Retire(ctx, as[2].ID); !errors.Is(err, pool.ErrIllegalTransition) {
			t.Fatalf("retired → retired: err = %v", err)
		}
		if _, err := s.Retire(ctx, 9999); !errors.Is(err, pool.ErrNotFound) {
			t.Fatalf("retire unknown: err = %v", err)
		}
		var destroys int
		s.DB().QueryRow("SELECT COUNT(*) FROM river_job WHERE kind = 'destroy'").Scan(&destroys)
		if destroys != 2 {
			t.Fatalf("teardown jobs = %d, want 2 (failed + retired)", destroys)
		}
	})
}

func TestSnapshot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger).WithLogger(quartz.NoOpLogger)
		s := open(clock)
		// An hour ago: started (stuck), failed, never started with its job (waiting in the
		// queue: not stuck), never started with its job gone (lost: stuck).
		old, _ := s.CreateAccountsFrom(ctx, pool.OriginPool, "basic", "client", 4)
		if _, err := s.StartAttempt(ctx, old[0].ID); err != nil {
			t.Fatal(err)
		}
		deleteProvisionJob(t, s, old[3].ID)
		clock.Advance(time.Hour)
		// Now: started recently (not stuck), ready ones of the pool and of a batch, a stuck batch
		// account started an hour ago.
		fresh, _ := s.CreateAccountsFrom(ctx, pool.OriginPool, "basic", "client", 1)
		if _, err := s.StartAttempt(ctx, fresh[0].ID); err != nil {
			t.Fatal(err)
		}
		seedReady(t, s, "basic", 3)
		seedReadyFrom(t, s, pool.OriginPool, "basic", 2)
		clock.Advance(-time.Hour)
		batch, _ := s.CreateAccounts(ctx, "basic", "batch", 2)
		if _, err := s.StartAttempt(ctx, batch[0].ID); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		s.CreateAccountsFrom(ctx, pool.OriginOrder, "premium", "client", 1)
		if err := s.MarkFailed(ctx, old[1].ID, "boom"); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkFailed(ctx, batch[1].ID, "boom"); err != nil { // a batch's: not counted
			t.Fatal(err)
		}
		s.Claim(ctx, "basic", "o1") // the oldest ready: one of the batch's
		if err := s.SetPaused(ctx, "premium", true); err != nil {
			t.Fatal(err)
		}
		snap, err := s.Snapshot(ctx, clock.Now().Add(-30*time.Minute), 100)
		if err != nil {
			t.Fatal(err)
		}
		b, p := snap["basic"], snap["premium"]
		want := pool.TierSnapshot{Provisioning: 4, Ready: 2, BatchReady: 2, Stuck: []int64{old[0].ID, old[3].ID},
			BatchStuck: []int64{batch[0].ID}, ConsecutiveFailures: 1, LastFailureAt: clock.Now().Truncate(time.Millisecond)}
		if !reflect.DeepEqual(b, want) {
			t.Fatalf("basic = %+v\nwant    %+v", b, want)
		}
		if !p.Paused || p.Provisioning != 1 || len(p.Stuck) != 0 {
			t.Fatalf("premium = %+v", p)
		}
		n, err := s.FailStuck(ctx, append(b.Stuck, b.BatchStuck...), "stuck")
		if err != nil || n != 3 {
			t.Fatalf("FailStuck = %d, %v", n, err)
		}
		if n, _ := s.FailStuck(ctx, b.Stuck, "stuck"); n != 0 {
			t.Fatal("FailStuck failed an account twice")
		}
		snap, _ = s.Snapshot(ctx, clock.Now().Add(-30*time.Minute), 100)
		if got := snap["basic"].ConsecutiveFailures; got != 3 {
			t.Fatalf("failure streak %d, want 3 (the pool's failed and two stuck; the batch's two are not counted)", got)
		}
		if err := s.SetPaused(ctx, "basic", false); err != nil {
			t.Fatal(err)
		}
		snap, _ = s.Snapshot(ctx, clock.Now().Add(-30*time.Minute), 100)
		if snap["basic"].ConsecutiveFailures != 0 || snap["basic"].Provisioning != 2 {
			t.Fatalf("after resume: %+v", snap["basic"])
		}
		// The waiting account starts now: its stuck time counts from here, not from creation.
		if a, err := s.StartAttempt(ctx, old[2].ID); err != nil || !a.StartedAt.Equal(clock.Now().Truncate(time.Millisecond)) {
			t.Fatalf("first start %v, %v", a.StartedAt, err)
		}
		clock.Advance(20 * time.Minute)
		if a, _ := s.StartAttempt(ctx, old[2].ID); a.Attempts != 2 || !a.StartedAt.Equal(clock.Now().Add(-20*time.Minute).Truncate(time.Millisecond)) {
			t.Fatalf("second attempt moved the first start: %+v", a.StartedAt)
		}
		if snap, _ := s.Snapshot(ctx, clock.Now().Add(-30*time.Minute), 100); len(snap["basic"].Stuck) != 0 {
			t.Fatalf("stuck 20 minutes after its first start: %v", snap["basic"].Stuck)
		}
		clock.Advance(11 * time.Minute)
		// 31 minutes after their first start, it and the one started with it are stuck.
		if snap, _ := s.Snapshot(ctx, clock.Now().Add(-30*time.Minute), 100); !slices.Equal(snap["basic"].Stuck, []int64{old[2].ID, fresh[0].ID}) {
			t.Fatalf("31 minutes after their first start: stuck %v, want [%d %d]", snap["basic"].Stuck, old[2].ID, fresh[0].ID)
		}
	})
}

// seedReadyFrom creates n accounts of an origin and marks them ready.
func seedReadyFrom(t testing.TB, s *store.Store, origin pool.Origin, tier string, n int) []pool.Account {
	t.Helper()
	as, err := s.CreateAccountsFrom(context.Background(), origin, tier, "client", n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range as {
		if err := s.MarkReady(context.Background(), as[i].ID, pool.Provisioned{Host: "h1", URL: "https://" + as[i].Slug + ".example.com"}); err != nil {
			t.Fatal(err)
		}
		as[i].State = pool.StateReady
	}
	return as
}

// deleteProvisionJob removes an account's provisioning job, as if it were lost.
func deleteProvisionJob(t testing.TB, s *store.Store, id int64) {
	t.Helper()
	byAccount := "json_extract(args, '$.account_id')"
	if s.Postgres() {
		byAccount = "(args->>'account_id')::bigint"
	}
	res, err := s.DB().Exec(fmt.Sprintf(`DELETE FROM river_job WHERE kind = 'provision' AND %s = %d`, byAccount, id))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("deleted %d provisioning jobs of account %d, want 1", n, id)
	}
}

func TestSecretsNeedTheKey(t *testing.T) {
	dir := t.TempDir()
	s := storetest.OpenSQLite(t, dir, nil)
	ctx := context.Background()
	if _, err := s.CreateAccounts(ctx, "basic", "client", 1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	other, err := store.Open(ctx, store.Options{DataDir: dir, Key: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.List(ctx, store.Filter{}); err == nil || !strings.Contains(err.Error(), "wrong key") {
		t.Fatalf("list with the wrong key: err = %v", err)
	}
}

func TestOpenRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	if _, err := store.Open(ctx, store.Options{DatabaseURL: "mysql://x", Key: storetest.Key}); err == nil {
		t.Fatal("mysql URL accepted")
	}
	if _, err := store.Open(ctx, store.Options{Key: storetest.Key}); err == nil {
		t.Fatal("no data dir nor URL accepted")
	}
	if _, err := store.Open(ctx, store.Options{DataDir: t.TempDir(), Key: []byte("short")}); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestSQLiteLeaderLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	a := storetest.OpenSQLite(t, dir, nil)
	b := storetest.OpenSQLite(t, dir, nil)
	ctx := context.Background()
	if ok, err := a.TryLead(ctx); !ok || err != nil {
		t.Fatalf("first leader: %v %v", ok, err)
	}
	if ok, err := b.TryLead(ctx); ok || err != nil {
		t.Fatalf("second process led too: %v %v", ok, err)
	}
	a.Resign()
	if ok, _ := b.TryLead(ctx); !ok {
		t.Fatal("leadership not handed over after resign")
	}
}

func TestPostgresLeaderLockIsExclusive(t *testing.T) {
	u := storetest.SchemaURL(t, storetest.RequirePostgres(t))
	a, b := storetest.OpenPostgres(t, u, nil), storetest.OpenPostgres(t, u, nil)
	ctx := context.Background()
	if ok, err := a.TryLead(ctx); !ok || err != nil {
		t.Fatalf("first leader: %v %v", ok, err)
	}
	if ok, _ := a.TryLead(ctx); !ok {
		t.Fatal("leader lost its own lock")
	}
	if ok, err := b.TryLead(ctx); ok || err != nil {
		t.Fatalf("second replica led too: %v %v", ok, err)
	}
	a.Close() // the leader dies
	if ok, _ := b.TryLead(ctx); !ok {
		t.Fatal("no takeover after the leader closed")
	}
}

// Replicas reach one database by URLs that differ (a host alias, a rolled password, an extra
// parameter): the reconcile lock must still be one lock, and another schema's pool (a parallel
// test) must not share it.
func TestPostgresLeaderLockIgnoresHowTheURLIsSpelled(t *testing.T) {
	u := storetest.SchemaURL(t, storetest.RequirePostgres(t))
	alias, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if host, port := alias.Hostname(), alias.Port(); host == "127.0.0.1" {
		alias.Host = "localhost:" + port
	}
	q := alias.Query()
	q.Set("application_name", "replica-b")
	q.Set("connect_timeout", "10")
	alias.RawQuery = q.Encode()
	if alias.String() == u {
		t.Fatal("the two URLs are the same")
	}
	a, b := storetest.OpenPostgres(t, u, nil), storetest.OpenPostgres(t, alias.String(), nil)
	other := storetest.OpenPostgres(t, storetest.SchemaURL(t, storetest.RequirePostgres(t)), nil)
	ctx := context.Background()
	if ok, err := a.TryLead(ctx); !ok || err != nil {
		t.Fatalf("first leader: %v %v", ok, err)
	}
	if ok, err := b.TryLead(ctx); ok || err != nil {
		t.Fatalf("a replica with a differently spelled URL led too: %v %v", ok, err)
	}
	if ok, err := other.TryLead(ctx); !ok || err != nil {
		t.Fatalf("the pool of another schema could not lead: %v %v", ok, err)
	}
	a.Resign()
	if ok, _ := b.TryLead(ctx); !ok {
		t.Fatal("no takeover by the other URL after resign")
	}
}

// unknownArgs is a job kind the registry does not know.
type unknownArgs struct{}

func (unknownArgs) Kind() string { return "unknown" }

// countJobs counts the queued jobs of a kind.
func countJobs(t *testing.T, s *store.Store, kind string) int {
	t.Helper()
	var n int
	q := `SELECT count(*) FROM river_job WHERE kind = ?`
	if s.Postgres() {
		q = `SELECT count(*) FROM river_job WHERE kind = $1`
	}
	if err := s.DB().QueryRow(q, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A row sealed before the bootstrap operator password existed (its container's environment holds
// the daemon's operator password) reads with the bootstrap password equal to the operator's, so
// that a re-apply keeps the environment as it is and nothing tries to rotate it; a customer
// password change re-seals it with both.
func TestLegacyRowOperatorBootstrap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		as, err := s.CreateAccounts(ctx, "basic", "client", 1)
		if err != nil {
			t.Fatal(err)
		}
		a := as[0]
		box, err := secret.NewBox(storetest.Key)
		if err != nil {
			t.Fatal(err)
		}
		legacy := box.Seal([]byte(`{"op":"legacy-operator-password-0123456789","sk":"`+a.SecretKey+`","cp":"`+a.CustomerPassword+`"}`),
			[]byte(fmt.Sprintf("account:%d", a.ID)))
		if strings.ContainsAny(legacy, "'\\") {
			t.Fatalf("sealed text %q is not plain base64", legacy)
		}
		if _, err := s.DB().ExecContext(ctx, fmt.Sprintf("UPDATE accounts SET secrets = '%s' WHERE id = %d", legacy, a.ID)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.OperatorPassword != "legacy-operator-password-0123456789" || got.OperatorBootstrap != got.OperatorPassword {
			t.Fatalf("legacy row: bootstrap equals operator %t", got.OperatorBootstrap == got.OperatorPassword)
		}
		if err := s.SetCustomerPassword(ctx, a.ID, "a-new-customer-password-0123"); err != nil {
			t.Fatal(err)
		}
		if again, err := s.Get(ctx, a.ID); err != nil || again.OperatorBootstrap != got.OperatorPassword || again.OperatorPassword != got.OperatorPassword {
			t.Fatalf("after a re-seal: %v, operator passwords kept %t", err, again.OperatorBootstrap == got.OperatorPassword)
		}
	})
}

// A PostgreSQL store keeps at most Options.MaxConns connections (DefaultMaxConns when zero);
// SQLite keeps one whatever it is given.
func TestMaxConns(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		s, err := store.Open(ctx, store.Options{DataDir: t.TempDir(), Key: storetest.Key, MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if n := s.DB().Stats().MaxOpenConnections; n != 1 {
			t.Fatalf("SQLite keeps %d connections, want 1", n)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		u := storetest.SchemaURL(t, storetest.RequirePostgres(t))
		for _, c := range []struct{ give, want int }{{0, store.DefaultMaxConns}, {3, 3}} {
			s, err := store.Open(ctx, store.Options{DatabaseURL: u, Key: storetest.Key, MaxConns: c.give})
			if err != nil {
				t.Fatal(err)
			}
			got := s.DB().Stats().MaxOpenConnections
			s.Close()
			if got != c.want {
				t.Fatalf("MaxConns %d: %d connections at most, want %d", c.give, got, c.want)
			}
		}
	})
}
