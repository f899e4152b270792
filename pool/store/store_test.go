package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
)

// testKey is a fixed sealing key for tests.
var testKey = bytes.Repeat([]byte{42}, 32)

type backend struct {
	name string
	open func(t testing.TB, clock quartz.Clock) *Store
}

// backends returns SQLite (always) and PostgreSQL (when POOL_TEST_DATABASE_URL is set; CI sets
// it and POOL_TEST_REQUIRE_ALL, which turns a missing URL into a failure, not a skip).
func backends(t testing.TB) []backend {
	bs := []backend{{"sqlite", func(t testing.TB, clock quartz.Clock) *Store {
		return openSQLite(t, t.TempDir(), clock)
	}}}
	pgURL := os.Getenv("POOL_TEST_DATABASE_URL")
	if pgURL == "" {
		if os.Getenv("POOL_TEST_REQUIRE_ALL") != "" {
			t.Fatal("POOL_TEST_REQUIRE_ALL is set but POOL_TEST_DATABASE_URL is not: the PostgreSQL tests must run")
		}
		t.Log("POOL_TEST_DATABASE_URL not set: PostgreSQL store tests skipped")
		return bs
	}
	return append(bs, backend{"postgres", func(t testing.TB, clock quartz.Clock) *Store {
		return openPG(t, PGSchemaURL(t, pgURL), clock)
	}})
}

func openSQLite(t testing.TB, dir string, clock quartz.Clock) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{DataDir: dir, Key: testKey, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPG(t testing.TB, u string, clock quartz.Clock) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{DatabaseURL: u, Key: testKey, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// PGSchemaURL creates a fresh schema for one test and returns a URL whose search_path points at
// it; the schema is dropped when the test ends.
func PGSchemaURL(t testing.TB, base string) string {
	t.Helper()
	schema := "t_" + strings.ToLower(rand.Text()[:12])
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema (is PostgreSQL running at %s?): %v", base, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func each(t *testing.T, fn func(t *testing.T, open func(quartz.Clock) *Store)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			fn(t, func(c quartz.Clock) *Store { return b.open(t, c) })
		})
	}
}

