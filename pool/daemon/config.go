// Package daemon is the composition root of poold: one parsed [Config], [New] wires the store,
// the tenants, the reconciler, the prober, the job workers, the Stripe orders, the admin API and
// the metrics together, and [Daemon.Run] serves until its context ends. `poold serve` and the
// tests that run real daemon processes both go through it; the command line only turns flags
// and environment into a Config.
package daemon

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/store"
)

// ErrNotConfigured marks a daemon that cannot provision: it still serves, sells what is ready
// and delivers, but does not top the pool up.
var ErrNotConfigured = errors.New("provisioning is not configured")

// Config is everything the daemon runs with, parsed and validated by its caller.
type Config struct {
	// Store is where the pool lives (SQLite in a data dir, or PostgreSQL).
	Store store.Options
	Tiers pool.Tiers
	// Prefix is the slug prefix of new accounts.
	Prefix string
	// Tenants builds what acts on tenants once the store is open. An error wrapping
	// ErrNotConfigured makes a daemon that serves without provisioning.
	Tenants func(ctx context.Context, s *store.Store) (pool.Tenants, error)
	// Flows are the starter flows of each tier (by name), from the tiers' starter_flows
	// directories: the account_flows jobs (`poold tenants flows`) import them into existing
	// studios through each tenant's Langflow API. New studios get them from the provisioner.
	Flows map[string][]langflow.Flow
	// Rotate gives a customer a new password at a tenant when Tenants is not configured (the
	// tenant's own Langflow API); nil: langflow's default gate.
	Rotate func(ctx context.Context, a pool.Account, password string) error
	// Hosts lists the Docker hosts tenants run on. With it, the reconcile leader runs the stray
	// pass (strays.go) every StrayInterval (default 5m), removing tenant containers of retired,
	// failed or unknown accounts older than StrayGrace (default 10m). Nil: no stray pass.
	Hosts                     func(ctx context.Context) ([]platform.Host, error)
	StrayInterval, StrayGrace time.Duration

	// Listen is the public listener's address (the Stripe webhook, the storefront), AdminListen
	// the operator's (admin API, /metrics, /readyz), loopback in the default configuration.
	Listen, AdminListen string
	// TLS and AdminTLS: certificate and key files of each listener (empty: plain HTTP).
	TLS, AdminTLS TLSFiles
	// HTTP bounds both listeners' clients (zero fields: DefaultHTTPLimits).
	HTTP HTTPLimits
	// MetricsCache is how long one database read serves /metrics scrapes (0:
	// metrics.DefaultCacheTTL).
	MetricsCache time.Duration

	ReconcileSchedule    string        // robfig/cron schedule of reconcile passes
	ProvisionConcurrency int           // concurrent provisioning jobs in this process
	StuckTimeout         time.Duration // provisioning this long after its job first started fails the account
	HardFailureLimit     int           // consecutive failures that stop a tier
	ShutdownTimeout      time.Duration // on shutdown, running jobs get this long
	// SuspendGrace is how long a sold account the operator retires through the admin API (with
	// force, without now) is kept suspended before it is destroyed; 0 is
	// pool.DefaultSuspendGrace. (A cancelled subscription's grace is Orders.Grace.)
	SuspendGrace time.Duration
	// DowngradeNotice is how long a sold account moved to a tier with fewer custom domains keeps
	// the excess ones (POOL_DOWNGRADE_NOTICE); 0 is pool.DefaultDowngradeNotice.
	DowngradeNotice time.Duration

	Probe Probe
	// Orders configures Stripe orders; nil turns them off (manual sales only).
	Orders *Orders
	// Shop configures the storefront; nil turns it off.
	Shop *Shop
	// Domains configures custom domains; nil turns them off.
	Domains *Domains
	// Mail is the SMTP server and templates of every e-mail (orders, operator alerts); required
	// by Orders and OperatorEmail.
	Mail *Mail
	// OperatorEmail receives an alert for every flagged tenant ("" = none).
	OperatorEmail string
	// AdminTokens enable the admin API and the operator console (empty: off).
	AdminTokens []string
	// ConsoleIdle ends a console session after this long without a request (0:
	// console.DefaultIdleTimeout).
	ConsoleIdle time.Duration

	Jobs Jobs
	Log  *slog.Logger
}

// Probe configures the sold tenants' health probe.
type Probe struct {
	Schedule    string // robfig/cron schedule, or "off"
	Threshold   int
	Concurrency int
	Timeout     time.Duration
}

// Orders configures Stripe orders.
type Orders struct {
	Secrets        []string          // webhook signing secrets
	Prices         map[string]string // price or payment link id → tier
	Grace          time.Duration     // suspended tenants are destroyed after this
	StripeAPIKey   string            // sk_…: line items of paid sessions are read with it; secret
	StripeAPIURL   string            // API base override ("" = Stripe's)
	Livemode       bool              // the mode events must be in
	MaxSeats       int               // the largest quantity one order claims
	PastDueGrace   time.Duration     // a past_due subscription's tenant runs this long
	PaymentTerm    time.Duration     // a one-time payment's tenant runs this long
	SupportContact string
	UpsellURL      string
	BillingURL     string
}

// Mail is the SMTP server and templates.
type Mail struct {
	SMTP      delivery.Config
	Templates *delivery.Templates
}

// Jobs tunes the job client (tests: a fast retry policy, a short poll, fewer attempts).
type Jobs struct {
	PollInterval time.Duration
	RetryPolicy  river.ClientRetryPolicy
	Registry     jobs.Registry
}

// hostCapacities lists the hosts as the capacity signal sees them (Hosts; nil when there is
// none or it lists none: the hosts' capacity is unknown).
func (c Config) hostCapacities() func(ctx context.Context) ([]pool.HostCapacity, error) {
	return func(ctx context.Context) ([]pool.HostCapacity, error) {
		if c.Hosts == nil {
			return nil, nil
		}
		hs, err := c.Hosts(ctx)
		if err != nil {
			return nil, err
		}
		var out []pool.HostCapacity
		for _, h := range hs {
			out = append(out, pool.HostCapacity{Name: h.Name, Capacity: h.Capacity})
		}
		return out, nil
	}
}
