// Package admin is poold's operator HTTP API under /admin/v1/: list accounts and orders, batch
// create, export (which reserves), manual claim, retire, pause/resume a tier, resend an order's
// e-mail, status. Every request needs a bearer token; without a valid one the answer is a fixed
// 401 whatever the path, so an unauthenticated caller learns nothing about the routes. Failed
// attempts are limited per source address (FailureLimit): past the limit, 429 with Retry-After.
//
// The validators (ValidateBatch, ValidateExport, ValidateClaim, …) and the CSV writer are the
// rules the CLI applies too, so the API and `poold` accept and produce the same things.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/store"
)

// Prefix is the path every route of the API lives under; mount Handler there.
const Prefix = "/admin/"

// MinTokenLen is the shortest token New accepts; minDistinct the fewest different characters
// (a token of one repeated character is no secret however long).
const (
	MinTokenLen = 32
	minDistinct = 10
)

// TokenHint tells how to make a good token.
const TokenHint = "generate one with: head -c 32 /dev/urandom | base64"

// Store is what the API needs of the store.
type Store interface {
	CreateAccounts(ctx context.Context, tier, prefix string, n int) ([]pool.Account, error)
	List(ctx context.Context, f store.Filter) ([]pool.Account, error)
	Get(ctx context.Context, id int64) (pool.Account, error)
	GetBySlug(ctx context.Context, slug string) (pool.Account, error)
	Reserve(ctx context.Context, tier string, n int, write func([]pool.Account) error) ([]pool.Account, error)
	Claim(ctx context.Context, tier, orderID string, then ...jobs.Job) (pool.Account, bool, error)
	DeliveryPassword(ctx context.Context, key, orderID string, accountID int64) (string, error)
	SetCustomerPassword(ctx context.Context, id int64, password string) error
	RequestRetire(ctx context.Context, id int64, req store.RetireRequest) (pool.Account, pool.RetireHow, error)
	SetPaused(ctx context.Context, tier string, paused bool) error
	Counts(ctx context.Context) (map[string]map[pool.State]int, map[string]store.TierStatus, error)
	ListOrders(ctx context.Context, f store.OrderFilter) ([]store.Order, error)
	GetOrder(ctx context.Context, id string) (store.Order, error)
	GenerationCounts(ctx context.Context) ([]pool.GenerationCount, error)
	StaleReserved(ctx context.Context, current map[string]string) ([]pool.Account, error)
	UpgradeStore
	Brand(ctx context.Context, id int64) (pool.Brand, error)
	SetBrand(ctx context.Context, id int64, b pool.Brand, check func(tier string) error) (store.BrandSaved, error)
	EnqueueFlows(ctx context.Context, tier string) (int, error)
	Capacity(ctx context.Context, now time.Time, tiers pool.Tiers, hosts []pool.HostCapacity) (pool.Capacity, error)
	ChangePlan(ctx context.Context, accountID int64, req store.PlanRequest) (pool.PlanChange, bool, error)
	HeldPlanChanges(ctx context.Context, limit int) ([]pool.PlanChange, error)
}

var _ Store = (*store.Store)(nil)

