package orders_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// domains stands in for the custom domains feature (another branch builds its table): the
// attached domains per account, oldest first; Excess is what lies beyond an allowance.
type domains struct {
	mu       sync.Mutex
	attached map[int64][]string
	detached []string
}

func (d *domains) Excess(_ context.Context, id int64, allowance int) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ds := d.attached[id]; len(ds) > allowance {
		return slices.Clone(ds[allowance:]), nil
	}
	return nil, nil
}

func (d *domains) Detach(_ context.Context, id int64, domain string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attached[id] = slices.DeleteFunc(d.attached[id], func(s string) bool { return s == domain })
	d.detached = append(d.detached, domain)
	return nil
}

func (d *domains) gone() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.detached)
}

func subUpdated(id, status string, prices ...string) map[string]any {
	var items []any
	for _, p := range prices {
		items = append(items, map[string]any{"object": "subscription_item", "quantity": 1, "price": map[string]any{"id": p, "object": "price"}})
	}
	return map[string]any{"id": id, "object": "subscription", "status": status, "items": map[string]any{"object": "list", "data": items}}
}

// A subscription moved to another price changes its account's tier in place, through the real
// webhook, store and job client: the same account (id, slug, URL), its stack re-applied with
// the new tier and the generation recorded; an older event never undoes a newer change; a
// downgrade e-mails the customer which custom domains go and detaches them after the notice
// period; an unknown price is held for the operator and changes nothing; canceled stays final.
func TestSubscriptionPriceChangesThePlanInPlace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		ctx := context.Background()
		seedReady(t, s, "basic", 1)
		ds := &domains{attached: map[int64][]string{}}
		const notice = time.Hour
		var (
			mu      sync.Mutex
			applied []string // the tier of each re-apply
		)
		e := newEnvWith(t, s, func(c *orders.Config) {
			c.Prices = map[string]string{"price_premium": "premium"}
			c.DowngradeNotice = notice
		}, func(w *control.WorkerConfig) {
			w.Plans = &control.PlanConfig{Store: s, Domains: ds, SupportContact: "support@example.test"}
			w.Tenants.(*suspender).ReapplyFail = func(a pool.Account, _ int) error {
				mu.Lock()
				defer mu.Unlock()
				applied = append(applied, a.Tier)
				return nil
			}
		})
		reapplies := func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(applied)
		}
		const id = "cs_plan"
		start := time.Now()
		e.send(event("evt_plan_paid", orders.EventCheckoutCompleted, start, session(id, "ada@example.test", "Ada", nil)))
		waitFor(t, "delivered", func() bool { return order(t, s, id).State == store.OrderDelivered })
		before, err := s.Get(ctx, order(t, s, id).AccountID)
		if err != nil || before.Tier != "basic" {
			t.Fatalf("sold account %+v, %v", before.Tier, err)
		}
		account := func() pool.Account {
			a, err := s.Get(ctx, before.ID)
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		changes := func() []pool.PlanChange {
			cs, err := s.PlanChanges(ctx, before.ID)
			if err != nil {
				t.Fatal(err)
			}
			return cs
		}
		send := func(evID string, at time.Time, obj map[string]any, want string) {
			t.Helper()
			rec := e.send(event(evID, orders.EventSubscriptionUpdated, at, obj))
			if !strings.Contains(rec.Body.String(), want) {
				t.Fatalf("%s answered %s, want %q", evID, strings.TrimSpace(rec.Body.String()), want)
			}
		}

		// Upgrade.
		send("evt_up", start.Add(10*time.Second), subUpdated("sub_"+id, "active", "price_premium"), "plan basic → premium")
		waitFor(t, "upgrade applied", func() bool { cs := changes(); return len(cs) == 1 && cs[0].State == pool.PlanApplied })
		a := account()
		if a.ID != before.ID || a.Slug != before.Slug || a.URL != before.URL || a.State != pool.StateDelivered || a.Tier != "premium" {
			t.Fatalf("after the upgrade: %s %s %s %s, want the same account, premium", a.Slug, a.URL, a.State, a.Tier)
		}
		if o := order(t, s, id); o.Tier != "premium" || o.AccountID != before.ID {
			t.Fatalf("order tier %s account %d", o.Tier, o.AccountID)
		}
		prem, _ := testTiers.Get("premium")
		if c := changes()[0]; c.FromTier != "basic" || c.ToTier != "premium" || c.Source != pool.PlanByStripe || c.PriceID != "price_premium" ||
			c.Generation != e.prov.Build(prem).Generation || a.Generation != c.Generation || !c.DetachAt.IsZero() {
			t.Fatalf("upgrade recorded as %+v (account generation %s)", c, a.Generation)
		}
		if got := reapplies(); !slices.Equal(got, []string{"premium"}) {
			t.Fatalf("re-applies %v, want one with premium", got)
		}
		// A replay and an older event change nothing.
		send("evt_up", start.Add(10*time.Second), subUpdated("sub_"+id, "active", "price_premium"), "stale\"")
		send("evt_old", start.Add(5*time.Second), subUpdated("sub_"+id, "active", "price_basic"), "stale\"")
		if a := account(); a.Tier != "premium" || len(changes()) != 1 {
			t.Fatalf("a stale event changed the plan: %s, %d changes", a.Tier, len(changes()))
		}

		// Downgrade: premium allows one custom domain, basic none.
		ds.mu.Lock()
		ds.attached[before.ID] = []string{"studio.ada.example"}
		ds.mu.Unlock()
		down := time.Now()
		send("evt_down", start.Add(20*time.Second), subUpdated("sub_"+id, "active", "price_basic"), "plan premium → basic")
		waitFor(t, "downgrade applied", func() bool { cs := changes(); return len(cs) == 2 && cs[1].State == pool.PlanApplied })
		c := changes()[1]
		if c.DetachAt.Before(down.Add(notice).Add(-time.Second)) {
			t.Fatalf("detach at %v, want the notice period %v after %v", c.DetachAt, notice, down)
		}
		waitFor(t, "notice e-mail", func() bool { return len(e.mail.Search(t, `subject:"custom domains"`)) == 1 })
		m := e.mail.Search(t, `subject:"custom domains"`)[0]
		if len(m.To) != 1 || m.To[0].Address != "ada@example.test" || !strings.Contains(m.Text, "studio.ada.example") || !strings.Contains(m.Text, "Basic plan") {
			t.Fatalf("notice to %v: %s", m.To, m.Text)
		}
		if got := ds.gone(); len(got) != 0 {
			t.Fatalf("detached %v before the notice period ended", got)
		}
		// The notice period is over: the scheduled detach becomes due.
		q := `UPDATE river_job SET scheduled_at = ? WHERE kind = ? AND state = 'scheduled'`
		if s.Postgres() {
			q = `UPDATE river_job SET scheduled_at = $1 WHERE kind = $2 AND state = 'scheduled'`
		}
		if _, err := s.DB().ExecContext(ctx, q, time.Now().Add(-time.Second).UTC(), "plan_detach"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "excess domain detached", func() bool { return slices.Equal(ds.gone(), []string{"studio.ada.example"}) })
		if got := reapplies(); !slices.Equal(got, []string{"premium", "basic"}) {
			t.Fatalf("re-applies %v", got)
		}

		// An unknown price is held: nothing changes but the record.
		send("evt_unknown", start.Add(30*time.Second), subUpdated("sub_"+id, "active", "price_mystery"), "plan held")
		cs := changes()
		if len(cs) != 3 || cs[2].State != pool.PlanHeld || cs[2].PriceID != "price_mystery" || !strings.Contains(cs[2].LastError, "price_mystery") {
			t.Fatalf("held change %+v", cs[len(cs)-1])
		}
		if held, err := s.HeldPlanChanges(ctx, 10); err != nil || len(held) != 1 || held[0].ID != cs[2].ID {
			t.Fatalf("held changes %v, %v", held, err)
		}
		if a := account(); a.Tier != "basic" {
			t.Fatalf("a held change moved the tier to %s", a.Tier)
		}

		// Canceled is final: a later price changes nothing.
		e.send(event("evt_cancel", orders.EventSubscriptionDeleted, start.Add(40*time.Second), subUpdated("sub_"+id, "canceled")))
		send("evt_after", start.Add(50*time.Second), subUpdated("sub_"+id, "active", "price_premium"), "stale")
		if a := account(); a.Tier != "basic" || len(changes()) != 3 {
			t.Fatalf("after cancel: %s, %d changes", a.Tier, len(changes()))
		}
		if got := reapplies(); len(got) != 2 {
			t.Fatalf("re-applies %v after cancel", got)
		}

		// The operator resolves the held change by setting the tier the account keeps.
		if _, changed, err := s.ChangePlan(ctx, before.ID, store.PlanRequest{Source: pool.PlanByOperator, ToTier: "basic", Tiers: testTiers}); err != nil || changed {
			t.Fatalf("operator keeps basic: changed %v, %v", changed, err)
		}
		if held, err := s.HeldPlanChanges(ctx, 10); err != nil || len(held) != 0 || changes()[2].State != pool.PlanSuperseded {
			t.Fatalf("after the operator's decision: held %v (%v), change %+v", held, err, changes()[2])
		}
	})
}
