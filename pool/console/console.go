// Package console is poold's operator web console, served under /console/ on the private
// (admin) listener: sign-in with an admin token, the pool per tier with its charts, mass
// create with live progress, the accounts with their health history and actions, orders (held
// ones resolved here), the health of sold tenants, and the CSV export.
//
// Pages are server-rendered html/template with embedded assets; every form works without
// JavaScript, and a little script polls the mass-create progress. Every change goes through the
// same operations as the JSON admin API (package admin), so both apply one set of rules.
//
// A session is a random cookie (HttpOnly, SameSite=Strict, Secure under TLS) naming a session
// kept in this replica's memory; it ends on sign-out or after IdleTimeout without a request.
// Every form carries the session's CSRF token and a POST without it changes nothing.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/business"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/store"
)

// Prefix is the path the console lives under; mount Handler there.
const Prefix = "/console/"

// DefaultIdleTimeout is how long a session lasts without a request.
const DefaultIdleTimeout = 30 * time.Minute

// PageSize is how many rows a list page shows.
const PageSize = 50

// Store is what the console reads and changes directly (the rest goes through Ops).
type Store interface {
	ConsoleAccounts(ctx context.Context, q store.AccountQuery) ([]store.AccountRow, bool, error)
	ConsoleAccount(ctx context.Context, id int64) (store.AccountRow, error)
	ConsoleOrders(ctx context.Context, q store.OrderQuery) ([]store.Order, bool, error)
	RecentEvents(ctx context.Context, limit int, kinds ...pool.EventKind) ([]store.EventRow, error)
	PoolHistory(ctx context.Context, end time.Time, step time.Duration, n int) (store.History, error)
	AccountEvents(ctx context.Context, id int64) ([]pool.AccountEvent, error)
	PlanChanges(ctx context.Context, accountID int64) ([]pool.PlanChange, error)
	Unflag(ctx context.Context, id int64, detail string) (bool, error)
	AddEvent(ctx context.Context, id int64, kind pool.EventKind, detail string) error
	Get(ctx context.Context, id int64) (pool.Account, error)
	GetOrder(ctx context.Context, id string) (store.Order, error)
	ReleaseHeld(ctx context.Context, orderID, tier string, seats int, prefix string, then ...jobs.Job) error
}

var _ Store = (*store.Store)(nil)

// Ops are the operator's operations shared with the JSON admin API (*admin.API).
type Ops interface {
	Status(ctx context.Context) ([]admin.TierStatus, error)
	Capacity(ctx context.Context) (pool.Capacity, error)
	Generations(ctx context.Context) (admin.Generations, error)
	OrdersEnabled() bool
	CreateBatch(ctx context.Context, tier, prefix string, count int) ([]pool.Account, error)
	Export(ctx context.Context, tier string, count int, all bool) ([]byte, []pool.Account, error)
	Retire(ctx context.Context, ref string, force, now bool) (pool.Account, pool.RetireHow, error)
	SetPaused(ctx context.Context, tier string, paused bool) error
	Resend(ctx context.Context, orderID string) (int, error)
	SetTier(ctx context.Context, ref, tier string) (pool.Account, pool.PlanChange, bool, error)
	SignIn(src, token string) (bool, time.Duration)
	Upgrades
	Brand(ctx context.Context, ref string) (admin.BrandView, error)
	SetBrand(ctx context.Context, ref string, b pool.Brand) (admin.BrandView, error)
}

var _ Ops = (*admin.API)(nil)

// DomainOps are the custom-domain operations shared with the admin API (*admin.API).
type DomainOps interface {
	AttachDomain(ctx context.Context, ref, raw string) (pool.CustomDomain, error)
	DetachDomain(ctx context.Context, ref, hostname string) (pool.CustomDomain, error)
	ListDomains(ctx context.Context, ref string) ([]pool.CustomDomain, error)
}

var _ DomainOps = (*admin.API)(nil)

// Reapplier re-applies a sold tenant's stack (pool.Tenants).
type Reapplier interface {
	Reapply(ctx context.Context, a pool.Account) error
}

