package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/metrics"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/store"
)

type serveFlags struct {
	listen           string
	schedule         string
	concurrency      int
	stuckTimeout     string
	shutdownTimeout  string
	hardFailureLimit int
	probeSchedule    string
	probeThreshold   int
	probeConcurrency int
	probeTimeout     string

	stuck, grace, probeTO time.Duration // parsed by validate
}

func (f *serveFlags) register(fl *pflag.FlagSet, getenv func(string) string) {
	fl.StringVar(&f.listen, "listen", envOr(getenv, "POOL_LISTEN", "127.0.0.1:8080"), "HTTP listen address (env POOL_LISTEN)")
	fl.StringVar(&f.schedule, "reconcile-schedule", envOr(getenv, "POOL_RECONCILE_SCHEDULE", "@every 30s"), "cron schedule of the reconcile pass (env POOL_RECONCILE_SCHEDULE)")
	fl.IntVar(&f.concurrency, "provision-concurrency", intEnv(getenv, "POOL_PROVISION_CONCURRENCY", 4), "concurrent provisioning jobs in this process (env POOL_PROVISION_CONCURRENCY)")
	fl.StringVar(&f.stuckTimeout, "stuck-timeout", envOr(getenv, "POOL_STUCK_TIMEOUT", "90m"), "fail accounts still provisioning after this long (env POOL_STUCK_TIMEOUT)")
	fl.StringVar(&f.shutdownTimeout, "shutdown-timeout", envOr(getenv, "POOL_SHUTDOWN_TIMEOUT", "30s"), "on SIGTERM, wait this long for in-flight work (env POOL_SHUTDOWN_TIMEOUT)")
	fl.IntVar(&f.hardFailureLimit, "hard-failure-limit", intEnv(getenv, "POOL_HARD_FAILURE_LIMIT", 10), "stop creating in a tier after this many consecutive failures (env POOL_HARD_FAILURE_LIMIT)")
	fl.StringVar(&f.probeSchedule, "probe-schedule", envOr(getenv, "POOL_PROBE_SCHEDULE", "@every 1m"), "cron schedule of the sold tenants' health probe, or off (env POOL_PROBE_SCHEDULE)")
	fl.IntVar(&f.probeThreshold, "probe-threshold", intEnv(getenv, "POOL_PROBE_THRESHOLD", 3), "consecutive failed probes before a tenant is re-applied (env POOL_PROBE_THRESHOLD)")
	fl.IntVar(&f.probeConcurrency, "probe-concurrency", intEnv(getenv, "POOL_PROBE_CONCURRENCY", 8), "probes in flight at once (env POOL_PROBE_CONCURRENCY)")
	fl.StringVar(&f.probeTimeout, "probe-timeout", envOr(getenv, "POOL_PROBE_TIMEOUT", "10s"), "timeout of one probe (env POOL_PROBE_TIMEOUT)")
}

// validate checks every serve flag and reports every problem at once.
func (f *serveFlags) validate() error {
	var errs []error
	if err := pool.ValidateSchedule(f.schedule); err != nil {
		errs = append(errs, fmt.Errorf("--reconcile-schedule: %w", err))
	}
	if f.concurrency < 1 || f.concurrency > 64 {
		errs = append(errs, fmt.Errorf("--provision-concurrency %d: must be between 1 and 64", f.concurrency))
	}
	var err error
	if f.stuck, err = parseTimeout(f.stuckTimeout); err != nil {
		errs = append(errs, fmt.Errorf("--stuck-timeout: %w", err))
	}
	if f.grace, err = parseTimeout(f.shutdownTimeout); err != nil {
		errs = append(errs, fmt.Errorf("--shutdown-timeout: %w", err))
	}
	if f.hardFailureLimit < 1 {
		errs = append(errs, fmt.Errorf("--hard-failure-limit %d: must be ≥ 1", f.hardFailureLimit))
	}
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: %w", f.listen, err))
	}
	if f.probeSchedule != "off" {
		if err := pool.ValidateSchedule(f.probeSchedule); err != nil {
			errs = append(errs, fmt.Errorf("--probe-schedule: %w", err))
		}
	}
	if f.probeThreshold < 1 {
		errs = append(errs, fmt.Errorf("--probe-threshold %d: must be ≥ 1", f.probeThreshold))
	}
	if f.probeConcurrency < 1 || f.probeConcurrency > 256 {
		errs = append(errs, fmt.Errorf("--probe-concurrency %d: must be between 1 and 256", f.probeConcurrency))
	}
	if f.probeTO, err = parseTimeout(f.probeTimeout); err != nil {
		errs = append(errs, fmt.Errorf("--probe-timeout: %w", err))
	}
	return errors.Join(errs...)
}

func newServe(e *Env) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: reconcile the pool, work provisioning jobs, serve HTTP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			return serve(cmd.Context(), e, f)
		},
	}
	f.register(cmd.Flags(), e.Getenv)
	return cmd
}

func intEnv(getenv func(string) string, key string, def int) int {
	if v := getenv(key); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
		return -1 // rejected by the flag's validation with a clear message
	}
	return def
}

