package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// A brand is saved per account, validated, refused for a tier without branding, and saving it
// on a sold tenant enqueues its re-apply in the same transaction (an unsold one is applied when
// provisioned); a zero brand removes it.
func TestSetBrand(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		as := seedReady(t, s, "premium", 2)
		sold, _, err := s.Claim(ctx, "premium", "order-brand")
		if err != nil {
			t.Fatal(err)
		}
		unsold := as[0]
		if unsold.ID == sold.ID {
			unsold = as[1]
		}
		premium := func(tier string) error {
			if tier != "premium" {
				return pool.ErrInvalidBrand
			}
			return nil
		}
		acme := pool.Brand{Name: " Acme Flows ", Logo: "https://cdn.acme.example/l.svg", Color: "#FF6600"}

		if b, err := s.Brand(ctx, sold.ID); err != nil || !b.IsZero() {
			t.Fatalf("before: %+v, %v", b, err)
		}
		res, err := s.SetBrand(ctx, sold.ID, acme, premium)
		if err != nil || !res.Reapply {
			t.Fatalf("set on a sold account: %+v, %v", res, err)
		}
		got, err := s.Brand(ctx, sold.ID)
		if err != nil || got != (pool.Brand{Name: "Acme Flows", Logo: acme.Logo, Color: "#ff6600"}) {
			t.Fatalf("saved brand %+v, %v", got, err)
		}
		reapplies := jobsOf(t, s, jobs.ReapplyArgs{}.Kind())
		if len(reapplies) != 1 {
			t.Fatalf("%d re-apply jobs, want 1", len(reapplies))
		}
		var args jobs.ReapplyArgs
		if err := json.Unmarshal(reapplies[0].EncodedArgs, &args); err != nil || args.AccountID != sold.ID {
			t.Fatalf("re-apply job args %s", reapplies[0].EncodedArgs)
		}
		evs, err := s.AccountEvents(ctx, sold.ID)
		if err != nil || len(evs) != 1 || evs[0].Kind != store.EventBrandChanged || !strings.Contains(evs[0].Detail, "re-apply enqueued") {
			t.Fatalf("history %+v, %v", evs, err)
		}

		// An unsold account: saved, no re-apply.
		if res, err := s.SetBrand(ctx, unsold.ID, acme, premium); err != nil || res.Reapply {
			t.Fatalf("set on a ready account: %+v, %v", res, err)
		}
		if n := len(jobsOf(t, s, jobs.ReapplyArgs{}.Kind())); n != 1 {
			t.Fatalf("%d re-apply jobs after an unsold account's brand, want still 1", n)
		}

		// Refusals change nothing.
		for name, c := range map[string]struct {
			id    int64
			b     pool.Brand
			check func(string) error
			want  error
		}{
			"bad colour":  {sold.ID, pool.Brand{Color: "orange"}, premium, pool.ErrInvalidBrand},
			"http logo":   {sold.ID, pool.Brand{Logo: "http://x.example/l.png"}, premium, pool.ErrInvalidBrand},
			"tier":        {sold.ID, pool.Brand{Name: "X"}, func(string) error { return pool.ErrInvalidBrand }, pool.ErrInvalidBrand},
			"no account":  {99999, pool.Brand{Name: "X"}, premium, pool.ErrNotFound},
			"long name":   {sold.ID, pool.Brand{Name: strings.Repeat("x", 65)}, premium, pool.ErrInvalidBrand},
			"huge inline": {sold.ID, pool.Brand{Logo: "data:image/png;base64," + strings.Repeat("A", 40000)}, premium, pool.ErrInvalidBrand},
		} {
			if _, err := s.SetBrand(ctx, c.id, c.b, c.check); !errors.Is(err, c.want) {
				t.Errorf("%s: err %v, want %v", name, err, c.want)
			}
		}
		if got2, _ := s.Brand(ctx, sold.ID); got2 != got {
			t.Errorf("a refused save changed the brand: %+v", got2)
		}
		if n := len(jobsOf(t, s, jobs.ReapplyArgs{}.Kind())); n != 1 {
			t.Errorf("refused saves enqueued re-applies: %d", n)
		}
		if _, err := s.Brand(ctx, 99999); !errors.Is(err, pool.ErrNotFound) {
			t.Errorf("brand of a missing account: %v", err)
		}

		// Removing it.
		if res, err := s.SetBrand(ctx, sold.ID, pool.Brand{}, premium); err != nil || !res.Reapply {
			t.Fatalf("remove: %+v, %v", res, err)
		}
		if b, _ := s.Brand(ctx, sold.ID); !b.IsZero() {
			t.Errorf("removed brand still there: %+v", b)
		}
	})
}

// EnqueueFlows enqueues one import per account of the tier that has its customer login.
func TestEnqueueFlows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		seedReady(t, s, "basic", 3)
		seedReady(t, s, "premium", 1)
		if _, err := s.CreateAccounts(ctx, "basic", "client", 1); err != nil { // still provisioning
			t.Fatal(err)
		}
		n, err := s.EnqueueFlows(ctx, "basic")
		if err != nil || n != 3 {
			t.Fatalf("enqueued %d, %v; want 3", n, err)
		}
		if got := len(jobsOf(t, s, jobs.FlowsArgs{}.Kind())); got != 3 {
			t.Fatalf("%d flow jobs, want 3", got)
		}
	})
}