// Business computes the business figures (*business.Service).
type Business interface {
	Report(ctx context.Context) (business.Report, error)
}

var _ Business = (*business.Service)(nil)

// Config configures the console.
type Config struct {
	Store Store
	Ops   Ops
	Tiers pool.Tiers
	// Prefix is the slug prefix a mass create proposes, and of a held order's on-demand
	// accounts.
	Prefix string
	// Tenants re-applies stacks; nil: re-apply answers that provisioning is not configured.
	Tenants Reapplier
	// Domains attaches and detaches custom domains; nil: custom domains are off (the account
	// page shows none).
	Domains DomainOps
	// Business gives the Business page its figures; nil: the page says they are not configured.
	Business Business
	// Trigger asks the reconciler for a pass (after a held order is released). Optional.
	Trigger func()
	// Secure marks the cookie Secure (the admin listener serves TLS).
	Secure bool
	// IdleTimeout ends a session after this long without a request (0: DefaultIdleTimeout).
	IdleTimeout time.Duration
	// Clock is the sessions' and the charts' clock (tests: a mock); nil: the real one.
	Clock quartz.Clock
	Log   *slog.Logger
}

// Console serves the pages.
type Console struct {
	cfg      Config
	sessions *sessions
	pages    map[string]*template.Template
	mux      *http.ServeMux
	log      *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// New checks cfg and returns the console.
func New(cfg Config) (*Console, error) {
	if cfg.Store == nil || cfg.Ops == nil {
		return nil, errors.New("console: a store and the admin operations are required")
	}
	if len(cfg.Tiers) == 0 {
		return nil, errors.New("console: no tiers configured")
	}
	if err := pool.ValidatePrefix(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = quartz.NewReal()
	}
	if cfg.Trigger == nil {
		cfg.Trigger = func() {}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Console{cfg: cfg, sessions: newSessions(cfg.Clock, cfg.IdleTimeout), log: cfg.Log}
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// routes is every route of the console.
func (c *Console) routes() {
	m := http.NewServeMux()
	assets, _ := fs.Sub(assetFS, "assets")
	m.Handle("GET /console/assets/", http.StripPrefix("/console/assets/", http.FileServerFS(assets)))
	m.HandleFunc("GET /console/signin", c.signInPage)
	m.HandleFunc("POST /console/signin", c.signIn)
	m.HandleFunc("POST /console/signout", c.auth(c.signOut))
	m.HandleFunc("GET /console/{$}", c.auth(func(w http.ResponseWriter, r *http.Request, _ *request) {
		http.Redirect(w, r, "/console/pool", http.StatusSeeOther)
	}))
	m.HandleFunc("GET /console/pool", c.auth(c.poolPage))
	m.HandleFunc("POST /console/tiers/{tier}/pause", c.auth(c.setPaused(true)))
	m.HandleFunc("POST /console/tiers/{tier}/resume", c.auth(c.setPaused(false)))
	m.HandleFunc("GET /console/create", c.auth(c.createPage))
	m.HandleFunc("POST /console/create", c.auth(c.create))
	m.HandleFunc("GET /console/create/{from}/{to}", c.auth(c.progressPage))
	m.HandleFunc("GET /console/create/{from}/{to}/progress.json", c.auth(c.progressJSON))
	m.HandleFunc("POST /console/create/{from}/{to}/cancel", c.auth(c.cancelBatch))
	m.HandleFunc("GET /console/accounts", c.auth(c.accountsPage))
	m.HandleFunc("GET /console/accounts/{id}", c.auth(c.accountPage))
	m.HandleFunc("GET /console/accounts/{id}/retire", c.auth(c.retirePage))
	m.HandleFunc("POST /console/accounts/{id}/retire", c.auth(c.retire))
	m.HandleFunc("POST /console/accounts/{id}/reapply", c.auth(c.reapply))
	m.HandleFunc("POST /console/accounts/{id}/brand", c.auth(c.saveBrand))
	m.HandleFunc("POST /console/accounts/{id}/tier", c.auth(c.setTier))
	m.HandleFunc("POST /console/accounts/{id}/unflag", c.auth(c.unflag))
	m.HandleFunc("POST /console/accounts/{id}/resend", c.auth(c.resendAccount))
	m.HandleFunc("POST /console/accounts/{id}/domains", c.auth(c.attachDomain))
	m.HandleFunc("POST /console/accounts/{id}/domains/detach", c.auth(c.detachDomain))
	m.HandleFunc("GET /console/orders", c.auth(c.ordersPage))
	m.HandleFunc("POST /console/orders/{id}/release", c.auth(c.releaseOrder))
	m.HandleFunc("POST /console/orders/{id}/resend", c.auth(c.resendOrder))
	m.HandleFunc("GET /console/health", c.auth(c.healthPage))
	m.HandleFunc("GET /console/upgrades", c.auth(c.upgradesPage))
	m.HandleFunc("POST /console/upgrades", c.auth(c.startUpgrade))
	m.HandleFunc("POST /console/upgrades/{id}/pause", c.auth(c.setUpgrade("pause")))
	m.HandleFunc("POST /console/upgrades/{id}/resume", c.auth(c.setUpgrade("resume")))
	m.HandleFunc("POST /console/upgrades/{id}/abort", c.auth(c.setUpgrade("abort")))
	m.HandleFunc("GET /console/export", c.auth(c.exportPage))
	m.HandleFunc("POST /console/export", c.auth(c.export))
	m.HandleFunc("GET /console/business", c.auth(c.businessPage))
	m.HandleFunc("GET /console/business.csv", c.auth(c.businessCSV))
	m.HandleFunc("GET /console/business.css", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		io.WriteString(w, business.CSS)
	})
	c.mux = m
}

// Handler returns the console's handler; mount it at Prefix.
func (c *Console) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		c.mux.ServeHTTP(w, r)
	})
}

