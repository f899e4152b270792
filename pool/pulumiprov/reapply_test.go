package pulumiprov_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
)

// Reapply on a provisioned tenant refreshes and updates its stack: the program runs again with
// the same spec (same host, not suspended), the gate waits for health, the customer login is
// left alone and no secret reaches the log.
func TestReapplyRerunsTheStackWithTheSameSpec(t *testing.T) {
	ts := newTenants(t)
	p, logs := newProvisioner(t, ts, options{})
	a := account(1, "client01")
	srv := ts.server(a)
	got := mustProvision(t, p, a)
	a.State, a.Host, a.URL, a.CustomerUserID = pool.StateDelivered, got.Host, got.URL, got.CustomerUserID
	ts.mu.Lock()
	before := ts.specs[a.Slug]
	ts.mu.Unlock()
	health, creates := srv.Requests(langflowtest.RouteHealthCheck), srv.Requests(langflowtest.RouteCreateUser)

	if err := p.Reapply(t.Context(), a); err != nil {
		t.Fatalf("Reapply: %v", err)
	}
	ts.mu.Lock()
	after, runs := ts.specs[a.Slug], ts.runs[a.Slug]
	ts.mu.Unlock()
	if runs != 2 {
		t.Fatalf("program ran %d times, want 2 (provision + re-apply)", runs)
	}
	// The same spec but for a new restart token: the container is re-created (restarted), even
	// one that still runs but hangs.
	if after.Restart == "" || after.Restart == before.Restart {
		t.Fatalf("re-apply restart token %q (before %q): the container would not be re-created", after.Restart, before.Restart)
	}
	token := after.Restart
	after.Restart = before.Restart
	if !reflect.DeepEqual(after, before) {
		t.Fatalf("re-applied spec differs:\n got %+v\nwant %+v", after, before)
	}
	if srv.Requests(langflowtest.RouteHealthCheck) == health {
		t.Error("Reapply did not wait for the tenant to be healthy")
	}
	if srv.Requests(langflowtest.RouteCreateUser) != creates {
		t.Error("Reapply touched the customer login")
	}
	if !strings.Contains(logs.String(), "stack re-applied") {
		t.Error("no log line for the re-apply")
	}
	noSecrets(t, logs.String(), a)
	// A later update (a retried job) keeps the token: it does not restart the container again.
	mustProvision(t, p, a)
	ts.mu.Lock()
	again := ts.specs[a.Slug]
	ts.mu.Unlock()
	if again.Restart != token {
		t.Fatalf("a later update changed the restart token %q → %q", token, again.Restart)
	}
}

// A tenant without a stack is a clear not-found error: Reapply creates nothing and leaves no
// work directory behind.
func TestReapplyWithoutStackIsNotFound(t *testing.T) {
	ts := newTenants(t)
	dir := t.TempDir()
	p, _ := newProvisioner(t, ts, options{dataDir: dir})
	a := account(1, "ghost01")
	a.State = pool.StateDelivered
	ts.server(a)
	err := p.Reapply(t.Context(), a)
	if !errors.Is(err, pool.ErrNotFound) || !strings.Contains(err.Error(), "tenant-ghost01 does not exist") {
		t.Fatalf("got %v, want ErrNotFound naming the stack", err)
	}
	if ts.runs[a.Slug] != 0 {
		t.Error("the program ran for a tenant without a stack")
	}
	if _, err := os.Stat(filepath.Join(dir, "pulumi", "stacks", a.Slug)); !os.IsNotExist(err) {
		t.Errorf("work directory left behind: %v", err)
	}
}

// A suspended account is refused before the engine runs: re-applying it would start it.
func TestReapplyRefusesSuspended(t *testing.T) {
	ts := newTenants(t)
	p, _ := newProvisioner(t, ts, options{})
	a := account(1, "client01")
	a.State = pool.StateSuspended
	if err := p.Reapply(t.Context(), a); !pool.IsPermanent(err) || !strings.Contains(err.Error(), "suspended") {
		t.Fatalf("got %v, want a permanent error saying the account is suspended", err)
	}
}

// A tenant that stays unhealthy after the re-apply fails it with the gate's reason.
func TestReapplyStillUnhealthyFails(t *testing.T) {
	ts := newTenants(t)
	p, _ := newProvisioner(t, ts, options{health: 200 * time.Millisecond})
	a := account(1, "client01")
	ts.server(a)
	got := mustProvision(t, p, a)
	a.State, a.URL = pool.StateDelivered, got.URL
	ts.mu.Lock()
	ts.servers[a.Slug] = langflowtest.NewServer(t, langflowtest.Options{Superuser: a.OperatorUser, SuperuserPassword: a.OperatorBootstrap, NeverHealthy: true})
	ts.mu.Unlock()
	err := p.Reapply(t.Context(), a)
	if !errors.Is(err, langflow.ErrNotReady) || !strings.Contains(err.Error(), "reapply client01") {
		t.Fatalf("got %v, want the gate's not-ready error", err)
	}
}