// Config configures the API.
type Config struct {
	Store Store
	Tiers pool.Tiers
	// Prefix is the slug prefix of a batch that names none.
	Prefix string
	// Tokens are the accepted bearer tokens (several while one rolls). At least one is
	// required, each at least MinTokenLen characters without spaces. They are kept only as
	// SHA-256 digests and never logged.
	Tokens []string
	// Resend queues an order's credentials e-mail again and returns the resend's number
	// (orders.Service.Resend). nil: orders are not configured and resend answers 503.
	Resend func(ctx context.Context, orderID string) (int, error)
	// Tenants rotates the customer password of a manually claimed account (its tenant's own
	// Langflow). nil: manual claims answer 503.
	Tenants pool.Tenants
	// Trigger asks the reconciler for a pass after the pool changed (claim, export, batch,
	// retire, resume). Optional.
	Trigger func()
	// Grace is how long a sold account retired with "force" (and without "now") is kept
	// suspended before it is destroyed; default pool.DefaultSuspendGrace (POOL_SUSPEND_GRACE).
	Grace time.Duration
	// DowngradeNotice is how long a downgraded account keeps custom domains beyond its new
	// tier's allowance (POOL_DOWNGRADE_NOTICE; default 72h).
	DowngradeNotice time.Duration
	// Failures limits failed authentications per source address (zero fields:
	// DefaultFailureLimit).
	Failures FailureLimit
	// Business computes the business figures (GET /admin/v1/business and business.csv); nil:
	// those answer 503.
	Business Business
	// Rollouts asks the rolling upgrade driver for a pass (after a start or resume). Optional.
	Rollouts func()
	// Domains are the custom-domain operations (NewDomainOps; nil: off).
	Domains *DomainOps
	// Hosts lists the Docker hosts and their capacity, for the capacity signal (Capacity,
	// Status); nil, empty or failing: the hosts' capacity is unknown.
	Hosts func(ctx context.Context) ([]pool.HostCapacity, error)
	// Now is the clock of the failure limit and of the sales windows (tests); nil: time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// API serves the admin routes.
type API struct {
	store    Store
	tiers    pool.Tiers
	prefix   string
	tokens   [][sha256.Size]byte
	resend   func(ctx context.Context, orderID string) (int, error)
	tenants  pool.Tenants
	trigger  func()
	rollouts func()
	grace    time.Duration
	notice   time.Duration
	fails    *failures
	business Business
	dops     *DomainOps
	log      *slog.Logger
	mux      *http.ServeMux
	hosts    func(ctx context.Context) ([]pool.HostCapacity, error)
	now      func() time.Time
}

// CheckTokens validates admin tokens: at least one, each MinTokenLen long or more, of at least
// 10 different characters, without spaces or control characters. The messages name a token's
// position, never its content.
func CheckTokens(tokens []string) error {
	if len(tokens) == 0 {
		return errors.New("admin: no token configured")
	}
	var errs []error
	for i, t := range tokens {
		if len(t) < MinTokenLen {
			errs = append(errs, fmt.Errorf("admin: token %d is shorter than %d characters (%s)", i+1, MinTokenLen, TokenHint))
		} else if distinct(t) < minDistinct {
			errs = append(errs, fmt.Errorf("admin: token %d has fewer than %d different characters: it is not random (%s)", i+1, minDistinct, TokenHint))
		}
		if strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			errs = append(errs, fmt.Errorf("admin: token %d contains spaces or control characters", i+1))
		}
	}
	return errors.Join(errs...)
}

func distinct(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[r] = true
	}
	return len(seen)
}

