package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/axiestudio/tenantpool/pool"
)

// UpgradeStore is what the rolling upgrade operations need of the store (the API's Store has
// it; `poold upgrade` gives the store itself).
type UpgradeStore interface {
	StartRollout(ctx context.Context, spec pool.RolloutSpec, image string) (pool.Rollout, error)
	Rollout(ctx context.Context, id int64) (pool.Rollout, []pool.RolloutStep, error)
	ActiveRollout(ctx context.Context) (int64, error)
	Rollouts(ctx context.Context, limit int) ([]pool.Rollout, error)
	PauseRollout(ctx context.Context, id int64) (pool.Rollout, error)
	ResumeRollout(ctx context.Context, id int64) (pool.Rollout, error)
	AbortRollout(ctx context.Context, id int64) (pool.Rollout, error)
}

// Upgrade is a rolling upgrade as the API, `poold upgrade status` and the console show it: the
// rollout, its steps (per tenant) and whether its window is open now.
type Upgrade struct {
	pool.Rollout
	Steps      []pool.RolloutStep `json:"steps"`
	WindowOpen bool               `json:"window_open"`
	// NextWindow is when a closed window opens next.
	NextWindow time.Time `json:"next_window,omitzero"`
}

// Upgrades is the answer of GET /admin/v1/upgrades: the newest rollouts and the active one's id
// (0: none).
type Upgrades struct {
	Active   int64          `json:"active"`
	Upgrades []pool.Rollout `json:"upgrades"`
}

// StartUpgrade validates spec and starts a rolling upgrade. The target must be a tier's current
// generation — what build (pool.Tenants.Build) makes for it now, whose image the tenants get —
// and, when spec.Tier is set, that tier's; without a tier the generation names it. Unknown or
// stale generations, a second active rollout and a tier whose sold tenants all run the target
// are refused and change nothing.
func StartUpgrade(ctx context.Context, st UpgradeStore, tiers pool.Tiers, build func(pool.Tier) pool.Build, spec pool.RolloutSpec) (pool.Rollout, error) {
	if err := spec.Validate(); err != nil {
		return pool.Rollout{}, &FieldError{Field: "to", Err: err}
	}
	if build == nil {
		return pool.Rollout{}, fmt.Errorf("rolling upgrades need provisioning configured (POOL_LANGFLOW_IMAGE): %w", errUnavailable)
	}
	current := map[string]pool.Build{}
	for name, t := range tiers {
		if b := build(t); b.Generation != "" {
			current[name] = b
		}
	}
	if spec.Tier != "" {
		if _, err := tiers.Get(spec.Tier); err != nil {
			return pool.Rollout{}, &FieldError{Field: "tier", Value: spec.Tier, Err: err}
		}
	} else {
		for name, b := range current {
			if b.Generation == spec.Generation {
				spec.Tier = name
			}
		}
	}
	b, ok := current[spec.Tier]
	if !ok || b.Generation != spec.Generation {
		return pool.Rollout{}, &FieldError{Field: "to", Value: spec.Generation, Err: fmt.Errorf("%w: the target must be a tier's current generation (what new accounts are built with): %s",
			ErrUnknownGeneration, describeCurrent(current))}
	}
	return st.StartRollout(ctx, spec, b.Image)
}

// ErrUnknownGeneration: a rolling upgrade's target is no tier's current generation.
var ErrUnknownGeneration = errors.New("not a current generation")

