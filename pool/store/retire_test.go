package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/coder/quartz"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// jobsOf returns the queued jobs of a kind.
func jobsOf(t *testing.T, s *store.Store, kind string) []*rivertype.JobRow {
	t.Helper()
	rows, err := s.Driver().GetExecutor().JobGetByKindMany(context.Background(), &riverdriver.JobGetByKindManyParams{Kind: []string{kind}})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestRequestRetire(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger)
		s := open(clock)
		const grace = 48 * time.Hour
		as := seedReady(t, s, "basic", 6)
		sold := map[pool.State]pool.Account{}
		for i, st := range []pool.State{pool.StateClaimed, pool.StateDelivered, pool.StateSuspended} {
			a, _, err := s.Claim(ctx, "basic", "order-"+string(st))
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 {
				if err := s.SetState(ctx, a.ID, pool.StateDelivered); err != nil {
					t.Fatal(err)
				}
			}
			if i > 1 {
				if err := s.SetState(ctx, a.ID, pool.StateSuspended); err != nil {
					t.Fatal(err)
				}
			}
			sold[st] = a
		}
		reserved, err := s.Reserve(ctx, "basic", 1, func([]pool.Account) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		sold[pool.StateReserved] = reserved[0]

		// GIVEN a sold account WHEN retired without force THEN refused, nothing changes.
		for st, a := range sold {
			for _, now := range []bool{false, true} {
				_, _, err := s.RequestRetire(ctx, a.ID, store.RetireRequest{Now: now, Grace: grace})
				if !errors.Is(err, pool.ErrForceRequired) {
					t.Fatalf("%s account without force (now=%t): %v, want ErrForceRequired", st, now, err)
				}
				if got, _ := s.Get(ctx, a.ID); got.State != st || !got.RetireAt.IsZero() {
					t.Fatalf("a refused retire changed %s: %s, retire at %v", a.Slug, got.State, got.RetireAt)
				}
			}
		}
		if n := len(jobsOf(t, s, jobs.SuspendAccountArgs{}.Kind())) + len(jobsOf(t, s, "destroy")); n != 0 {
			t.Fatalf("refused retires queued %d jobs", n)
		}

		// GIVEN an unsold (ready) account WHEN retired without force THEN retired at once.
		a, how, err := s.RequestRetire(ctx, as[5].ID, store.RetireRequest{Grace: grace})
		if err != nil || how != pool.RetireNow || a.State != pool.StateRetired {
			t.Fatalf("unsold: %s, %v, %v", a.State, how, err)
		}

		// GIVEN a delivered account WHEN retired with force THEN suspended, its tenant's
		// suspension queued now and its retirement at now + grace.
		d := sold[pool.StateDelivered]
		a, how, err = s.RequestRetire(ctx, d.ID, store.RetireRequest{Force: true, Grace: grace})
		due := clock.Now().Add(grace).Truncate(time.Millisecond)
		if err != nil || how != pool.RetireAfterGrace || a.State != pool.StateSuspended || !a.RetireAt.Equal(due) {
			t.Fatalf("forced: %s retire at %v, %v, %v; want suspended, retire at %v", a.State, a.RetireAt, how, err, due)
		}
		if got, _ := s.Get(ctx, d.ID); got.State != pool.StateSuspended || !got.RetireAt.Equal(due) {
			t.Fatalf("stored: %s retire at %v", got.State, got.RetireAt)
		}
		// Asked again later: the same retirement, nothing new queued.
		clock.Advance(time.Hour)
		if a, _, err := s.RequestRetire(ctx, d.ID, store.RetireRequest{Force: true, Grace: grace}); err != nil || !a.RetireAt.Equal(due) {
			t.Fatalf("repeated: retire at %v, %v; want %v", a.RetireAt, err, due)
		}
		suspends, retires := jobsOf(t, s, jobs.SuspendAccountArgs{}.Kind()), jobsOf(t, s, jobs.RetireAccountArgs{}.Kind())
		if len(suspends) != 1 || len(retires) != 1 {
			t.Fatalf("%d suspensions and %d retirements queued, want 1 each", len(suspends), len(retires))
		}
		var args jobs.RetireAccountArgs
		if err := json.Unmarshal(retires[0].EncodedArgs, &args); err != nil {
			t.Fatal(err)
		}
		if args.AccountID != d.ID || args.RetireAt != due.UnixMilli() || !retires[0].ScheduledAt.Equal(due) || retires[0].State != rivertype.JobStateScheduled {
			t.Fatalf("retirement job %+v at %v (%s), want account %d at %v, scheduled", args, retires[0].ScheduledAt, retires[0].State, d.ID, due)
		}

		// The other sold states go through the grace too.
		for _, st := range []pool.State{pool.StateClaimed, pool.StateSuspended, pool.StateReserved} {
			if a, how, err := s.RequestRetire(ctx, sold[st].ID, store.RetireRequest{Force: true, Grace: grace}); err != nil ||
				how != pool.RetireAfterGrace || a.State != pool.StateSuspended || a.RetireAt.IsZero() {
				t.Fatalf("forced %s: %s, %v, %v", st, a.State, how, err)
			}
		}

		// --force --now destroys at once, also during the grace.
		for _, id := range []int64{d.ID, sold[pool.StateClaimed].ID} {
			if a, how, err := s.RequestRetire(ctx, id, store.RetireRequest{Force: true, Now: true, Grace: grace}); err != nil ||
				how != pool.RetireNow || a.State != pool.StateRetired {
				t.Fatalf("forced now: %s, %v, %v", a.State, how, err)
			}
		}
		if n := len(jobsOf(t, s, "destroy")); n != 3 {
			t.Fatalf("%d teardowns queued, want 3 (the unsold one and the two retired now)", n)
		}
		if _, _, err := s.RequestRetire(ctx, d.ID, store.RetireRequest{Force: true, Now: true, Grace: grace}); !errors.Is(err, pool.ErrIllegalTransition) {
			t.Fatalf("retired again: %v", err)
		}
		if _, _, err := s.RequestRetire(ctx, as[4].ID, store.RetireRequest{Force: true, Grace: grace}); err != nil {
			t.Fatal(err) // an unsold account needs no grace
		}
		if _, _, err := s.RequestRetire(ctx, 9999, store.RetireRequest{Force: true, Grace: grace}); !errors.Is(err, pool.ErrNotFound) {
			t.Fatalf("unknown account: %v", err)
		}
	})
}
