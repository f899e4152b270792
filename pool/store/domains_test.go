package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

func soldAccounts(t *testing.T, s *store.Store, n int) []pool.Account {
	t.Helper()
	seedReady(t, s, "premium", n)
	var out []pool.Account
	for i := range n {
		a, _, err := s.Claim(context.Background(), "premium", fmt.Sprintf("order-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func TestAttachDomainChecksAllowanceOwnerAndState(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		as := soldAccounts(t, s, 2)
		a, b := as[0], as[1]

		d, created, err := s.AttachDomain(ctx, a.ID, "ai.acme.com", "ada@acme.com", 1)
		if err != nil || !created || d.State != pool.DomainRequested || d.Slug != a.Slug {
			t.Fatalf("attach = %+v, %v, %v", d, created, err)
		}
		again, created, err := s.AttachDomain(ctx, a.ID, "ai.acme.com", "ada@acme.com", 1)
		if err != nil || created || again.ID != d.ID {
			t.Fatalf("attach again = %+v, %v, %v; want the same row", again, created, err)
		}
		if _, _, err := s.AttachDomain(ctx, a.ID, "two.acme.com", "", 1); !errors.Is(err, pool.ErrDomainAllowance) {
			t.Fatalf("second domain over an allowance of 1: %v", err)
		}
		if _, _, err := s.AttachDomain(ctx, b.ID, "ai.acme.com", "", 3); !errors.Is(err, pool.ErrDomainTaken) {
			t.Fatalf("another tenant's hostname: %v", err)
		}
		ready := seedReady(t, s, "premium", 1)[0]
		if _, _, err := s.AttachDomain(ctx, ready.ID, "x.acme.com", "", 3); !errors.Is(err, pool.ErrNotSold) {
			t.Fatalf("unsold account: %v", err)
		}
		all, err := s.ListDomains(ctx)
		if err != nil || len(all) != 1 {
			t.Fatalf("refusals changed rows: %+v, %v", all, err)
		}

		// Detach frees the hostname only once the row is deleted.
		if _, err := s.DetachDomain(ctx, a.ID, "ai.acme.com"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.AttachDomain(ctx, b.ID, "ai.acme.com", "", 3); !errors.Is(err, pool.ErrDomainTaken) {
			t.Fatalf("a detaching hostname is still taken: %v", err)
		}
		if _, _, err := s.AttachDomain(ctx, a.ID, "two.acme.com", "", 1); err != nil {
			t.Fatalf("a detaching domain does not count toward the allowance: %v", err)
		}
		if err := s.DeleteDomain(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.AttachDomain(ctx, b.ID, "ai.acme.com", "", 3); err != nil {
			t.Fatalf("freed hostname: %v", err)
		}
		if _, err := s.DetachDomain(ctx, a.ID, "nope.acme.com"); !errors.Is(err, pool.ErrNotFound) {
			t.Fatalf("detach unknown: %v", err)
		}
	})
}

// Many tenants attach the same hostname at once: exactly one wins, on both databases.
func TestAttachDomainRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		as := soldAccounts(t, s, 8)
		var wg sync.WaitGroup
		errs := make([]error, len(as))
		start := make(chan struct{})
		for i, a := range as {
			wg.Go(func() {
				<-start
				_, _, errs[i] = s.AttachDomain(ctx, a.ID, "race.acme.com", "", 1)
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, pool.ErrDomainTaken):
				t.Errorf("loser's error %v, want ErrDomainTaken", err)
			}
		}
		ds, err := s.ListDomains(ctx)
		if won != 1 || err != nil || len(ds) != 1 {
			t.Fatalf("%d winners, rows %+v (%v); want exactly one", won, ds, err)
		}
	})
}

func TestDetachBeyond(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		a := soldAccounts(t, s, 1)[0]
		for _, h := range []string{"a.acme.com", "b.acme.com", "c.acme.com"} {
			if _, _, err := s.AttachDomain(ctx, a.ID, h, "", 3); err != nil {
				t.Fatal(err)
			}
		}
		if ex, err := s.ExcessDomains(ctx, a.ID, 1); err != nil || fmt.Sprint(ex) != "[b.acme.com c.acme.com]" {
			t.Fatalf("ExcessDomains = %v, %v", ex, err)
		}
		gone, err := s.DetachBeyond(ctx, a.ID, 1)
		if err != nil || fmt.Sprint(gone) != "[b.acme.com c.acme.com]" {
			t.Fatalf("DetachBeyond = %v, %v", gone, err)
		}
		if gone, err := s.DetachBeyond(ctx, a.ID, 1); err != nil || len(gone) != 0 {
			t.Fatalf("again = %v, %v; want nothing", gone, err)
		}
		if ex, err := s.ExcessDomains(ctx, a.ID, 1); err != nil || len(ex) != 0 {
			t.Fatalf("ExcessDomains after = %v, %v", ex, err)
		}
		ds, _ := s.AccountDomains(ctx, a.ID)
		var states []string
		for _, d := range ds {
			states = append(states, d.Hostname+"="+string(d.State))
		}
		if fmt.Sprint(states) != "[a.acme.com=requested b.acme.com=detaching c.acme.com=detaching]" {
			t.Fatalf("states %v", states)
		}
		due, err := s.DueDomains(ctx, ds[2].CheckAt, 10)
		if err != nil || len(due) != 3 {
			t.Fatalf("due = %d, %v", len(due), err)
		}
		ok, err := s.UpdateDomain(ctx, ds[0].ID, pool.DomainUpdate{From: pool.DomainPending, State: pool.DomainActive})
		if err != nil || ok {
			t.Fatalf("update from the wrong state = %v, %v; want no change", ok, err)
		}
	})
}