func serve(ctx context.Context, e *Env, f serveFlags) error {
	stuck, grace := f.stuck, f.grace
	s, err := e.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	var leader func(context.Context) (bool, error)
	if s.Postgres() {
		leader = s.TryLead // replicas share the database; one leads, the others stand by
	} else if ok, err := s.TryLead(ctx); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("another poold is already serving data dir %s (SQLite allows one daemon); stop it or use PostgreSQL for replicas", e.DataDir)
	} else if n, err := s.RescueJobs(ctx, nil, time.Now().Add(time.Hour)); err != nil {
		return err
	} else if n > 0 {
		// We hold the data dir: whatever is still "running" belonged to a process that died.
		e.Log.Warn("resumed jobs the previous process left running", "count", n)
	}
	e.concurrency = f.concurrency
	prov, err := e.Provisioner(ctx, s)
	topUp := true
	if errors.Is(err, errNotConfigured) {
		// Still worth running: it sells what is ready, delivers, and answers the operator.
		e.Log.Error("the pool will not be topped up", "err", err)
		prov, topUp = unprovisioned{err}, false
	} else if err != nil {
		return err
	}
	m := metrics.New(s, e.Tiers, f.hardFailureLimit, e.Log)
	s.ObserveClaims(m.ObserveClaim)
	plan := pool.DefaultPlanConfig()
	plan.HardFailureLimit = f.hardFailureLimit
	if leader != nil {
		tryLead := leader
		leader = func(ctx context.Context) (bool, error) {
			ok, err := tryLead(ctx)
			m.SetLeader(ok)
			return ok, err
		}
	} else if topUp {
		m.SetLeader(true)
	}
	rec, err := pool.NewReconciler(pool.ReconcilerConfig{
		Store: s, Tiers: e.Tiers, Plan: plan, Prefix: e.Prefix, StuckTimeout: stuck, Leader: leader, Log: e.Log,
		Maintain: func(ctx context.Context) error {
			// Short jobs of a replica that died are retried after a few minutes, not after the
			// provisioning jobs' long rescue threshold.
			n, err := s.RescueJobs(ctx, orders.QuickKinds, time.Now().Add(-orders.QuickTimeout-time.Minute))
			if n > 0 {
				e.Log.Warn("rescued jobs of a process that died", "count", n)
			}
			return err
		},
	})
	if err != nil {
		return err
	}
	wcfg := pool.WorkerConfig{Store: s, Provisioner: prov, Tiers: e.Tiers, Log: e.Log, ProvisionConcurrency: f.concurrency,
		ObserveProvision: m.ObserveProvision}
	mux := routes(s, rec, topUp)
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(e.Log.Handler(), slog.LevelError)}))
	var resend func(context.Context, string) (int, error)
	if e.ordersEnabled() {
		svc, err := e.ordersService(s, prov, rec.Trigger, m.ObserveEmail)
		if err != nil {
			return err
		}
		wcfg.Configure = svc.Register
		mux.Handle(orders.Path, svc.Handler())
		resend = svc.Resend
	} else {
		e.Log.Warn("Stripe orders disabled: POOL_STRIPE_WEBHOOK_SECRET is not set (manual sales only)")
	}
	if api, err := e.adminAPI(s, rec.Trigger, resend); err != nil {
		return err
	} else if api != nil {
		mux.Handle(admin.Prefix, api.Handler())
	} else {
		e.Log.Warn("admin API disabled: POOL_ADMIN_TOKEN is not set")
	}
	if e.opts.jobs != nil {
		e.opts.jobs(&wcfg)
	}
	jobs, err := pool.NewJobClient(s.Driver(), wcfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	e.Log.Info("poold serving", "listen", ln.Addr().String(), "store", storeKind(s), "tiers", e.Tiers.Names(), "schedule", f.schedule)

	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	if err := jobs.Start(runCtx); err != nil {
		return fmt.Errorf("start jobs: %w", err)
	}
	g, gctx := errgroup.WithContext(runCtx)
	if topUp {
		g.Go(func() error { return rec.Run(gctx, f.schedule) })
		if prober, err := e.prober(s, prov, rec, m, f); err != nil {
			return err
		} else if prober != nil {
			g.Go(func() error { return prober.Run(gctx, f.probeSchedule) })
		}
	}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		select {
		case <-ctx.Done(): // SIGTERM / SIGINT
		case <-gctx.Done():
		}
		e.Log.Info("shutting down", "grace", grace)
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		herr := srv.Shutdown(sctx)
		// Stop fetching, let running jobs finish within the grace period, then cancel the rest:
		// a cancelled provisioning job is retried after restart.
		jerr := jobs.Stop(sctx)
		if jerr != nil {
			jerr = jobs.StopAndCancel(context.Background())
		}
		stop()
		return errors.Join(herr, jerr)
	})
	err = g.Wait()
	e.Log.Info("poold stopped")
	return err
}

func storeKind(s *store.Store) string {
	if s.Postgres() {
		return "postgres"
	}
	return "sqlite"
}

func routes(s *store.Store, rec *pool.Reconciler, topUp bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status, code := map[string]string{"database": "ok", "migrations": "ok", "reconciler": "standby"}, http.StatusOK
		switch {
		case !topUp:
			status["reconciler"] = "disabled (provisioning not configured)"
		case rec.Leading():
			status["reconciler"] = "leading"
			if last := rec.LastPass(); !last.IsZero() {
				status["last_reconcile"] = last.UTC().Format(time.RFC3339)
			}
		}
		if err := s.DB().PingContext(ctx); err != nil {
			status["database"], code = "unreachable", http.StatusServiceUnavailable
		} else if ok, err := s.MigrationsCurrent(ctx); err != nil || !ok {
			status["migrations"], code = "pending", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(status)
	})
	return mux
}
