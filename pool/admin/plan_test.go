package admin_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// POST accounts/{account}/tier moves a sold account to another tier in place through the same
// store path as a Stripe price change: the same account, its re-apply job queued, and for a
// downgrade the notice and a detach scheduled after the notice period. Bad input and unsold
// accounts change nothing.
func TestSetTierChangesThePlanInPlace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger)
		s := open(clock)
		ready := seedReady(t, s, "basic", 2)
		const notice = 48 * time.Hour
		e := newEnv(t, s, func(c *admin.Config) { c.DowngradeNotice = notice })
		sold, _, err := s.Claim(ctx, "basic", "o1")
		if err != nil {
			t.Fatal(err)
		}
		unsold := ready[0]
		if unsold.ID == sold.ID {
			unsold = ready[1]
		}
		jobs := func(kind string) int {
			var n int
			if err := s.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = '` + kind + `'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		path := "/admin/v1/accounts/" + sold.Slug + "/tier"

		before := digest(t, s)
		for _, c := range []struct {
			path, body string
			code       int
		}{
			{path, `{"tier":"gold"}`, http.StatusBadRequest},
			{path, `{}`, http.StatusBadRequest},
			{path, `{"tier":1}`, http.StatusBadRequest},
			{path, `{"tier":"premium","now":true}`, http.StatusBadRequest},
			{"/admin/v1/accounts/" + unsold.Slug + "/tier", `{"tier":"premium"}`, http.StatusConflict},
			{"/admin/v1/accounts/nobody99/tier", `{"tier":"premium"}`, http.StatusNotFound},
		} {
			if w := e.do("POST", c.path, tokenA, c.body); w.Code != c.code {
				t.Errorf("%s %s: %d %s, want %d", c.path, c.body, w.Code, w.Body, c.code)
			}
		}
		if digest(t, s) != before || jobs("plan_apply") != 0 {
			t.Fatal("a refused plan change changed the store")
		}

		type answer struct {
			Account admin.Account  `json:"account"`
			Changed bool           `json:"changed"`
			Change  admin.PlanView `json:"change"`
		}
		w := e.do("POST", path, tokenA, `{"tier":"premium"}`)
		wantCode(t, w, http.StatusOK)
		up := decodeJSON[answer](t, w)
		if !up.Changed || up.Account.ID != sold.ID || up.Account.Tier != "premium" || up.Change.From != "basic" || up.Change.To != "premium" ||
			up.Change.Source != "operator" || up.Change.State != "applying" || up.Change.DetachAt != "" {
			t.Fatalf("upgrade answered %+v", up)
		}
		if a, _ := s.Get(ctx, sold.ID); a.Tier != "premium" || a.State != sold.State || a.Slug != sold.Slug {
			t.Fatalf("account after the upgrade: %s %s %s", a.Slug, a.State, a.Tier)
		}
		if jobs("plan_apply") != 1 || jobs("plan_notice") != 0 {
			t.Fatalf("jobs after the upgrade: %d re-apply, %d notices", jobs("plan_apply"), jobs("plan_notice"))
		}
		clock.Advance(time.Second)
		w = e.do("POST", "/admin/v1/accounts/"+sold.Slug+"/tier", tokenA, `{"tier":"premium"}`)
		wantCode(t, w, http.StatusOK)
		if again := decodeJSON[answer](t, w); again.Changed || jobs("plan_apply") != 1 {
			t.Fatalf("the same tier again: %+v, %d re-apply jobs", again, jobs("plan_apply"))
		}

		clock.Advance(time.Second)
		w = e.do("POST", path, tokenA, `{"tier":"basic"}`)
		wantCode(t, w, http.StatusOK)
		down := decodeJSON[answer](t, w)
		due := clock.Now().Add(notice).UTC().Format(time.RFC3339)
		if !down.Changed || down.Account.Tier != "basic" || down.Change.DetachAt != due {
			t.Fatalf("downgrade answered %+v, want detach at %s", down, due)
		}
		var scheduled int
		s.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'plan_detach' AND state = 'scheduled'`).Scan(&scheduled)
		if jobs("plan_apply") != 2 || jobs("plan_notice") != 1 || scheduled != 1 {
			t.Fatalf("jobs after the downgrade: %d re-apply, %d notices, %d scheduled detach", jobs("plan_apply"), jobs("plan_notice"), scheduled)
		}
		cs, err := s.PlanChanges(ctx, sold.ID)
		if err != nil || len(cs) != 2 || cs[0].State != pool.PlanSuperseded || cs[1].State != pool.PlanApplying {
			t.Fatalf("changes %+v, %v: the unfinished upgrade is superseded by the downgrade", cs, err)
		}
		w = e.do("GET", "/admin/v1/plans/held", tokenA, "")
		wantCode(t, w, http.StatusOK)
		if held := decodeJSON[map[string][]admin.PlanView](t, w); len(held["held"]) != 0 {
			t.Fatalf("held %+v", held)
		}
	})
}