func describeCurrent(current map[string]pool.Build) string {
	if len(current) == 0 {
		return "no tier can be built now"
	}
	var parts []string
	for name, b := range current {
		parts = append(parts, name+" "+b.Generation)
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// UpgradeView reads a rollout with its steps and its window's state at now.
func UpgradeView(ctx context.Context, st UpgradeStore, id int64, now time.Time) (Upgrade, error) {
	r, steps, err := st.Rollout(ctx, id)
	if err != nil {
		return Upgrade{}, err
	}
	u := Upgrade{Rollout: r, Steps: steps, WindowOpen: true}
	if u.Steps == nil {
		u.Steps = []pool.RolloutStep{}
	}
	if w, err := pool.ParseWindow(r.Window); err == nil && !w.Open(now) {
		u.WindowOpen, u.NextWindow = false, w.NextOpen(now)
	}
	return u, nil
}

// SetUpgradeState pauses, resumes or aborts a rollout (action "pause", "resume", "abort").
func SetUpgradeState(ctx context.Context, st UpgradeStore, id int64, action string) (pool.Rollout, error) {
	switch action {
	case "pause":
		return st.PauseRollout(ctx, id)
	case "resume":
		return st.ResumeRollout(ctx, id)
	case "abort":
		return st.AbortRollout(ctx, id)
	}
	return pool.Rollout{}, &httpError{http.StatusNotFound, "unknown action " + strconv.Quote(action)}
}

// StartUpgrade is StartUpgrade on the API's store and tenants, followed by a driver pass.
func (a *API) StartUpgrade(ctx context.Context, spec pool.RolloutSpec) (pool.Rollout, error) {
	var build func(pool.Tier) pool.Build
	if a.tenants != nil {
		build = a.tenants.Build
	}
	r, err := StartUpgrade(ctx, a.store, a.tiers, build, spec)
	if err != nil {
		return r, err
	}
	a.log.Info("rolling upgrade started", "rollout", r.ID, "tier", r.Tier, "generation", r.Generation, "tenants", r.Total,
		"canary", r.Canary, "batch", r.Batch, "max_unavailable", r.MaxUnavailable, "window", r.Window)
	a.rollouts()
	return r, nil
}

// SetUpgradeState pauses, resumes or aborts a rollout, logs it and (resume) asks for a pass.
func (a *API) SetUpgradeState(ctx context.Context, id int64, action string) (pool.Rollout, error) {
	r, err := SetUpgradeState(ctx, a.store, id, action)
	if err != nil {
		return r, err
	}
	a.log.Info("rolling upgrade "+action+"d", "rollout", r.ID, "state", r.State)
	a.rollouts()
	return r, nil
}

// Upgrade is UpgradeView on the API's store, now.
func (a *API) Upgrade(ctx context.Context, id int64) (Upgrade, error) {
	return UpgradeView(ctx, a.store, id, time.Now())
}

// UpgradeList is the newest rollouts and the active one's id.
func (a *API) UpgradeList(ctx context.Context) (Upgrades, error) {
	active, err := a.store.ActiveRollout(ctx)
	if err != nil {
		return Upgrades{}, err
	}
	list, err := a.store.Rollouts(ctx, 20)
	if err != nil {
		return Upgrades{}, err
	}
	if list == nil {
		list = []pool.Rollout{}
	}
	return Upgrades{Active: active, Upgrades: list}, nil
}

// upgradeRequest is the body of POST /admin/v1/upgrades; omitted numbers take the defaults.
type upgradeRequest struct {
	To             string `json:"to"`
	Tier           string `json:"tier"`
	Canary         *int   `json:"canary"`
	Batch          *int   `json:"batch"`
	MaxUnavailable *int   `json:"max_unavailable"`
	Window         string `json:"window"`
}

func orDefault(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func (a *API) startUpgrade(w http.ResponseWriter, r *http.Request) error {
	var req upgradeRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	ro, err := a.StartUpgrade(r.Context(), pool.RolloutSpec{Tier: req.Tier, Generation: req.To,
		Canary: orDefault(req.Canary, pool.DefaultCanary), Batch: orDefault(req.Batch, pool.DefaultBatch),
		MaxUnavailable: orDefault(req.MaxUnavailable, pool.DefaultMaxUnavailable), Window: req.Window})
	if err != nil {
		return err
	}
	u, err := a.Upgrade(r.Context(), ro.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, u)
	return nil
}

func (a *API) listUpgrades(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	l, err := a.UpgradeList(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func upgradeID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("upgrade"), 10, 64)
	if err != nil || id < 1 {
		return 0, &httpError{http.StatusNotFound, "unknown rolling upgrade " + strconv.Quote(r.PathValue("upgrade"))}
	}
	return id, nil
}

func (a *API) getUpgrade(w http.ResponseWriter, r *http.Request) error {
	id, err := upgradeID(r)
	if err != nil {
		return err
	}
	u, err := a.Upgrade(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (a *API) setUpgrade(action string) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := upgradeID(r)
		if err != nil {
			return err
		}
		if _, err := a.SetUpgradeState(r.Context(), id, action); err != nil {
			return err
		}
		u, err := a.Upgrade(r.Context(), id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, u)
		return nil
	}
}

// CurrentGenerations maps every tier to what its new accounts are built with now (none when
// this daemon cannot provision).
func (a *API) CurrentGenerations() map[string]string {
	var build func(pool.Tier) pool.Build
	if a.tenants != nil {
		build = a.tenants.Build
	}
	return CurrentGenerations(a.tiers, build)
}
