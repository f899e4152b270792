package control_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// healthServer is a tenant's /health_check that a test turns unhealthy and healthy.
type healthServer struct {
	*httptest.Server
	down atomic.Bool
}

func newHealthServer(t *testing.T) *healthServer {
	h := &healthServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health_check" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if h.down.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"detail":{"status":"nok","chat":"ok","db":"error"}}`)
			return
		}
		fmt.Fprint(w, `{"status":"ok","chat":"ok","db":"ok"}`)
	}))
	t.Cleanup(h.Close)
	return h
}

// langflowCheck is the check poold wires: one Health call, no retries (the next pass retries).
func langflowCheck(ctx context.Context, url string) error {
	c, err := langflow.New(url, langflow.Options{RetryMax: -1})
	if err != nil {
		return err
	}
	return c.Health(ctx)
}

// sell creates one sold (claimed) basic account per URL.
func sell(t *testing.T, s *store.Store, urls ...string) []pool.Account {
	t.Helper()
	ctx := context.Background()
	as, err := s.CreateAccounts(ctx, "basic", "client", len(urls))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]pool.Account, len(as))
	for i, a := range as {
		if err := s.MarkReady(ctx, a.ID, pool.Provisioned{Host: "h1", URL: urls[i]}); err != nil {
			t.Fatal(err)
		}
		if out[i], _, err = s.Claim(ctx, "basic", fmt.Sprintf("order-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

type alerts struct {
	mu      sync.Mutex
	reasons map[string][]string
}

func (al *alerts) alert(_ context.Context, a pool.Account, f pool.FlagNotice) error {
	al.mu.Lock()
	defer al.mu.Unlock()
	if al.reasons == nil {
		al.reasons = map[string][]string{}
	}
	al.reasons[a.Slug] = append(al.reasons[a.Slug], fmt.Sprintf("%d: %s", f.Failures, f.Reason))
	return nil
}

func (al *alerts) of(slug string) []string {
	al.mu.Lock()
	defer al.mu.Unlock()
	return al.reasons[slug]
}

func newProber(t *testing.T, mutate func(*control.ProberConfig)) *control.Prober {
	t.Helper()
	cfg := control.ProberConfig{Check: langflowCheck, Threshold: 2, Log: slog.New(slog.DiscardHandler),
		Clock: quartz.NewMock(t).WithLogger(quartz.NoOpLogger)}
	mutate(&cfg)
	p, err := control.NewProber(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func events(t *testing.T, s *store.Store, id int64) []pool.EventKind {
	t.Helper()
	evs, err := s.AccountEvents(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := []pool.EventKind{}
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

// A tenant that goes down is re-applied when the streak reaches the threshold, flagged (once,
// with one alert) when it is still down at twice the threshold, and unflagged when it answers
// again; a healthy neighbour is probed every time and never touched. Healthy passes change
// nothing however often they run.
func TestProberReappliesThenFlagsThenRecovers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		sick, fine := newHealthServer(t), newHealthServer(t)
		as := sell(t, s, sick.URL, fine.URL)
		prov := &pooltest.Provisioner{}
		al := &alerts{}
		var observed sync.Map
		p := newProber(t, func(c *control.ProberConfig) {
			c.Store, c.Tenants, c.Alert = s, prov, al.alert
			c.Observe = func(a pool.Account, k pool.EventKind) {
				n, _ := observed.LoadOrStore(string(k), new(atomic.Int32))
				n.(*atomic.Int32).Add(1)
			}
		})
		pass := func(want control.ProbeReport) {
			t.Helper()
			got, err := p.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("report %+v, want %+v", got, want)
			}
		}
		for range 3 {
			pass(control.ProbeReport{Targets: 2, Probed: 2})
		}
		sick.down.Store(true)
		pass(control.ProbeReport{Targets: 2, Probed: 2, Failed: 1})               // streak 1
		pass(control.ProbeReport{Targets: 2, Probed: 2, Failed: 1, Reapplied: 1}) // streak 2 = threshold
		if prov.Reapplied(as[0].Slug) != 1 {
			t.Fatalf("re-applied %d times, want 1", prov.Reapplied(as[0].Slug))
		}
		pass(control.ProbeReport{Targets: 2, Probed: 2, Failed: 1})             // 3: the re-apply did not help yet
		pass(control.ProbeReport{Targets: 2, Probed: 2, Failed: 1, Flagged: 1}) // 4 = 2×threshold
		pass(control.ProbeReport{Targets: 2, Probed: 2, Failed: 1})             // 5: flagged already
		if n, _ := s.FlaggedCount(ctx); n != 1 {
			t.Fatalf("flagged %d, want 1", n)
		}
		if got := al.of(as[0].Slug); len(got) != 1 || !strings.HasPrefix(got[0], "4: 4 consecutive failed health probes") ||
			!strings.Contains(got[0], "langflow health check: HTTP 500 Internal Server Error") || strings.Contains(got[0], "nok") {
			t.Fatalf("alerts %q, want one naming the streak and the last error's status, not the tenant's body", got)
		}
		if prov.Reapplied(as[0].Slug) != 1 {
			t.Fatalf("re-applied %d times, want once per streak", prov.Reapplied(as[0].Slug))
		}

		sick.down.Store(false)
		pass(control.ProbeReport{Targets: 2, Probed: 2, Recovered: 1})
		pass(control.ProbeReport{Targets: 2, Probed: 2})
		if n, _ := s.FlaggedCount(ctx); n != 0 {
			t.Fatalf("flagged %d after recovery, want 0", n)
		}
		want := []pool.EventKind{pool.EventProbeFailed, pool.EventReapplied, pool.EventFlagged, pool.EventRecovered}
		if got := events(t, s, as[0].ID); !reflect.DeepEqual(got, want) {
			t.Fatalf("history %v, want %v", got, want)
		}
		if got := events(t, s, as[1].ID); len(got) != 0 || prov.Reapplied(as[1].Slug) != 0 {
			t.Fatalf("healthy neighbour: history %v, re-applied %d", got, prov.Reapplied(as[1].Slug))
		}
		for _, k := range want {
			if n, ok := observed.Load(string(k)); !ok || n.(*atomic.Int32).Load() != 1 {
				t.Errorf("observed %s %v times, want 1", k, n)
			}
		}
	})
}

// A re-apply that fails flags the tenant at once (more probes would not change anything), and a
// tenant sold no longer (suspended meanwhile) is not re-applied.
func TestProberReapplyFailureFlagsAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		h := newHealthServer(t)
		h.down.Store(true)
		as := sell(t, s, h.URL, h.URL)
		prov := &pooltest.Provisioner{ReapplyFail: func(pool.Account, int) error {
			return errors.New("engine: host unreachable")
		}}
		al := &alerts{}
		p := newProber(t, func(c *control.ProberConfig) { c.Store, c.Tenants, c.Alert = s, prov, al.alert })
		if _, err := p.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.SetState(ctx, as[1].ID, pool.StateSuspended); err != nil {
			t.Fatal(err)
		}
		// The suspended one is no target any more: only the first reaches the threshold.
		rep, err := p.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep != (control.ProbeReport{Targets: 1, Probed: 1, Failed: 1, ReapplyFailed: 1, Flagged: 1}) {
			t.Fatalf("report %+v", rep)
		}
		want := []pool.EventKind{pool.EventProbeFailed, pool.EventReapplyFailed, pool.EventFlagged}
		if got := events(t, s, as[0].ID); !reflect.DeepEqual(got, want) {
			t.Fatalf("history %v, want %v", got, want)
		}
		if got := al.of(as[0].Slug); len(got) != 1 || !strings.HasPrefix(got[0], "2: ") || !strings.Contains(got[0], "re-apply failed: unclassified failure") || strings.Contains(got[0], "host unreachable") {
			t.Fatalf("alerts %q", got)
		}
		for range 3 { // still down: no second flag, alert or re-apply
			if _, err := p.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if len(al.of(as[0].Slug)) != 1 || prov.Reapplied(as[0].Slug) != 1 {
			t.Fatalf("alerts %d, re-applies %d; want 1 and 1", len(al.of(as[0].Slug)), prov.Reapplied(as[0].Slug))
		}

		// Listed before it was suspended (a stale snapshot): the prober re-reads the account
		// before re-applying and leaves it alone.
		stale := staleStore{Store: s, list: []pool.Account{as[1]}}
		p2 := newProber(t, func(c *control.ProberConfig) { c.Store, c.Tenants = stale, prov })
		if rep, err := p2.RunOnce(ctx); err != nil || rep.Reapplied+rep.ReapplyFailed != 0 || prov.Reapplied(as[1].Slug) != 0 {
			t.Fatalf("suspended account listed stale: %+v, %v, re-applied %d", rep, err, prov.Reapplied(as[1].Slug))
		}
	})
}

// staleStore lists accounts as they were (a snapshot taken before they changed).
type staleStore struct {
	*store.Store
	list []pool.Account
}

func (s staleStore) ProbeTargets(context.Context, int) ([]pool.Account, error) { return s.list, nil }

// A tenant whose probe (or re-apply) is still running is skipped by the next pass, never probed
// twice at once; the others are probed. Concurrency bounds the probes running at once.
func TestProberNeverProbesATenantTwiceAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		slow, fast := newHealthServer(t), newHealthServer(t)
		sell(t, s, slow.URL, fast.URL)
		release, started := make(chan struct{}), make(chan struct{}, 1)
		var running, most atomic.Int32
		var slowCalls atomic.Int32
		p := newProber(t, func(c *control.ProberConfig) {
			c.Store, c.Tenants, c.Concurrency = s, &pooltest.Provisioner{}, 2
			c.Check = func(ctx context.Context, url string) error {
				n := running.Add(1)
				defer running.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				if url == slow.URL {
					slowCalls.Add(1)
					started <- struct{}{}
					<-release
				}
				return langflowCheck(ctx, url)
			}
		})
		first := make(chan control.ProbeReport, 1)
		go func() {
			rep, err := p.RunOnce(ctx)
			if err != nil {
				t.Error(err)
			}
			first <- rep
		}()
		<-started
		for range 3 {
			rep, err := p.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep != (control.ProbeReport{Targets: 2, Skipped: 1, Probed: 1}) {
				t.Fatalf("pass during the slow probe: %+v, want the slow tenant skipped", rep)
			}
		}
		close(release)
		if rep := <-first; rep != (control.ProbeReport{Targets: 2, Probed: 2}) {
			t.Fatalf("first pass %+v", rep)
		}
		if slowCalls.Load() != 1 || most.Load() > 2 {
			t.Fatalf("slow tenant probed %d times, %d probes at once; want 1 and at most 2", slowCalls.Load(), most.Load())
		}
		// Free again: the next pass probes it.
		rep, err := p.RunOnce(ctx)
		if err != nil || rep != (control.ProbeReport{Targets: 2, Probed: 2}) || slowCalls.Load() != 2 {
			t.Fatalf("after release: %+v, %v, slow probed %d", rep, err, slowCalls.Load())
		}
	})
}

