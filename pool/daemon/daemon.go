package daemon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/sync/errgroup"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/business"
	"github.com/axiestudio/tenantpool/pool/console"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/metrics"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/store"
)

// Daemon is a wired poold, ready to Run.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	topUp   bool // provisioning configured: reconcile and probe
	rec     *control.Reconciler
	prober  *control.Prober  // nil: probe off
	domains *control.Domains // nil: custom domains off
	upgrade *control.Rollouts
	jobs    *river.Client[*sql.Tx]
	id      string       // the job client's id, under which this process's heartbeat is written
	public  http.Handler // the public listener's routes
	private http.Handler // the admin listener's routes
	lns     []*listener  // opened by Listen
}

// New opens the store and wires every part of the daemon. On SQLite it takes the data dir's
// lock (one daemon per data dir) and makes the jobs its dead predecessor left running available
// again at once. It serves nothing until Run.
func New(ctx context.Context, cfg Config) (d *Daemon, err error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	d = &Daemon{cfg: cfg, log: cfg.Log, id: newProcessID()}
	s, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	d.store = s
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	leader, err := d.leadership(ctx)
	if err != nil {
		return nil, err
	}
	tenants, err := cfg.Tenants(ctx, s)
	d.topUp = err == nil
	if errors.Is(err, ErrNotConfigured) {
		// Still worth running: it sells what is ready, delivers, and answers the operator.
		d.log.Error("the pool will not be topped up", "err", err)
		tenants = unconfigured{err: err, rotate: cfg.rotate()}
	} else if err != nil {
		return nil, err
	}

	biz := business.New(s, cfg.Tiers, nil)
	hosts := cfg.hostCapacities()
	m := metrics.New(s, cfg.Tiers, cfg.HardFailureLimit, d.log, metrics.WithCacheTTL(cfg.MetricsCache),
		metrics.WithBusiness(biz, 0), metrics.WithCapacity(func(ctx context.Context) (pool.Capacity, error) {
			hs, err := hosts(ctx)
			if err != nil {
				d.log.Warn("capacity: the host list is unavailable", "err", err)
				hs = nil
			}
			return s.Capacity(ctx, time.Now(), cfg.Tiers, hs)
		}, 0))
	s.ObserveClaims(m.ObserveClaim)
	if leader != nil {
		tryLead := leader
		leader = func(ctx context.Context) (bool, error) {
			ok, err := tryLead(ctx)
			m.SetLeader(ok)
			return ok, err
		}
	} else if d.topUp {
		m.SetLeader(true)
	}
	registry := cfg.Jobs.Registry
	if registry == nil {
		registry = jobs.Default()
	}
	strays := newStrayPass(cfg, s, m, d.log)
	plan := pool.DefaultPlanConfig()
	plan.HardFailureLimit = cfg.HardFailureLimit
	d.rec, err = control.NewReconciler(control.ReconcilerConfig{
		Store: s, Tiers: cfg.Tiers, Plan: plan, Prefix: cfg.Prefix, StuckTimeout: cfg.StuckTimeout,
		Schedule: cfg.ReconcileSchedule, Leader: leader, Log: d.log, Build: tenants.Build,
		Maintain: func(ctx context.Context) error { return errors.Join(d.rescueShortJobs(ctx, registry), strays.run(ctx)) },
	})
	if err != nil {
		return nil, err
	}
	plans, err := newPlans(cfg, s)
	if err != nil {
		return nil, err
	}
	wcfg := control.WorkerConfig{Store: s, Tenants: tenants, Tiers: cfg.Tiers, Log: d.log,
		ProvisionConcurrency: cfg.ProvisionConcurrency, ObserveProvision: m.ObserveProvision,
		Registry: registry, RetryPolicy: cfg.Jobs.RetryPolicy, PollInterval: cfg.Jobs.PollInterval, ClientID: d.id,
		ImportFlows: cfg.importFlows(), Record: s.AddEvent,
		Plans: plans}

	if d.upgrade, err = control.NewRollouts(control.RolloutConfig{Store: s, Tenants: tenants, Log: d.log.With("component", "rollout"),
		// The reconcile leader drives rolling upgrades (asking the reconciler, not the lock again).
		Leader: func(context.Context) (bool, error) { return d.rec.Leading(), nil }}); err != nil {
		return nil, err
	}
	r := routes{store: s, rec: d.rec, topUp: d.topUp, metrics: m, log: d.log, public: map[string]http.Handler{}}
	dp := &domainParts{}
	switch {
	case cfg.Domains != nil && d.topUp:
		if dp, err = newDomains(cfg, s, tenants, d.rec.Leading, r.public); err != nil {
			return nil, err
		}
		d.domains = dp.loop
		plans.Domains = domainDetacher{s: s, trigger: dp.loop.Trigger} // a downgrade detaches the excess
	case cfg.Domains != nil:
		d.log.Warn("custom domains disabled: they need provisioning configured (POOL_LANGFLOW_IMAGE)")
	}
	var resend func(context.Context, string) (int, error)
	if cfg.Orders != nil {
		svc, err := newOrders(cfg, s, tenants, d.rec.Trigger, m.ObserveEmail, dp.link)
		if err != nil {
			return nil, err
		}
		wcfg.Configure = svc.Register
		r.webhook = svc.Handler()
		resend = svc.Resend
	} else {
		d.log.Warn("Stripe orders disabled: POOL_STRIPE_WEBHOOK_SECRET is not set (manual sales only)")
	}
	if err := newShop(cfg, s, r.public); err != nil {
		return nil, err
	}
	if len(cfg.AdminTokens) > 0 {
		api, err := admin.New(admin.Config{Store: s, Tiers: cfg.Tiers, Prefix: cfg.Prefix, Tokens: cfg.AdminTokens,
			Resend: resend, Tenants: tenants, Trigger: d.rec.Trigger, Grace: cfg.SuspendGrace, DowngradeNotice: cfg.DowngradeNotice, Business: biz, Hosts: hosts, Domains: dp.ops, Log: d.log,
			Rollouts: d.upgrade.Trigger})
		if err != nil {
			return nil, err
		}
		r.admin = api.Handler()
		var doms console.DomainOps
		if api.DomainsEnabled() {
			doms = api
		}
		con, err := console.New(console.Config{Store: s, Ops: api, Tiers: cfg.Tiers, Prefix: cfg.Prefix, Tenants: tenants, Domains: doms,
			Business: biz, Trigger: d.rec.Trigger, Secure: cfg.AdminTLS.Enabled(), IdleTimeout: cfg.ConsoleIdle, Log: d.log.With("component", "console")})
		if err != nil {
			return nil, err
		}
		r.console = con.Handler()
	} else {
		d.log.Warn("admin API and console disabled: POOL_ADMIN_TOKEN is not set")
	}
	d.public, d.private = r.publicMux(), r.privateMux()
	if d.jobs, err = control.NewJobClient(s.Driver(), wcfg); err != nil {
		return nil, err
	}
	if d.topUp {
		if d.prober, err = newProber(cfg, s, tenants, d.rec, m); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// leadership decides who reconciles: on PostgreSQL the replicas take turns through an advisory
// lock (the returned func); on SQLite this process must hold the data dir, or New fails.
func (d *Daemon) leadership(ctx context.Context) (func(context.Context) (bool, error), error) {
	s := d.store
	if s.Postgres() {
		return s.TryLead, nil // replicas share the database; one leads, the others stand by
	}
	ok, err := s.TryLead(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("another poold is already serving data dir %s (SQLite allows one daemon); stop it or use PostgreSQL for replicas", d.cfg.Store.DataDir)
	}
	// We hold the data dir: whatever is still "running" belonged to a process that died.
	n, err := s.RescueJobs(ctx, nil, time.Now().Add(time.Hour))
	if err != nil {
		return nil, err
	}
	if n > 0 {
		d.log.Warn("resumed jobs the previous process left running", "count", n)
	}
	return nil, nil
}

// rescueShortJobs runs on the leader before every pass: jobs of the kinds whose attempts are
// short, still "running" past their kind's rescue threshold, belong to a replica that died and
// are retried now, not after the long threshold river applies to every kind.
func (d *Daemon) rescueShortJobs(ctx context.Context, registry jobs.Registry) error {
	var errs []error
	for after, kinds := range registry.RescueGroups() {
		n, err := d.store.RescueJobs(ctx, kinds, time.Now().Add(-after))
		if n > 0 {
			d.log.Warn("rescued jobs of a process that died", "count", n, "kinds", kinds)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// PublicHandler is what the public listener serves; AdminHandler what the admin listener
// serves (tests serve them themselves).
func (d *Daemon) PublicHandler() http.Handler { return d.public }

// AdminHandler is what the admin (private) listener serves.
func (d *Daemon) AdminHandler() http.Handler { return d.private }

// Listen opens the public (cfg.Listen) and the admin (cfg.AdminListen) listeners, with TLS
// where configured. Run calls it when it has not been called; tests call it first to learn the
// addresses (port 0).
func (d *Daemon) Listen() error {
	if d.lns != nil {
		return nil
	}
	if d.cfg.Listen == "" || d.cfg.AdminListen == "" {
		return errors.New("both a public (--listen) and an admin (--admin-listen) address are required")
	}
	limits := d.cfg.HTTP.withDefaults()
	pub, err := listen("public", "--listen", d.cfg.Listen, d.cfg.TLS, d.public, limits, d.log)
	if err != nil {
		return err
	}
	priv, err := listen("admin", "--admin-listen", d.cfg.AdminListen, d.cfg.AdminTLS, d.private, limits, d.log)
	if err != nil {
		pub.ln.Close()
		return err
	}
	d.lns = []*listener{pub, priv}
	return nil
}

// PublicAddr and AdminAddr are the listeners' addresses once Listen has run.
func (d *Daemon) PublicAddr() net.Addr { return d.lns[0].ln.Addr() }

// AdminAddr is the admin listener's address once Listen has run.
func (d *Daemon) AdminAddr() net.Addr { return d.lns[1].ln.Addr() }

// Run serves the public routes on cfg.Listen and the operator's on cfg.AdminListen, works the
// jobs and, when provisioning is configured, reconciles and probes, until ctx ends (SIGTERM):
// then it stops taking work, lets running jobs finish within ShutdownTimeout, cancels the rest
// (they resume after a restart), and closes the store.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.store.Close()
	if err := d.Listen(); err != nil {
		return err
	}
	closeAll := func() {
		for _, l := range d.lns {
			l.ln.Close()
		}
	}
	pub, priv := d.lns[0], d.lns[1]
	d.log.Info("poold serving", "listen", pub.scheme()+"://"+pub.ln.Addr().String(),
		"admin_listen", priv.scheme()+"://"+priv.ln.Addr().String(), "store", storeKind(d.store),
		"tiers", d.cfg.Tiers.Names(), "schedule", d.cfg.ReconcileSchedule)
	if !isLoopback(priv.ln.Addr()) && priv.srv.TLSConfig == nil {
		d.log.Warn("the admin listener (admin API, /metrics) is not on loopback and has no TLS: bearer tokens cross the network in clear", "admin_listen", priv.ln.Addr().String())
	}

	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	if d.store.Postgres() {
		// Alive before the first job is fetched, so no job of ours is ever thought a dead one's.
		if err := d.store.Heartbeat(runCtx, d.id); err != nil {
			closeAll()
			return err
		}
	}
	if err := d.jobs.Start(runCtx); err != nil {
		closeAll()
		return fmt.Errorf("start jobs: %w", err)
	}
	g, gctx := errgroup.WithContext(runCtx)
	if d.store.Postgres() {
		g.Go(func() error { return d.heartbeat(gctx) })
	}
	if d.topUp {
		g.Go(func() error { return d.rec.Run(gctx) })
		if d.prober != nil {
			g.Go(func() error { return d.prober.Run(gctx) })
		}
		g.Go(func() error { return d.upgrade.Run(gctx) })
		if d.domains != nil {
			g.Go(func() error { return d.domains.Run(gctx) })
		}
	}
	for _, l := range d.lns {
		g.Go(func() error {
			if err := l.srv.Serve(l.ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("%s listener: %w", l.name, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		select {
		case <-ctx.Done(): // SIGTERM / SIGINT
		case <-gctx.Done():
		}
		grace := d.cfg.ShutdownTimeout
		d.log.Info("shutting down", "grace", grace)
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		var herr error
		for _, l := range d.lns {
			herr = errors.Join(herr, l.srv.Shutdown(sctx))
		}
		// Stop fetching, let running jobs finish within the grace period, then cancel the rest:
		// a cancelled provisioning job is retried after restart.
		jerr := d.jobs.Stop(sctx)
		if jerr != nil {
			jerr = d.jobs.StopAndCancel(context.Background())
		}
		if d.store.Postgres() && jerr == nil {
			// Every job of ours is finished or handed back: nothing to rescue.
			jerr = d.store.LeaveProcesses(context.Background(), d.id)
		}
		stop()
		return errors.Join(herr, jerr)
	})
	err := g.Wait()
	d.log.Info("poold stopped")
	return err
}

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

func storeKind(s *store.Store) string {
	if s.Postgres() {
		return "postgres"
	}
	return "sqlite"
}

// newPlans configures the plan change workers: downgrade notices go through the SMTP server when
// one is configured. With custom domains on, New sets their detacher (domainDetacher).
func newPlans(cfg Config, s *store.Store) (*control.PlanConfig, error) {
	pc := &control.PlanConfig{Store: s}
	if cfg.Mail != nil {
		sender, err := delivery.NewSender(cfg.Mail.SMTP, cfg.Mail.Templates)
		if err != nil {
			return nil, err
		}
		pc.Mailer, pc.From = sender, cfg.Mail.SMTP.From
	}
	if o := cfg.Orders; o != nil {
		pc.SupportContact, pc.BillingURL = o.SupportContact, o.BillingURL
	}
	return pc, nil
}

// newOrders builds the Stripe orders service.
func newOrders(cfg Config, s *store.Store, tenants pool.Tenants, trigger func(), observe func(string, time.Duration, error), domainLink func(pool.Account) string) (*orders.Service, error) {
	if cfg.Mail == nil {
		return nil, errors.New("Stripe orders need an SMTP server (POOL_SMTP_HOST, POOL_SMTP_FROM)")
	}
	sender, err := delivery.NewSender(cfg.Mail.SMTP, cfg.Mail.Templates)
	if err != nil {
		return nil, err
	}
	o := cfg.Orders
	return orders.New(orders.Config{
		Store: s, Tiers: cfg.Tiers, Mailer: sender, Prefix: cfg.Prefix, Secrets: o.Secrets, Prices: o.Prices,
		Tenants: tenants, Trigger: trigger, ObserveEmail: observe, Grace: o.Grace, From: cfg.Mail.SMTP.From,
		SupportContact: o.SupportContact, UpsellURL: o.UpsellURL, DomainLink: domainLink, BillingURL: o.BillingURL, Log: cfg.Log,
		Stripe: orders.NewStripeClient(o.StripeAPIKey, o.StripeAPIURL), Livemode: o.Livemode, MaxSeats: o.MaxSeats,
		PastDueGrace: o.PastDueGrace, PaymentTerm: o.PaymentTerm, DowngradeNotice: cfg.DowngradeNotice,
	})
}

// Resend queues an order's credentials e-mail again with a fresh password (`poold orders
// resend`): it needs the store, the tenants (to rotate) and the orders, not a running daemon,
// which sends it.
func Resend(ctx context.Context, cfg Config, s *store.Store, orderID string) (int, error) {
	if cfg.Orders == nil {
		return 0, errors.New("Stripe orders are not configured (POOL_STRIPE_WEBHOOK_SECRET)")
	}
	var tenants pool.Tenants = unconfigured{err: errors.New("a resend provisions nothing"), rotate: cfg.rotate()}
	_, link := cfg.Domains.links()
	svc, err := newOrders(cfg, s, tenants, nil, nil, link)
	if err != nil {
		return 0, err
	}
	return svc.Resend(ctx, orderID)
}

// StartJobs works the provisioning and teardown jobs in this process (`poold batch create`
// when no daemon runs); stop waits for them.
func StartJobs(ctx context.Context, cfg Config, s *store.Store) (stop func(), err error) {
	tenants, err := cfg.Tenants(ctx, s)
	if err != nil {
		return nil, err
	}
	jc, err := control.NewJobClient(s.Driver(), control.WorkerConfig{Store: s, Tenants: tenants, Tiers: cfg.Tiers, Log: cfg.Log,
		ProvisionConcurrency: cfg.ProvisionConcurrency, Registry: cfg.Jobs.Registry, RetryPolicy: cfg.Jobs.RetryPolicy,
		PollInterval: cfg.Jobs.PollInterval, ImportFlows: cfg.importFlows(), Record: s.AddEvent})
	if err != nil {
		return nil, err
	}
	if err := jc.Start(ctx); err != nil {
		return nil, err
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		jc.Stop(sctx)
	}, nil
}

// newProber builds the sold tenants' health probe; nil when it is off.
func newProber(cfg Config, s *store.Store, tenants pool.Tenants, rec *control.Reconciler, m *metrics.Metrics) (*control.Prober, error) {
	p := cfg.Probe
	if p.Schedule == "off" {
		cfg.Log.Warn("tenant health probe off (--probe-schedule off)")
		return nil, nil
	}
	alert, err := operatorAlert(cfg)
	if err != nil {
		return nil, err
	}
	transport := langflow.NewTransport()
	return control.NewProber(control.ProberConfig{
		Store: s,
		Check: func(ctx context.Context, url string) error {
			// No retries: the failure streak is the retry.
			c, err := langflow.New(url, langflow.Options{RetryMax: -1, Transport: transport, RequestTimeout: p.Timeout})
			if err != nil {
				return err
			}
			return c.Health(ctx)
		},
		Tenants: tenants, Threshold: p.Threshold, Concurrency: p.Concurrency, Timeout: p.Timeout, Schedule: p.Schedule,
		// The reconcile leader probes; asking the reconciler (not the lock again) is safe to do
		// concurrently.
		Leader:  func(context.Context) (bool, error) { return rec.Leading(), nil },
		Alert:   alert,
		Observe: func(_ pool.Account, kind pool.EventKind) { m.ObserveProbeEvent(string(kind)) },
		Log:     cfg.Log.With("component", "probe"),
	})
}

// operatorAlert e-mails the operator about a flagged tenant; nil when no operator address is
// set.
func operatorAlert(cfg Config) (func(context.Context, pool.Account, pool.FlagNotice) error, error) {
	to := cfg.OperatorEmail
	if to == "" {
		return nil, nil
	}
	if cfg.Mail == nil {
		return nil, errors.New("POOL_OPERATOR_EMAIL needs an SMTP server (POOL_SMTP_HOST, POOL_SMTP_FROM)")
	}
	sender, err := delivery.NewSender(cfg.Mail.SMTP, cfg.Mail.Templates)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, a pool.Account, n pool.FlagNotice) error {
		order := a.OrderID
		if order == "" {
			order = a.Slug
		}
		return sender.Send(ctx, delivery.Message{Kind: delivery.KindOperatorAlert, OrderID: order,
			Ref: strconv.FormatInt(n.At.UnixMilli(), 10), CustomerEmail: to, Tier: a.Tier, Slug: a.Slug,
			TenantURL: a.URL, Failures: n.Failures, Reason: n.Reason, From: cfg.Mail.SMTP.From})
	}, nil
}
