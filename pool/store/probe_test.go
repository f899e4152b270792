package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// seedSold creates n ready basic accounts and claims them all (orders o1…on); the first one is
// then delivered.
func seedSold(t testing.TB, s *store.Store, n int) []pool.Account {
	t.Helper()
	ctx := context.Background()
	seedReady(t, s, "basic", n)
	out := make([]pool.Account, n)
	for i := range n {
		a, _, err := s.Claim(ctx, "basic", fmt.Sprintf("o%d", i+1))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = a
	}
	if err := s.SetState(ctx, out[0].ID, pool.StateDelivered); err != nil {
		t.Fatal(err)
	}
	return out
}

func kinds(t testing.TB, s *store.Store, id int64) []pool.EventKind {
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

// Only sold tenants with a URL are probed, least recently probed first.
func TestProbeTargetsAreSoldTenantsLeastRecentlyProbedFirst(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger)
		s := open(clock)
		sold := seedSold(t, s, 3)
		seedReady(t, s, "basic", 1)                                            // unsold: not probed
		if _, err := s.CreateAccounts(ctx, "basic", "client", 1); err != nil { // provisioning
			t.Fatal(err)
		}
		if _, err := s.Retire(ctx, sold[2].ID); err != nil { // retired: not probed
			t.Fatal(err)
		}
		ids := func(limit int) []int64 {
			as, err := s.ProbeTargets(ctx, limit)
			if err != nil {
				t.Fatal(err)
			}
			var out []int64
			for _, a := range as {
				if a.URL == "" || (a.State != pool.StateClaimed && a.State != pool.StateDelivered) {
					t.Fatalf("target %s is %s with url %q", a.Slug, a.State, a.URL)
				}
				out = append(out, a.ID)
			}
			return out
		}
		if got, want := ids(10), []int64{sold[0].ID, sold[1].ID}; !reflect.DeepEqual(got, want) {
			t.Fatalf("targets %v, want %v", got, want)
		}
		clock.Advance(time.Second)
		if _, _, err := s.RecordProbe(ctx, sold[0].ID, true, ""); err != nil {
			t.Fatal(err)
		}
		if got, want := ids(1), []int64{sold[1].ID}; !reflect.DeepEqual(got, want) {
			t.Fatalf("limit 1 after probing %d: %v, want %v (least recently probed first)", sold[0].ID, got, want)
		}
		if _, err := s.ProbeTargets(ctx, 0); err == nil {
			t.Fatal("limit 0 accepted")
		}
	})
}

// A streak counts up and records one probe_failed event; a success ends it (recovered) and
// clears the flag; flagging happens once.
func TestRecordProbeStreakFlagAndRecovery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger)
		s := open(clock)
		a := seedSold(t, s, 1)[0]

		if n, rec, err := s.RecordProbe(ctx, a.ID, true, ""); err != nil || n != 0 || rec {
			t.Fatalf("healthy first probe: %d %t %v", n, rec, err)
		}
		for i := 1; i <= 4; i++ {
			n, rec, err := s.RecordProbe(ctx, a.ID, false, fmt.Sprintf("refused %d", i))
			if err != nil || n != i || rec {
				t.Fatalf("failure %d: %d %t %v", i, n, rec, err)
			}
		}
		st, err := s.ProbeStatus(ctx, a.ID)
		if err != nil || st.Failures != 4 || st.LastError != "refused 4" || st.ProbedAt.IsZero() || !st.FlaggedAt.IsZero() {
			t.Fatalf("status %+v, %v", st, err)
		}
		if err := s.AddEvent(ctx, a.ID, pool.EventReapplied, "after 3"); err != nil {
			t.Fatal(err)
		}
		for i, want := range []bool{true, false} {
			got, err := s.Flag(ctx, a.ID, "still failing")
			if err != nil || got != want {
				t.Fatalf("flag %d: %t %v, want %t", i+1, got, err, want)
			}
		}
		if n, _ := s.FlaggedCount(ctx); n != 1 {
			t.Fatalf("flagged count %d, want 1", n)
		}
		clock.Advance(time.Minute)
		n, rec, err := s.RecordProbe(ctx, a.ID, true, "")
		if err != nil || n != 0 || !rec {
			t.Fatalf("recovery: %d %t %v", n, rec, err)
		}
		if n, _ := s.FlaggedCount(ctx); n != 0 {
			t.Fatalf("flagged count after recovery %d, want 0", n)
		}
		if st, _ := s.ProbeStatus(ctx, a.ID); st.Failures != 0 || st.LastError != "" || !st.FlaggedAt.IsZero() {
			t.Fatalf("status after recovery %+v", st)
		}
		if _, rec, _ := s.RecordProbe(ctx, a.ID, true, ""); rec {
			t.Fatal("a second success recovered again")
		}
		want := []pool.EventKind{pool.EventProbeFailed, pool.EventReapplied, pool.EventFlagged, pool.EventRecovered}
		if got := kinds(t, s, a.ID); !reflect.DeepEqual(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		evs, _ := s.AccountEvents(ctx, a.ID)
		if evs[0].Detail != "refused 1" || evs[2].Detail != "still failing" || !strings.Contains(evs[3].Detail, "4 failed probes; flag cleared") {
			t.Fatalf("event details %+v", evs)
		}
		if !evs[3].At.After(evs[0].At) || evs[0].AccountID != a.ID {
			t.Fatalf("event times/ids %+v", evs)
		}
	})
}

// The operator can clear a flag; unknown accounts are ErrNotFound everywhere; long reasons are
// clipped.
func TestUnflagNotFoundAndClipping(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		a := seedSold(t, s, 1)[0]
		if ok, err := s.Unflag(ctx, a.ID, "operator"); ok || err != nil {
			t.Fatalf("unflag of an unflagged account: %t %v", ok, err)
		}
		if _, _, err := s.RecordProbe(ctx, a.ID, false, strings.Repeat("x", 5000)); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.Flag(ctx, a.ID, "down"); !ok {
			t.Fatal("not flagged")
		}
		if ok, err := s.Unflag(ctx, a.ID, "fixed by hand"); !ok || err != nil {
			t.Fatalf("unflag: %t %v", ok, err)
		}
		if st, _ := s.ProbeStatus(ctx, a.ID); st.Failures != 0 || !st.FlaggedAt.IsZero() {
			t.Fatalf("after unflag %+v", st)
		}
		evs, _ := s.AccountEvents(ctx, a.ID)
		if len(evs) != 3 || len(evs[0].Detail) > 1100 || evs[2].Kind != pool.EventRecovered || evs[2].Detail != "fixed by hand" {
			t.Fatalf("events %+v", evs)
		}
		const ghost = 999999
		for name, err := range map[string]error{
			"record": func() error { _, _, err := s.RecordProbe(ctx, ghost, false, "x"); return err }(),
			"ok":     func() error { _, _, err := s.RecordProbe(ctx, ghost, true, ""); return err }(),
			"flag":   func() error { _, err := s.Flag(ctx, ghost, "x"); return err }(),
			"unflag": func() error { _, err := s.Unflag(ctx, ghost, "x"); return err }(),
			"event":  s.AddEvent(ctx, ghost, pool.EventReapplied, "x"),
			"status": func() error { _, err := s.ProbeStatus(ctx, ghost); return err }(),
		} {
			if !errors.Is(err, pool.ErrNotFound) {
				t.Errorf("%s on an unknown account: %v, want ErrNotFound", name, err)
			}
		}
	})
}