// request is a signed-in request's session.
type request struct {
	sess *session
	key  [32]byte
}

// auth wraps a handler that needs a session: without one, GETs go to the sign-in page (which
// says when the session expired) and everything else is 401/403; a POST without the
// session's CSRF token is 403 and changes nothing.
func (c *Console) auth(h func(http.ResponseWriter, *http.Request, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, key, expired := c.sessions.lookup(r)
		if sess == nil {
			if expired {
				c.clearCookie(w)
			}
			if r.Method == http.MethodGet && r.URL.Path != "" && !isJSON(r) {
				to := "/console/signin?next=" + urlQueryEscape(r.URL.RequestURI())
				if expired {
					to += "&expired=1"
				}
				http.Redirect(w, r, to, http.StatusSeeOther)
				return
			}
			msg := "Not signed in: sign in again at /console/signin."
			if expired {
				msg = "Your session expired after a while without activity: sign in again at /console/signin."
			}
			http.Error(w, msg, http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil || !csrfOK(sess, r.PostForm.Get("csrf")) {
				c.log.Warn("console form refused: missing or wrong CSRF token", "path", r.URL.Path, "remote", r.RemoteAddr)
				http.Error(w, "This form is out of date or did not come from the console (CSRF check failed): reload the page and try again.", http.StatusForbidden)
				return
			}
		}
		h(w, r, &request{sess: sess, key: key})
	}
}

func isJSON(r *http.Request) bool {
	return len(r.URL.Path) > 5 && r.URL.Path[len(r.URL.Path)-5:] == ".json"
}

func (c *Console) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: Prefix, HttpOnly: true, Secure: c.cfg.Secure,
		SameSite: http.SameSiteStrictMode})
}

func (c *Console) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, MaxAge: -1, HttpOnly: true, Secure: c.cfg.Secure,
		SameSite: http.SameSiteStrictMode})
}

// redirect answers a form with 303 to a page, which shows msg once.
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, rq *request, to, msg string) {
	if msg != "" {
		c.sessions.setFlash(rq.key, msg)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