// seedReady creates n accounts of a tier and marks them ready.
func seedReady(t testing.TB, s *Store, tier string, n int) []pool.Account {
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
	each(t, func(t *testing.T, open func(quartz.Clock) *Store) {
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
			if len(a.OperatorPassword) < 24 || len(a.CustomerPassword) < 24 || a.SecretKey == "" {
				t.Fatalf("weak or missing generated secrets on %s", a.Slug)
			}
			got, err := s.Get(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.OperatorPassword != a.OperatorPassword || got.CustomerPassword != a.CustomerPassword || got.SecretKey != a.SecretKey {
				t.Fatalf("secrets of %s did not round-trip", a.Slug)
			}
			var raw string
			if err := s.db.QueryRow(s.rebind("SELECT secrets FROM accounts WHERE id = ?"), a.ID).Scan(&raw); err != nil {
				t.Fatal(err)
			}
			for _, sec := range []string{a.OperatorPassword, a.CustomerPassword, a.SecretKey} {
				if strings.Contains(raw, sec) {
					t.Fatalf("secret stored in clear for %s", a.Slug)
				}
			}
		}
		var jobs int
		if err := s.db.QueryRow("SELECT COUNT(*) FROM river_job WHERE kind = 'provision'").Scan(&jobs); err != nil {
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
		all, _ := s.List(ctx, Filter{})
		if len(all) != 4 {
			t.Fatalf("bad input wrote rows: %d accounts, want 4", len(all))
		}
	})
}

func TestConcurrentBatchesNeverShareASlug(t *testing.T) {
	each(t, func(t *testing.T, open func(quartz.Clock) *Store) {
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
		all, err := s.List(ctx, Filter{})
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
	base := os.Getenv("POOL_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("POOL_TEST_REQUIRE_ALL") != "" {
			t.Fatal("POOL_TEST_DATABASE_URL is required")
		}
		t.Skip("POOL_TEST_DATABASE_URL not set")
	}
	u := PGSchemaURL(t, base)
	a, b := openPG(t, u, nil), openPG(t, u, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b, a, b} {
		wg.Go(func() {
			if _, err := s.CreateAccounts(ctx, "basic", "client", 25); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	all, _ := a.List(ctx, Filter{})
	seen := map[string]bool{}
	for _, x := range all {
		seen[x.Slug] = true
	}
	if len(all) != 100 || len(seen) != 100 {
		t.Fatalf("%d accounts, %d distinct slugs; want 100 and 100", len(all), len(seen))
	}
}

func TestConcurrentClaimsTakeEachAccountOnce(t *testing.T) {
	each(t, func(t *testing.T, open func(quartz.Clock) *Store) {
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
				a, created, err := s.Claim(ctx, "basic", order, nil)
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
		prem, _ := s.List(ctx, Filter{Tier: "premium", State: pool.StateReady})
		if len(prem) != 5 {
			t.Fatalf("premium ready = %d, want 5", len(prem))
		}
	})
}

func TestSameOrderClaimedConcurrentlyGetsOneAccount(t *testing.T) {
	each(t, func(t *testing.T, open func(quartz.Clock) *Store) {
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
				a, c, err := s.Claim(ctx, "basic", "cs_test_same", nil)
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
		ready, _ := s.List(ctx, Filter{State: pool.StateReady})
		if len(ready) != 4 {
			t.Fatalf("ready after one order = %d, want 4", len(ready))
		}
	})
}

func TestClaimEmptyPoolAndHookRollback(t *testing.T) {
	each(t, func(t *testing.T, open func(quartz.Clock) *Store) {
		ctx := context.Background()
		s := open(nil)
		if _, _, err := s.Claim(ctx, "basic", "o1", nil); !errors.Is(err, pool.ErrPoolEmpty) {
			t.Fatalf("empty pool: err = %v, want ErrPoolEmpty", err)
		}
		seedReady(t, s, "basic", 1)
		boom := errors.New("enqueue failed")
		if _, _, err := s.Claim(ctx, "basic", "o1", func(context.Context, *sql.Tx, pool.Account) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("hook error not returned: %v", err)
		}
		if ready, _ := s.List(ctx, Filter{State: pool.StateReady}); len(ready) != 1 || ready[0].OrderID != "" {
			t.Fatalf("a failed hook left the claim in place: %+v", ready)
		}
		var hooked pool.Account
		a, _, err := s.Claim(ctx, "basic", "o1", func(_ context.Context, tx *sql.Tx, a pool.Account) error {
			hooked = a
			return s.InsertJobTx(ctx, tx, pool.DestroyArgs{AccountID: -1}, nil) // any job: it commits with the claim
		})
		if err != nil || hooked.ID != a.ID {
			t.Fatalf("claim with hook = %v, %v", a, err)
		}
		if _, _, err := s.Claim(ctx, "basic", "", nil); err == nil {
			t.Fatal("empty order id accepted")
		}
	})
}

func TestReserveTakesAccountsOutOfThePool(t *testing.T) {
	each(t, func(t *testing.T, open func(quartz.Clock) *Store) {
		ctx := context.Background()
		s := open(nil)
		seedReady(t, s, "basic", 3)
		failWrite := errors.New("disk full")
		if _, err := s.Reserve(ctx, "basic", 2, func([]pool.Account) error { return failWrite }); !errors.Is(err, failWrite) {
			t.Fatalf("err = %v", err)
		}
		if ready, _ := s.List(ctx, Filter{State: pool.StateReady}); len(ready) != 3 {
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
		a, _, err := s.Claim(ctx, "basic", "o1", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			if r.ID == a.ID {
				t.Fatal("a reserved account was sold")
			}
		}
		if _, _, err := s.Claim(ctx, "basic", "o2", nil); !errors.Is(err, pool.ErrPoolEmpty) {
			t.Fatalf("reserved accounts still claimable: %v", err)
		}
	})
}

func TestLifecycleTransitionsAreChecked(t *testing.T) {
	each(t, func(t *testing.T, open func(quartz.Clock) *Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t)
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
		if _, _, err := s.Claim(ctx, "basic", "o1", nil); err != nil {
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
		s.db.QueryRow("SELECT COUNT(*) FROM river_job WHERE kind = 'destroy'").Scan(&destroys)
		if destroys != 2 {
			t.Fatalf("teardown jobs = %d, want 2 (failed + retired)", destroys)
		}
	})
}

func TestSnapshot(t *testing.T) {
	each(t, func(t *testing.T, open func(quartz.Clock) *Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t)
		s := open(clock)
		old, _ := s.CreateAccounts(ctx, "basic", "client", 2)
		clock.Advance(time.Hour)
		seedReady(t, s, "basic", 3)
		s.CreateAccounts(ctx, "premium", "client", 1)
		if err := s.MarkFailed(ctx, old[1].ID, "boom"); err != nil {
			t.Fatal(err)
		}
		s.Claim(ctx, "basic", "o1", nil)
		if err := s.SetPaused(ctx, "premium", true); err != nil {
			t.Fatal(err)
		}
		snap, err := s.Snapshot(ctx, clock.Now().Add(-30*time.Minute), 100)
		if err != nil {
			t.Fatal(err)
		}
		b, p := snap["basic"], snap["premium"]
		if b.Ready != 2 || b.Provisioning != 1 || len(b.Stuck) != 1 || b.Stuck[0] != old[0].ID {
			t.Fatalf("basic = %+v, want ready 2, provisioning 1, stuck [%d]", b, old[0].ID)
		}
		if b.ConsecutiveFailures != 1 || !b.LastFailureAt.Equal(clock.Now().Truncate(time.Millisecond)) {
			t.Fatalf("basic failures = %d at %v", b.ConsecutiveFailures, b.LastFailureAt)
		}
		if !p.Paused || p.Provisioning != 1 || len(p.Stuck) != 0 {
			t.Fatalf("premium = %+v", p)
		}
		n, err := s.FailStuck(ctx, b.Stuck, "stuck")
		if err != nil || n != 1 {
			t.Fatalf("FailStuck = %d, %v", n, err)
		}
		if n, _ := s.FailStuck(ctx, b.Stuck, "stuck"); n != 0 {
			t.Fatal("FailStuck failed an account twice")
		}
		if err := s.SetPaused(ctx, "basic", false); err != nil {
			t.Fatal(err)
		}
		snap, _ = s.Snapshot(ctx, clock.Now().Add(-30*time.Minute), 100)
		if snap["basic"].ConsecutiveFailures != 0 || snap["basic"].Provisioning != 0 {
			t.Fatalf("after resume: %+v", snap["basic"])
		}
	})
}

func TestSecretsNeedTheKey(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir, nil)
	ctx := context.Background()
	if _, err := s.CreateAccounts(ctx, "basic", "client", 1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	other, err := Open(ctx, Options{DataDir: dir, Key: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.List(ctx, Filter{}); err == nil || !strings.Contains(err.Error(), "wrong key") {
		t.Fatalf("list with the wrong key: err = %v", err)
	}
}

func TestOpenRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, Options{DatabaseURL: "mysql://x", Key: testKey}); err == nil {
		t.Fatal("mysql URL accepted")
	}
	if _, err := Open(ctx, Options{Key: testKey}); err == nil {
		t.Fatal("no data dir nor URL accepted")
	}
	if _, err := Open(ctx, Options{DataDir: t.TempDir(), Key: []byte("short")}); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestSQLiteLeaderLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	a := openSQLite(t, dir, nil)
	b := openSQLite(t, dir, nil)
	ctx := context.Background()
	if ok, err := a.TryLead(ctx, dir); !ok || err != nil {
		t.Fatalf("first leader: %v %v", ok, err)
	}
	if ok, err := b.TryLead(ctx, dir); ok || err != nil {
		t.Fatalf("second process led too: %v %v", ok, err)
	}
	a.Resign()
	if ok, _ := b.TryLead(ctx, dir); !ok {
		t.Fatal("leadership not handed over after resign")
	}
}

func TestPostgresLeaderLockIsExclusive(t *testing.T) {
	base := os.Getenv("POOL_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("POOL_TEST_REQUIRE_ALL") != "" {
			t.Fatal("POOL_TEST_DATABASE_URL is required")
		}
		t.Skip("POOL_TEST_DATABASE_URL not set")
	}
	u := PGSchemaURL(t, base)
	a, b := openPG(t, u, nil), openPG(t, u, nil)
	ctx := context.Background()
	if ok, err := a.TryLead(ctx, ""); !ok || err != nil {
		t.Fatalf("first leader: %v %v", ok, err)
	}
	if ok, _ := a.TryLead(ctx, ""); !ok {
		t.Fatal("leader lost its own lock")
	}
	if ok, err := b.TryLead(ctx, ""); ok || err != nil {
		t.Fatalf("second replica led too: %v %v", ok, err)
	}
	a.Close() // the leader dies
	if ok, _ := b.TryLead(ctx, ""); !ok {
		t.Fatal("no takeover after the leader closed")
	}
}