// Run probes on triggers only while this process leads, and returns once ctx ends.
func TestProberRunFollowsLeadership(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	h := newHealthServer(t)
	sell(t, s, h.URL)
	var leading atomic.Bool
	asked, probed := make(chan struct{}), make(chan struct{}, 8)
	p := newProber(t, func(c *control.ProberConfig) {
		c.Store, c.Tenants, c.Schedule = s, &pooltest.Provisioner{}, "@every 1h"
		c.Leader = func(context.Context) (bool, error) { asked <- struct{}{}; return leading.Load(), nil }
		c.Check = func(ctx context.Context, url string) error { probed <- struct{}{}; return langflowCheck(ctx, url) }
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	p.Trigger()
	<-asked
	leading.Store(true)
	p.Trigger()
	<-asked
	<-probed
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(probed) != 0 {
		t.Fatalf("%d extra probes: a follower probed", len(probed))
	}
	if _, err := control.NewProber(control.ProberConfig{Store: s, Tenants: &pooltest.Provisioner{}, Check: langflowCheck, Schedule: "every minute"}); err == nil {
		t.Fatal("invalid schedule accepted")
	}
	if _, err := control.NewProber(control.ProberConfig{Check: langflowCheck}); err == nil {
		t.Fatal("prober without store and reapply accepted")
	}
}

// A re-apply refused because the account stopped being sold while it waited for the tenant's
// lock (the tenants' ErrNotSold) is no failure: no flag, no alert, no re-apply event.
func TestProberReapplyOfAnAccountNoLongerSoldIsNoFailure(t *testing.T) {
	ctx := context.Background()
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	h := newHealthServer(t)
	h.down.Store(true)
	as := sell(t, s, h.URL)
	prov := &pooltest.Provisioner{ReapplyFail: func(a pool.Account, _ int) error {
		return pool.Permanent(fmt.Errorf("reapply %s: %w: its stack's last update suspended it", a.Slug, pool.ErrNotSold))
	}}
	al := &alerts{}
	p := newProber(t, func(c *control.ProberConfig) { c.Store, c.Tenants, c.Alert = s, prov, al.alert })
	for range 2 { // threshold 2: the second pass re-applies
		if _, err := p.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if prov.Reapplied(as[0].Slug) != 1 {
		t.Fatalf("re-applied %d times, want 1", prov.Reapplied(as[0].Slug))
	}
	if got := al.of(as[0].Slug); len(got) != 0 {
		t.Fatalf("alerts %q, want none", got)
	}
	if got := events(t, s, as[0].ID); !reflect.DeepEqual(got, []pool.EventKind{pool.EventProbeFailed}) {
		t.Fatalf("history %v, want only the failed probe", got)
	}
}
