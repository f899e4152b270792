package console

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
)

// Upgrades are the rolling upgrade operations shared with the JSON admin API (*admin.API).
type Upgrades interface {
	StartUpgrade(ctx context.Context, spec pool.RolloutSpec) (pool.Rollout, error)
	SetUpgradeState(ctx context.Context, id int64, action string) (pool.Rollout, error)
	Upgrade(ctx context.Context, id int64) (admin.Upgrade, error)
	UpgradeList(ctx context.Context) (admin.Upgrades, error)
	CurrentGenerations() map[string]string
}

var _ Upgrades = (*admin.API)(nil)

// upgradesData is the rolling upgrades page: the shown rollout (the active one, the one asked
// for, else the newest), the recent ones, and the start form with each tier's current
// generation.
type upgradesData struct {
	Shown    *admin.Upgrade
	Active   int64
	Recent   []pool.Rollout
	Current  []tierGeneration
	Form     upgradeForm
	Terminal bool // the shown rollout has ended
}

type tierGeneration struct{ Tier, Generation string }

type upgradeForm struct {
	To, Canary, Batch, MaxUnavailable, Window string
}

func (c *Console) upgradesData(r *http.Request) (upgradesData, error) {
	ctx := r.Context()
	d := upgradesData{Form: upgradeForm{Canary: strconv.Itoa(pool.DefaultCanary), Batch: strconv.Itoa(pool.DefaultBatch),
		MaxUnavailable: strconv.Itoa(pool.DefaultMaxUnavailable)}}
	list, err := c.cfg.Ops.UpgradeList(ctx)
	if err != nil {
		return d, err
	}
	d.Active, d.Recent = list.Active, list.Upgrades
	id := list.Active
	if v := r.URL.Query().Get("id"); v != "" {
		if id, err = strconv.ParseInt(v, 10, 64); err != nil || id < 1 {
			return d, &admin.FieldError{Field: "id", Value: v, Err: pool.ErrNoRollout}
		}
	} else if id == 0 && len(list.Upgrades) > 0 {
		id = list.Upgrades[0].ID
	}
	if id != 0 {
		u, err := c.cfg.Ops.Upgrade(ctx, id)
		if err != nil {
			return d, err
		}
		d.Shown, d.Terminal = &u, !u.State.Active()
	}
	for tier, gen := range c.cfg.Ops.CurrentGenerations() {
		d.Current = append(d.Current, tierGeneration{tier, gen})
	}
	slices.SortFunc(d.Current, func(a, b tierGeneration) int { return strings.Compare(a.Tier, b.Tier) })
	return d, nil
}

func (c *Console) upgradesPage(w http.ResponseWriter, r *http.Request, rq *request) {
	d, err := c.upgradesData(r)
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.render(w, rq, "upgrades", page{Title: "Rolling upgrades", Nav: "upgrades", Data: d})
}

func (c *Console) startUpgrade(w http.ResponseWriter, r *http.Request, rq *request) {
	f := r.PostForm
	form := upgradeForm{To: strings.TrimSpace(f.Get("to")), Canary: f.Get("canary"), Batch: f.Get("batch"),
		MaxUnavailable: f.Get("max_unavailable"), Window: strings.TrimSpace(f.Get("window"))}
	spec := pool.RolloutSpec{Generation: form.To, Window: form.Window}
	var bad []string
	for _, n := range []struct {
		name, v string
		to      *int
	}{{"canary", form.Canary, &spec.Canary}, {"batch", form.Batch, &spec.Batch}, {"max unavailable", form.MaxUnavailable, &spec.MaxUnavailable}} {
		v, err := strconv.Atoi(strings.TrimSpace(n.v))
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s %q is not a whole number", n.name, n.v))
		}
		*n.to = v
	}
	var ro pool.Rollout
	err := error(nil)
	if len(bad) == 0 {
		ro, err = c.cfg.Ops.StartUpgrade(r.Context(), spec)
	}
	if len(bad) > 0 || (err != nil && admin.StatusCode(err) < 500) {
		msg := strings.Join(bad, "; ")
		if err != nil {
			msg = formError(err)
		}
		d, derr := c.upgradesData(r)
		if derr != nil {
			c.fail(w, r, rq, derr)
			return
		}
		d.Form = form
		c.render(w, rq, "upgrades", page{Title: "Rolling upgrades", Nav: "upgrades", Data: d, Status: http.StatusBadRequest,
			Error: msg + ". Nothing was started."})
		return
	}
	if err != nil {
		c.fail(w, r, rq, err)
		return
	}
	c.redirect(w, r, rq, fmt.Sprintf("/console/upgrades?id=%d", ro.ID),
		fmt.Sprintf("Rolling upgrade %d started: %d tenants of tier %s to %s.", ro.ID, ro.Total, ro.Tier, ro.Generation))
}

func (c *Console) setUpgrade(action string) func(http.ResponseWriter, *http.Request, *request) {
	return func(w http.ResponseWriter, r *http.Request, rq *request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id < 1 {
			c.fail(w, r, rq, fmt.Errorf("rolling upgrade %q: %w", r.PathValue("id"), pool.ErrNoRollout))
			return
		}
		ro, err := c.cfg.Ops.SetUpgradeState(r.Context(), id, action)
		if err != nil {
			c.fail(w, r, rq, err)
			return
		}
		c.redirect(w, r, rq, fmt.Sprintf("/console/upgrades?id=%d", id), fmt.Sprintf("Rolling upgrade %d is %s.", id, ro.State))
	}
}
