// Package shop is the storefront: the pages and endpoints through which a customer buys a
// tier, and follows the order until the studio is ready.
//
//   - POST /buy/{tier} (form or JSON: interval, quantity, email) creates a Stripe Checkout
//     Session in subscription mode for the tier's price of that interval and redirects to it;
//   - GET /welcome?session_id=… is Stripe's success URL: the order's live state from the store,
//     turning ready without a reload (GET /welcome/status, polled by a few lines of plain JS);
//   - POST /billing opens the Stripe Customer Portal for the order's customer;
//   - GET /pricing and GET /pricing/snippet show the tiers with Buy buttons, the snippet as an
//     HTML fragment for the shop's own site.
//
// It only reads orders (the webhook, package orders, writes them) and never shows a password.
package shop

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v82"
	"golang.org/x/time/rate"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
)

// Store is what the storefront reads of the store.
type Store interface {
	GetOrder(ctx context.Context, id string) (store.Order, error)
	OrderAccounts(ctx context.Context, orderID string) ([]pool.Account, error)
}

var _ Store = (*store.Store)(nil)

// Defaults of Config.
const (
	DefaultMaxQuantity  = 50
	DefaultPollInterval = 2 * time.Second
	DefaultPriceTTL     = 10 * time.Minute
	// DefaultSessionRate and DefaultSessionBurst bound the Checkout and Customer Portal
	// sessions the storefront creates, all clients together.
	DefaultSessionRate  = rate.Limit(5)
	DefaultSessionBurst = 20
)

// Config configures the storefront.
type Config struct {
	Store Store
	Tiers pool.Tiers
	// Stripe is the API client (NewStripeClient).
	Stripe *stripe.Client
	// PublicURL is where customers reach the daemon's public listener (https://shop.example.com
	// or with a path prefix), without a trailing slash; the success URL and the snippet's forms
	// are built on it.
	PublicURL string
	// CancelURL is where Checkout sends a customer who goes back ("" = <PublicURL>/pricing).
	CancelURL string
	// MaxQuantity bounds the seats of one checkout (0 = DefaultMaxQuantity).
	MaxQuantity int
	// PollInterval is how often the welcome page asks for the order's state (0 = 2s).
	PollInterval time.Duration
	// PriceTTL is how long a price fetched from Stripe for the pricing page is kept (0 = 10m).
	PriceTTL time.Duration
	// SessionRate (per second) and SessionBurst bound the Stripe sessions created, all clients
	// together (0 = the defaults): a flood of buy requests gets 429 instead of spending the
	// Stripe account's API rate limit, which the webhook's own Stripe calls share.
	SessionRate  rate.Limit
	SessionBurst int
	// Now is the clock of the price cache (nil = time.Now).
	Now func() time.Time
	Log *slog.Logger
}