// ParseTokens splits a POOL_ADMIN_TOKEN value (or a token file) into tokens: separated by
// commas or newlines, surrounding space trimmed, empty entries dropped.
func ParseTokens(s string) []string {
	var out []string
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// New checks cfg and returns the API. Without a token it fails: the daemon then does not mount
// the API at all.
func New(cfg Config) (*API, error) {
	if cfg.Store == nil {
		return nil, errors.New("admin: a store is required")
	}
	if len(cfg.Tiers) == 0 {
		return nil, errors.New("admin: no tiers configured")
	}
	if err := pool.ValidatePrefix(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if err := CheckTokens(cfg.Tokens); err != nil {
		return nil, err
	}
	a := &API{store: cfg.Store, tiers: cfg.Tiers, prefix: cfg.Prefix, resend: cfg.Resend, tenants: cfg.Tenants, trigger: cfg.Trigger,
		grace: cfg.Grace, notice: cfg.DowngradeNotice, fails: newFailures(cfg.Failures, cfg.Now), business: cfg.Business, dops: cfg.Domains, log: cfg.Log,
		hosts: cfg.Hosts, now: cfg.Now}
	if a.now == nil {
		a.now = time.Now
	}
	if a.grace <= 0 {
		a.grace = pool.DefaultSuspendGrace
	}
	if a.notice <= 0 {
		a.notice = pool.DefaultDowngradeNotice
	}
	for _, t := range cfg.Tokens {
		a.tokens = append(a.tokens, sha256.Sum256([]byte(t)))
	}
	if a.trigger == nil {
		a.trigger = func() {}
	}
	if a.rollouts = cfg.Rollouts; a.rollouts == nil {
		a.rollouts = func() {}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.routes()
	return a, nil
}

func (a *API) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /admin/v1/status", a.handle(a.status))
	m.HandleFunc("GET /admin/v1/generations", a.handle(a.generations))
	m.HandleFunc("GET /admin/v1/accounts", a.handle(a.listAccounts))
	m.HandleFunc("POST /admin/v1/accounts/batch", a.handle(a.batch))
	m.HandleFunc("POST /admin/v1/accounts/{account}/retire", a.handle(a.retire))
	m.HandleFunc("POST /admin/v1/accounts/{account}/tier", a.handle(a.setTier))
	m.HandleFunc("GET /admin/v1/plans/held", a.handle(a.heldPlans))
	m.HandleFunc("POST /admin/v1/export", a.handle(a.export))
	m.HandleFunc("POST /admin/v1/claim", a.handle(a.claim))
	m.HandleFunc("POST /admin/v1/tiers/{tier}/pause", a.handle(a.setPaused(true)))
	m.HandleFunc("POST /admin/v1/tiers/{tier}/resume", a.handle(a.setPaused(false)))
	m.HandleFunc("GET /admin/v1/accounts/{account}/brand", a.handle(a.getBrand))
	m.HandleFunc("PUT /admin/v1/accounts/{account}/brand", a.handle(a.putBrand))
	m.HandleFunc("POST /admin/v1/tiers/{tier}/flows", a.handle(a.tierFlows))
	m.HandleFunc("GET /admin/v1/orders", a.handle(a.listOrders))
	m.HandleFunc("POST /admin/v1/orders/{order}/resend", a.handle(a.resendOrder))
	m.HandleFunc("GET /admin/v1/domains", a.handle(a.listDomains))
	m.HandleFunc("GET /admin/v1/accounts/{account}/domains", a.handle(a.listDomains))
	m.HandleFunc("POST /admin/v1/accounts/{account}/domains", a.handle(a.attachDomain))
	m.HandleFunc("DELETE /admin/v1/accounts/{account}/domains/{hostname}", a.handle(a.detachDomain))
	m.HandleFunc("GET /admin/v1/business", a.handle(a.businessJSON))
	m.HandleFunc("GET /admin/v1/business.csv", a.handle(a.businessCSV))
	m.HandleFunc("GET /admin/v1/upgrades", a.handle(a.listUpgrades))
	m.HandleFunc("POST /admin/v1/upgrades", a.handle(a.startUpgrade))
	m.HandleFunc("GET /admin/v1/upgrades/{upgrade}", a.handle(a.getUpgrade))
	m.HandleFunc("POST /admin/v1/upgrades/{upgrade}/pause", a.handle(a.setUpgrade("pause")))
	m.HandleFunc("POST /admin/v1/upgrades/{upgrade}/resume", a.handle(a.setUpgrade("resume")))
	m.HandleFunc("POST /admin/v1/upgrades/{upgrade}/abort", a.handle(a.setUpgrade("abort")))
	a.mux = m
}

// Handler returns the API's handler; mount it at Prefix ("/admin/").
func (a *API) Handler() http.Handler { return http.HandlerFunc(a.serveHTTP) }

func (a *API) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	src := source(r)
	if wait := a.fails.blocked(src); wait > 0 {
		// Too many failures from here: nothing is compared, not even a valid token, so guessing
		// goes no faster than the limit.
		a.log.Debug("admin request refused: too many failed attempts", "remote", src, "retry_after", wait)
		h.Set("Retry-After", strconv.Itoa(retryAfter(wait)))
		writeJSON(w, http.StatusTooManyRequests, errorBody{Error: "too many failed attempts"})
		return
	}
	if !a.authorized(r) {
		a.fails.fail(src)
		a.log.Warn("admin request unauthorized", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		h.Set("WWW-Authenticate", `Bearer realm="poold-admin"`)
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "unauthorized"})
		return
	}
	handler, pattern := a.mux.Handler(r)
	if pattern == "" {
		// The mux's own 404 or 405 (with Allow), answered in JSON.
		rec := &statusRecorder{header: http.Header{}}
		handler.ServeHTTP(rec, r)
		if rec.code < 400 {
			rec.code = http.StatusNotFound
		}
		if allow := rec.header.Get("Allow"); allow != "" {
			h.Set("Allow", allow)
		}
		writeJSON(w, rec.code, errorBody{Error: strings.ToLower(http.StatusText(rec.code))})
		return
	}
	a.mux.ServeHTTP(w, r)
}

// authorized compares the bearer token with every configured one in constant time: both sides
// are SHA-256 digests (equal lengths), and every token is compared whatever matched before.
func (a *API) authorized(r *http.Request) bool {
	var presented string
	if vs := r.Header.Values("Authorization"); len(vs) == 1 {
		if scheme, tok, ok := strings.Cut(vs[0], " "); ok && strings.EqualFold(scheme, "Bearer") {
			presented = tok
		}
	}
	return a.tokenOK(presented)
}

// tokenOK compares a presented token with every configured one in constant time.
func (a *API) tokenOK(presented string) bool {
	sum := sha256.Sum256([]byte(presented))
	match := 0
	for _, want := range a.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], want[:])
	}
	return match == 1 && presented != ""
}

// statusRecorder captures the status and headers of the mux's fallback handlers.
type statusRecorder struct {
	header http.Header
	code   int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return len(b), nil
}
func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}
