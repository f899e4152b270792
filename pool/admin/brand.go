package admin

import (
	"context"
	"net/http"

	"github.com/axiestudio/tenantpool/pool"
)

// BrandView is an account's white-label settings as the API shows them.
type BrandView struct {
	Account string     `json:"account"`
	Tier    string     `json:"tier"`
	Brand   pool.Brand `json:"brand"`
	// Reapply (after a save): the tenant is sold and running, and its re-apply is enqueued.
	Reapply bool `json:"reapply,omitempty"`
}

// Brand returns an account's (by id or slug) white-label settings.
func (a *API) Brand(ctx context.Context, ref string) (BrandView, error) {
	acc, err := a.account(ctx, ref)
	if err != nil {
		return BrandView{}, err
	}
	b, err := a.store.Brand(ctx, acc.ID)
	if err != nil {
		return BrandView{}, err
	}
	return BrandView{Account: acc.Slug, Tier: acc.Tier, Brand: b}, nil
}

// SetBrand saves an account's white-label settings (a zero brand removes them) and, when its
// tenant is sold and running, enqueues the tenant's re-apply in the same transaction, so the
// studio shows the change once it restarts. Invalid settings, or any on a tier without
// branding, are refused (400) and change nothing.
func (a *API) SetBrand(ctx context.Context, ref string, b pool.Brand) (BrandView, error) {
	acc, err := a.account(ctx, ref)
	if err != nil {
		return BrandView{}, err
	}
	saved, err := a.store.SetBrand(ctx, acc.ID, b, func(tier string) error {
		t, err := a.tiers.Get(tier)
		if err != nil {
			return err
		}
		return pool.CheckBrandTier(b, t)
	})
	if err != nil {
		return BrandView{}, err
	}
	b, err = a.store.Brand(ctx, acc.ID)
	if err != nil {
		return BrandView{}, err
	}
	a.log.Info("account brand saved", "account", acc.Slug, "tier", acc.Tier, "reapply", saved.Reapply, "removed", b.IsZero())
	return BrandView{Account: acc.Slug, Tier: acc.Tier, Brand: b, Reapply: saved.Reapply}, nil
}

// EnqueueFlows enqueues the import of a tier's starter flows into every studio of the tier that
// has its customer login; the import skips flows already there.
func (a *API) EnqueueFlows(ctx context.Context, tier string) (int, error) {
	if err := validTier(a.tiers, tier); err != nil {
		return 0, err
	}
	n, err := a.store.EnqueueFlows(ctx, tier)
	if err != nil {
		return 0, err
	}
	a.log.Info("starter flows import enqueued", "tier", tier, "accounts", n)
	return n, nil
}

func (a *API) getBrand(w http.ResponseWriter, r *http.Request) error {
	v, err := a.Brand(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) putBrand(w http.ResponseWriter, r *http.Request) error {
	var b pool.Brand
	if err := decode(w, r, &b); err != nil {
		return err
	}
	v, err := a.SetBrand(r.Context(), r.PathValue("account"), b)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) tierFlows(w http.ResponseWriter, r *http.Request) error {
	tier := r.PathValue("tier")
	n, err := a.EnqueueFlows(r.Context(), tier)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"tier": tier, "enqueued": n})
	return nil
}
