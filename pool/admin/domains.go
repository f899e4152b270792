package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
)

// DomainStore is what custom domains need of the store.
type DomainStore interface {
	Get(ctx context.Context, id int64) (pool.Account, error)
	GetBySlug(ctx context.Context, slug string) (pool.Account, error)
	GetOrder(ctx context.Context, id string) (store.Order, error)
	AttachDomain(ctx context.Context, accountID int64, hostname, contact string, allowance int) (pool.CustomDomain, bool, error)
	DetachDomain(ctx context.Context, accountID int64, hostname string) (pool.CustomDomain, error)
	AccountDomains(ctx context.Context, accountID int64) ([]pool.CustomDomain, error)
	ListDomains(ctx context.Context) ([]pool.CustomDomain, error)
}

// Domains configures custom domains; nil in Config: they are off (no Cloudflare) and their
// operations answer 503.
type Domains struct {
	// Platform are the platform's own domains (the tenants', the company's): no customer may
	// attach one of them or a name under them.
	Platform []string
	// Trigger asks the domains loop for a pass after an attach or detach. Optional.
	Trigger func()
}

// ErrDomainsOff: custom domains need Cloudflare (and a customer CNAME target) configured.
var ErrDomainsOff = fmt.Errorf("%w: custom domains are off (they need --cloudflare-zone-id, POOL_CLOUDFLARE_API_TOKEN and --custom-domain-target)", errUnavailable)