// Shop serves the storefront.
type Shop struct {
	cfg    Config
	cancel string
	pages  *template.Template
	assets fs.FS
	log    *slog.Logger

	sessions *rate.Limiter

	mu     sync.Mutex
	prices map[string]cachedPrice
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// New checks cfg and builds the storefront.
func New(cfg Config) (*Shop, error) {
	if cfg.Store == nil || cfg.Stripe == nil || len(cfg.Tiers) == 0 {
		return nil, errors.New("shop: store, Stripe client and tiers are required")
	}
	base, err := ParsePublicURL(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	cfg.PublicURL = base
	cancel := cfg.CancelURL
	if cancel == "" {
		cancel = base + "/pricing"
	} else if err := checkHTTPURL(cancel); err != nil {
		return nil, fmt.Errorf("cancel URL: %w", err)
	}
	if cfg.MaxQuantity == 0 {
		cfg.MaxQuantity = DefaultMaxQuantity
	}
	if cfg.MaxQuantity < 1 {
		return nil, fmt.Errorf("max quantity %d must be ≥ 1", cfg.MaxQuantity)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.PriceTTL <= 0 {
		cfg.PriceTTL = DefaultPriceTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionRate <= 0 {
		cfg.SessionRate = DefaultSessionRate
	}
	if cfg.SessionBurst <= 0 {
		cfg.SessionBurst = DefaultSessionBurst
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	pages, err := template.New("").Funcs(template.FuncMap{"title": title, "head": head, "memory": memory}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("shop templates: %w", err)
	}
	assets, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, err
	}
	return &Shop{cfg: cfg, cancel: cancel, pages: pages, assets: assets, log: cfg.Log.With("component", "shop"),
		prices: map[string]cachedPrice{}, sessions: rate.NewLimiter(cfg.SessionRate, cfg.SessionBurst)}, nil
}

// ParsePublicURL checks a public base URL (http or https, a host, no query or fragment) and
// returns it without a trailing slash.
func ParsePublicURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("the public URL is required (POOL_PUBLIC_URL, e.g. https://shop.example.com)")
	}
	if err := checkHTTPURL(raw); err != nil {
		return "", fmt.Errorf("public URL: %w", err)
	}
	u, _ := url.Parse(raw)
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("public URL %q: no query, fragment or user info", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an absolute http(s) URL", raw)
	}
	return nil
}

// NewStripeClient is the Stripe API client of the storefront: key is a secret (sk_test_…,
// sk_live_…) or restricted (rk_…) key; apiURL overrides Stripe's API base (tests: stripe-mock;
// "" = Stripe's); httpClient may be nil (stripe-go's default, with its timeouts).
func NewStripeClient(key, apiURL string, httpClient *http.Client) *stripe.Client {
	cfg := &stripe.BackendConfig{
		MaxNetworkRetries: stripe.Int64(2),
		// stripe-go's own logger is off: errors are logged once, by the caller, without secrets.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
		HTTPClient:    httpClient,
	}
	if apiURL != "" {
		cfg.URL = stripe.String(strings.TrimRight(apiURL, "/"))
	}
	return stripe.NewClient(key, stripe.WithBackends(stripe.NewBackendsWithConfig(cfg)))
}

// ValidateAPIKey checks the shape of a Stripe API key (never its value in an error).
func ValidateAPIKey(key string) error {
	for _, p := range []string{"sk_test_", "sk_live_", "rk_test_", "rk_live_"} {
		if strings.HasPrefix(key, p) && len(key) > len(p) && !strings.ContainsAny(key, " \t\r\n") {
			return nil
		}
	}
	return errors.New("not a Stripe secret or restricted API key (sk_test_…, sk_live_…, rk_…)")
}

// Routes are the storefront's handlers by ServeMux pattern, all for the public listener.
func (s *Shop) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"POST /buy/{tier}":     http.HandlerFunc(s.buy),
		"GET /welcome":         http.HandlerFunc(s.welcome),
		"GET /welcome/status":  http.HandlerFunc(s.status),
		"POST /billing":        http.HandlerFunc(s.billing),
		"GET /pricing":         http.HandlerFunc(s.pricing),
		"GET /pricing/snippet": http.HandlerFunc(s.snippet),
		"GET /shop/assets/":    http.StripPrefix("/shop/assets/", s.static()),
	}
}

// Mount registers Routes on mux.
func (s *Shop) Mount(mux *http.ServeMux) {
	for pattern, h := range s.Routes() {
		mux.Handle(pattern, h)
	}
}

func (s *Shop) static() http.Handler {
	files := http.FileServerFS(s.assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// pageHeaders are the headers of every HTML page: no caching of order state, nothing from
// elsewhere, and no Referer (a welcome URL carries the session id, which opens the billing
// portal) when the customer follows a link.
func pageHeaders(w http.ResponseWriter, frameable bool) {
	h := w.Header()
	csp := "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'"
	if !frameable {
		csp += "; frame-ancestors 'none'"
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

// render writes a page; a template error is logged (the header is already out).
func (s *Shop) render(w http.ResponseWriter, code int, name string, data any, frameable bool) {
	pageHeaders(w, frameable)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := s.pages.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("render page", "page", name, "err", err)
	}
}

// problem is a short error page (or JSON for JSON clients).
type problem struct {
	Title   string
	Message string
	Base    string
}

// busy answers 429 when the storefront has created its share of Stripe sessions for now.
func (s *Shop) busy(w http.ResponseWriter, r *http.Request) bool {
	if s.sessions.Allow() {
		return false
	}
	s.log.Warn("storefront busy: Stripe session rate reached", "path", r.URL.Path)
	w.Header().Set("Retry-After", "2")
	s.fail(w, r, http.StatusTooManyRequests, "Many customers are checking out right now; please try again in a moment.")
	return true
}

func (s *Shop) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if wantsJSON(r) {
		writeJSON(w, code, map[string]string{"error": msg})
		return
	}
	s.render(w, code, "problem.html", problem{Title: http.StatusText(code), Message: msg, Base: s.cfg.PublicURL}, false)
}

// head is the argument of the pages' shared head: the title and the base URL of assets.
func head(title, base string) map[string]string {
	return map[string]string{"Title": title, "Base": base}
}

// memory shows a tier's memory: "2 GB", or "1536 MB" when not whole gigabytes.
func memory(mb int) string {
	if mb >= 1024 && mb%1024 == 0 {
		return fmt.Sprintf("%d GB", mb/1024)
	}
	return fmt.Sprintf("%d MB", mb)
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
