package domainpage

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/cfhostnames"
	"github.com/axiestudio/tenantpool/pool/control"
)

//go:embed templates/*.html
var files embed.FS

var page = template.Must(template.ParseFS(files, "templates/page.html"))

// Ops are the domain operations the page shares with the admin API (admin.API).
type Ops interface {
	AttachDomainTo(ctx context.Context, acc pool.Account, raw string) (pool.CustomDomain, error)
	DetachDomainFrom(ctx context.Context, acc pool.Account, hostname string) (pool.CustomDomain, error)
	ListDomains(ctx context.Context, ref string) ([]pool.CustomDomain, error)
}

// Config configures the page.
type Config struct {
	Signer *Signer
	Ops    Ops
	// Account reads an account (store.Get).
	Account func(ctx context.Context, id int64) (pool.Account, error)
	Tiers   pool.Tiers
	// Hostnames reads the DNS records Cloudflare asks for (pending domains); Target is the
	// CNAME target.
	Hostnames control.Hostnames
	Target    string
	Clock     quartz.Clock
	Log       *slog.Logger
}

// Page serves GET and POST Path.
type Page struct{ cfg Config }

// New checks cfg.
func New(cfg Config) (*Page, error) {
	if cfg.Signer == nil || cfg.Ops == nil || cfg.Account == nil || cfg.Target == "" {
		return nil, errors.New("domainpage: signer, ops, account and target are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = quartz.NewReal()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Page{cfg: cfg}, nil
}

// Routes are the page's routes for the public listener.
func (p *Page) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET " + Path:  http.HandlerFunc(p.serve),
		"POST " + Path: http.HandlerFunc(p.serve),
	}
}

type domainRow struct {
	Hostname, State, Reason string
	Records                 []delivery.DNSRecord
	Live                    bool
}

type view struct {
	Token, Slug, Tier string
	Allowance, Used   int
	Domains           []domainRow
	Message, Error    string
	CanAdd            bool
}

func (p *Page) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer") // the link is the credential
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	token := r.FormValue("t")
	id, err := p.cfg.Signer.Verify(token, p.cfg.Clock.Now())
	if err != nil {
		p.render(w, http.StatusForbidden, view{Error: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	acc, err := p.cfg.Account(ctx, id)
	if err != nil || acc.State == pool.StateRetired {
		p.render(w, http.StatusForbidden, view{Error: ErrBadLink.Error()})
		return
	}
	v := view{Token: token, Slug: acc.Slug, Tier: acc.Tier}
	code := http.StatusOK
	if r.Method == http.MethodPost {
		switch r.FormValue("action") {
		case "attach":
			d, err := p.cfg.Ops.AttachDomainTo(ctx, acc, r.FormValue("hostname"))
			if err != nil {
				code, v.Error = http.StatusBadRequest, customerError(err)
			} else {
				v.Message = d.Hostname + " is requested: create the DNS records below."
				p.cfg.Log.Info("custom domain requested by the customer", "account", acc.Slug, "domain", d.Hostname)
			}
		case "detach":
			if _, err := p.cfg.Ops.DetachDomainFrom(ctx, acc, r.FormValue("hostname")); err != nil {
				code, v.Error = http.StatusBadRequest, customerError(err)
			} else {
				v.Message = r.FormValue("hostname") + " is being removed."
			}
		default:
			code, v.Error = http.StatusBadRequest, "unknown action"
		}
	}
	if t, err := p.cfg.Tiers.Get(acc.Tier); err == nil {
		v.Allowance = t.CustomDomains
	}
	ds, err := p.cfg.Ops.ListDomains(ctx, acc.Slug)
	if err != nil {
		p.cfg.Log.Error("domain page", "account", acc.Slug, "err", err)
		p.render(w, http.StatusInternalServerError, view{Error: "something went wrong; try again later"})
		return
	}
	for _, d := range ds {
		if d.State == pool.DomainDetaching {
			continue
		}
		v.Used++
		row := domainRow{Hostname: d.Hostname, State: string(d.State), Live: d.State == pool.DomainActive}
		if d.State == pool.DomainFailed {
			row.Reason = d.Reason
		}
		if d.State == pool.DomainPending || d.State == pool.DomainRequested {
			row.Records = []delivery.DNSRecord{{Type: "CNAME", Name: d.Hostname, Value: p.cfg.Target}}
			if d.State == pool.DomainPending && p.cfg.Hostnames != nil {
				if h, err := p.cfg.Hostnames.Get(ctx, d.Hostname); err == nil {
					row.Records = control.Records(p.cfg.Target, d.Hostname, h)
				} else if !errors.Is(err, cfhostnames.ErrNotFound) {
					p.cfg.Log.Warn("domain page: cloudflare", "domain", d.Hostname, "err", err)
				}
			}
		}
		v.Domains = append(v.Domains, row)
	}
	v.CanAdd = v.Used < v.Allowance
	p.render(w, code, v)
}

// customerError is an operation's error as the customer may read it: input and conflict
// errors say what is wrong; anything else is generic (it may be internal).
func customerError(err error) string {
	switch admin.StatusCode(err) {
	case http.StatusBadRequest, http.StatusConflict, http.StatusNotFound:
		return err.Error()
	}
	return "something went wrong; try again later"
}

func (p *Page) render(w http.ResponseWriter, code int, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := page.Execute(w, v); err != nil {
		p.cfg.Log.Error("domain page render", "err", err)
	}
}