// DomainView is a custom domain as the API shows it.
type DomainView struct {
	Account   string `json:"account"`
	Hostname  string `json:"hostname"`
	State     string `json:"state"`
	CFStatus  string `json:"cloudflare_status,omitempty"`
	SSLStatus string `json:"ssl_status,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Requested string `json:"requested_at"`
}

// ViewDomain is d as the API shows it.
func ViewDomain(d pool.CustomDomain) DomainView {
	return DomainView{Account: d.Slug, Hostname: d.Hostname, State: string(d.State), CFStatus: d.CFStatus, SSLStatus: d.SSLStatus,
		Reason: d.Reason, Requested: d.RequestedAt.UTC().Format("2006-01-02T15:04:05Z")}
}

// DomainOps are the custom-domain operations the admin API, the console, the CLI and the
// customer's domain page share. Nil when custom domains are off: every operation answers
// ErrDomainsOff.
type DomainOps struct {
	store   DomainStore
	tiers   pool.Tiers
	domains *Domains
	log     *slog.Logger
}

// NewDomainOps returns the operations; nil (off) when d or s is nil.
func NewDomainOps(s DomainStore, tiers pool.Tiers, d *Domains, log *slog.Logger) *DomainOps {
	if s == nil || d == nil {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DomainOps{store: s, tiers: tiers, domains: d, log: log}
}

// DomainsEnabled reports whether custom domains are configured.
func (a *API) DomainsEnabled() bool { return a.dops != nil }

// AttachDomain: see DomainOps.AttachDomain.
func (a *API) AttachDomain(ctx context.Context, ref, raw string) (pool.CustomDomain, error) {
	return a.dops.AttachDomain(ctx, ref, raw)
}

// DetachDomain: see DomainOps.DetachDomain.
func (a *API) DetachDomain(ctx context.Context, ref, hostname string) (pool.CustomDomain, error) {
	return a.dops.DetachDomain(ctx, ref, hostname)
}

// ListDomains: see DomainOps.ListDomains.
func (a *API) ListDomains(ctx context.Context, ref string) ([]pool.CustomDomain, error) {
	return a.dops.ListDomains(ctx, ref)
}

func (a *DomainOps) lookup(ctx context.Context, ref string) (pool.Account, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return a.store.Get(ctx, id)
	}
	return a.store.GetBySlug(ctx, ref)
}

// AttachDomain attaches raw (what the operator or the customer typed) to the account ref (id
// or slug): a valid public hostname, not the platform's, within the tier's allowance, not
// another tenant's. The contact for the DNS records and status e-mails is the account's
// order's customer; the domains loop does the rest. Bad input changes nothing.
func (a *DomainOps) AttachDomain(ctx context.Context, ref, raw string) (pool.CustomDomain, error) {
	if a == nil {
		return pool.CustomDomain{}, ErrDomainsOff
	}
	acc, err := a.lookup(ctx, ref)
	if err != nil {
		return pool.CustomDomain{}, err
	}
	return a.AttachDomainTo(ctx, acc, raw)
}

// AttachDomainTo is AttachDomain for an account already read (the customer's domain page).
func (a *DomainOps) AttachDomainTo(ctx context.Context, acc pool.Account, raw string) (pool.CustomDomain, error) {
	if a == nil {
		return pool.CustomDomain{}, ErrDomainsOff
	}
	host, err := pool.NormalizeHostname(raw, a.domains.Platform...)
	if err != nil {
		return pool.CustomDomain{}, &FieldError{Field: "hostname", Err: err}
	}
	t, err := a.tiers.Get(acc.Tier)
	if err != nil {
		return pool.CustomDomain{}, err
	}
	if t.CustomDomains == 0 {
		return pool.CustomDomain{}, fmt.Errorf("%w: tier %s includes no custom domain", errConflict, t.Name)
	}
	contact := ""
	if acc.OrderID != "" {
		if o, err := a.store.GetOrder(ctx, acc.OrderID); err == nil {
			contact = o.CustomerEmail
		}
	}
	d, created, err := a.store.AttachDomain(ctx, acc.ID, host, contact, t.CustomDomains)
	switch {
	case errors.Is(err, pool.ErrDomainTaken), errors.Is(err, pool.ErrDomainAllowance), errors.Is(err, pool.ErrNotSold):
		return pool.CustomDomain{}, fmt.Errorf("%w: %w", errConflict, err)
	case err != nil:
		return pool.CustomDomain{}, err
	}
	if created {
		a.log.Info("custom domain attached", "account", acc.Slug, "domain", host)
		if a.domains.Trigger != nil {
			a.domains.Trigger()
		}
	}
	return d, nil
}

// DetachDomain detaches hostname from the account ref: the domains loop applies the stack
// without it (no route, no Cloudflare custom hostname), then frees the name.
func (a *DomainOps) DetachDomain(ctx context.Context, ref, hostname string) (pool.CustomDomain, error) {
	if a == nil {
		return pool.CustomDomain{}, ErrDomainsOff
	}
	acc, err := a.lookup(ctx, ref)
	if err != nil {
		return pool.CustomDomain{}, err
	}
	return a.DetachDomainFrom(ctx, acc, hostname)
}

// DetachDomainFrom is DetachDomain for an account already read.
func (a *DomainOps) DetachDomainFrom(ctx context.Context, acc pool.Account, hostname string) (pool.CustomDomain, error) {
	if a == nil {
		return pool.CustomDomain{}, ErrDomainsOff
	}
	d, err := a.store.DetachDomain(ctx, acc.ID, hostname)
	if err != nil {
		return d, err
	}
	a.log.Info("custom domain detached", "account", acc.Slug, "domain", hostname)
	if a.domains.Trigger != nil {
		a.domains.Trigger()
	}
	return d, nil
}

// ListDomains lists the domains of the account ref, or of every account when ref is "".
func (a *DomainOps) ListDomains(ctx context.Context, ref string) ([]pool.CustomDomain, error) {
	if a == nil {
		return nil, ErrDomainsOff
	}
	if ref == "" {
		return a.store.ListDomains(ctx)
	}
	acc, err := a.lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	return a.store.AccountDomains(ctx, acc.ID)
}

func (a *API) listDomains(w http.ResponseWriter, r *http.Request) error {
	ds, err := a.ListDomains(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	out := make([]DomainView, 0, len(ds))
	for _, d := range ds {
		out = append(out, ViewDomain(d))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) attachDomain(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Hostname string `json:"hostname"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	d, err := a.AttachDomain(r.Context(), r.PathValue("account"), req.Hostname)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, ViewDomain(d))
	return nil
}

func (a *API) detachDomain(w http.ResponseWriter, r *http.Request) error {
	d, err := a.DetachDomain(r.Context(), r.PathValue("account"), r.PathValue("hostname"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, ViewDomain(d))
	return nil
}
