package admin

import (
	"context"
	"net/http"

	"github.com/axiestudio/tenantpool/pool"
)

// Generation is one generation of one tier as GET /admin/v1/generations and `poold status`
// show it: how many live accounts run it, per state, and whether it is what the tier's new
// accounts are built with now.
type Generation struct {
	Tier       string         `json:"tier"`
	Generation string         `json:"generation"`
	Current    bool           `json:"current"`
	Total      int            `json:"total"`
	Counts     map[string]int `json:"counts"`
}

// GenerationRows folds the store's counts (tier, generation, state order) into one row per
// tier and generation. current maps a tier to its current generation (may be empty).
func GenerationRows(counts []pool.GenerationCount, current map[string]string) []Generation {
	var out []Generation
	for _, c := range counts {
		if n := len(out); n == 0 || out[n-1].Tier != c.Tier || out[n-1].Generation != c.Generation {
			out = append(out, Generation{Tier: c.Tier, Generation: c.Generation, Counts: map[string]int{},
				Current: current[c.Tier] != "" && current[c.Tier] == c.Generation})
		}
		g := &out[len(out)-1]
		g.Counts[string(c.State)] += c.Count
		g.Total += c.Count
	}
	return out
}

// Generations is the answer of GET /admin/v1/generations.
type Generations struct {
	Generations []Generation `json:"generations"`
	// Current is each tier's current generation (none when this daemon cannot provision).
	Current map[string]string `json:"current"`
	// StaleReserved are the reserved (exported) accounts of an older generation: the ready pool
	// refresh leaves them alone.
	StaleReserved []Account `json:"stale_reserved"`
}

// CurrentGenerations maps every tier to what tenants build for it now ("" entries left out).
func CurrentGenerations(tiers pool.Tiers, build func(pool.Tier) pool.Build) map[string]string {
	out := map[string]string{}
	if build == nil {
		return out
	}
	for name, t := range tiers {
		if g := build(t).Generation; g != "" {
			out[name] = g
		}
	}
	return out
}

func (a *API) generations(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	g, err := a.Generations(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}

// Generations is what runs which generation (GET /admin/v1/generations, the console's pool page).
func (a *API) Generations(ctx context.Context) (Generations, error) {
	current := a.CurrentGenerations()
	counts, err := a.store.GenerationCounts(ctx)
	if err != nil {
		return Generations{}, err
	}
	stale, err := a.store.StaleReserved(ctx, current)
	if err != nil {
		return Generations{}, err
	}
	out := Generations{Generations: GenerationRows(counts, current), Current: current, StaleReserved: []Account{}}
	if out.Generations == nil {
		out.Generations = []Generation{}
	}
	for _, acc := range stale {
		out.StaleReserved = append(out.StaleReserved, AccountView(acc))
	}
	return out, nil
}
