package pulumiprov

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/axiestudio/tenantpool/infra/tenant"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow"
)

// branding is the account's brand as the tenant spec carries it: read at every update (a
// provision, a re-apply, a resume, poold tenant up), so a saved brand reaches the container
// with the next one. A tier without branding gets none, whatever is stored.
func (p *Provisioner) branding(ctx context.Context, a pool.Account, t pool.Tier) (tenant.Branding, error) {
	if p.cfg.Brand == nil || !t.Branding {
		return tenant.Branding{}, nil
	}
	b, err := p.cfg.Brand(ctx, a.ID)
	if err != nil {
		return tenant.Branding{}, fmt.Errorf("brand of %s: %w", a.Slug, err)
	}
	return tenant.Branding{AppName: b.Name, LogoURL: b.Logo, PrimaryColor: b.Color}, nil
}

// importFlows imports the tier's starter flows into a studio that has just become ready, as
// its customer, so they sit in the customer's own folder (Langflow's LANGFLOW_LOAD_FLOWS_PATH
// loads only with auto-login and into the superuser's folder). A failure is retryable: the
// provisioning job runs again and the import skips what is there.
func (p *Provisioner) importFlows(ctx context.Context, log *slog.Logger, a pool.Account, t pool.Tier, url string) error {
	flows := p.cfg.Flows[t.Name]
	if len(flows) == 0 {
		return nil
	}
	n, err := p.cfg.Gate.ImportFlows(ctx, url,
		langflow.Credentials{Username: a.CustomerUser, Password: a.CustomerPassword}, flows)
	if err != nil {
		return fmt.Errorf("readiness: %w", err)
	}
	log.Info("starter flows imported", "created", n, "of", len(flows))
	return nil
}