// accountRows is the account rows as Config.Account reads them; tests change them as the store would.
type accountRows struct {
	mu   sync.Mutex
	rows map[int64]pool.Account
}

func (s *accountRows) set(a pool.Account) { s.mu.Lock(); s.rows[a.ID] = a; s.mu.Unlock() }

func (s *accountRows) get(_ context.Context, id int64) (pool.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.rows[id]
	if !ok {
		return pool.Account{}, pool.ErrNotFound
	}
	return a, nil
}

// waitForLock polls until n callers wait for slug's lock.
func waitForLock(t *testing.T, p *pulumiprov.Provisioner, slug string, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); pulumiprov.Waiting(p, slug) < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no re-apply waiting for %s's lock", slug)
		}
	}
}

// A suspension lands while a re-apply (decided on a delivered account) waits for the tenant's
// lock: once the suspension's update is done, and before the store records it (the order of
// the subscription sync: suspend the stack, then the row), the re-apply gets the lock and must
// refuse — re-applying would start the tenant again.
func TestReapplyRefusesSuspensionThatLandedWhileWaiting(t *testing.T) {
	ts := newTenants(t)
	rows := &accountRows{rows: map[int64]pool.Account{}}
	p, _ := newProvisioner(t, ts, options{accounts: rows.get})
	a := account(1, "client01")
	srv := ts.server(a)
	got := mustProvision(t, p, a)
	a.State, a.Host, a.URL = pool.StateDelivered, got.Host, got.URL
	rows.set(a)

	release := make(chan struct{})
	ts.mu.Lock()
	ts.block[a.Slug] = release
	ts.mu.Unlock()
	suspended := make(chan error, 1)
	go func() { suspended <- p.Suspend(t.Context(), a) }()
	<-ts.started // the suspension's update runs, holding the lock

	reapplied := make(chan error, 1)
	go func() { reapplied <- p.Reapply(t.Context(), a) }() // the prober saw "delivered"
	waitForLock(t, p, a.Slug, 1)
	ts.mu.Lock()
	delete(ts.block, a.Slug)
	ts.mu.Unlock()
	close(release)
	if err := <-suspended; err != nil {
		t.Fatalf("Suspend: %v", err)
	}
	health := srv.Requests(langflowtest.RouteHealthCheck)
	err := <-reapplied
	if !pool.IsPermanent(err) || !errors.Is(err, pulumiprov.ErrNotSold) {
		t.Fatalf("re-apply after the suspension: %v, want a permanent ErrNotSold", err)
	}
	ts.mu.Lock()
	spec, runs := ts.specs[a.Slug], ts.runs[a.Slug]
	ts.mu.Unlock()
	if runs != 2 || !spec.Suspended {
		t.Fatalf("program runs %d, last spec suspended=%t: the re-apply started the suspended tenant", runs, spec.Suspended)
	}
	if srv.Requests(langflowtest.RouteHealthCheck) != health {
		t.Error("the refused re-apply waited for the tenant's health")
	}
}

// The store's word counts too: an account retired while the re-apply waited (behind another
// update of the tenant, not a suspension) is refused once the re-apply holds the lock.
func TestReapplyRefusesAccountRetiredWhileWaiting(t *testing.T) {
	ts := newTenants(t)
	rows := &accountRows{rows: map[int64]pool.Account{}}
	p, _ := newProvisioner(t, ts, options{accounts: rows.get})
	a := account(1, "client01")
	ts.server(a)
	got := mustProvision(t, p, a)
	a.State, a.Host, a.URL = pool.StateDelivered, got.Host, got.URL
	rows.set(a)

	release := make(chan struct{})
	ts.mu.Lock()
	ts.block[a.Slug] = release
	ts.mu.Unlock()
	busy := make(chan error, 1)
	go func() { _, err := p.Up(t.Context(), a, nil); busy <- err }() // an operator's `poold tenant up`
	<-ts.started
	reapplied := make(chan error, 1)
	go func() { reapplied <- p.Reapply(t.Context(), a) }()
	waitForLock(t, p, a.Slug, 1)
	retired := a
	retired.State = pool.StateRetired
	rows.set(retired)
	ts.mu.Lock()
	delete(ts.block, a.Slug)
	ts.mu.Unlock()
	close(release)
	if err := <-busy; err != nil {
		t.Fatal(err)
	}
	err := <-reapplied
	if !pool.IsPermanent(err) || !errors.Is(err, pulumiprov.ErrNotSold) || !strings.Contains(err.Error(), "retired") {
		t.Fatalf("re-apply of a retired account: %v, want a permanent ErrNotSold naming the state", err)
	}
	if ts.runs[a.Slug] != 2 {
		t.Errorf("program ran %d times, want 2 (provision, by-hand up): the re-apply ran it", ts.runs[a.Slug])
	}
}
