package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/store"
)

type serveFlags struct {
	listen           string
	adminListen      string
	tls, adminTLS    daemon.TLSFiles
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
	fl.StringVar(&f.listen, "listen", envOr(getenv, "POOL_LISTEN", "127.0.0.1:8080"), "public listen address: the Stripe webhook (env POOL_LISTEN)")
	fl.StringVar(&f.adminListen, "admin-listen", envOr(getenv, "POOL_ADMIN_LISTEN", defaultAdminListen), "admin listen address: admin API, /metrics, /readyz, /healthz (env POOL_ADMIN_LISTEN)")
	fl.StringVar(&f.tls.Cert, "tls-cert", getenv("POOL_TLS_CERT"), "PEM certificate chain of the public listener; with --tls-key it serves HTTPS (env POOL_TLS_CERT)")
	fl.StringVar(&f.tls.Key, "tls-key", getenv("POOL_TLS_KEY"), "PEM private key of the public listener (env POOL_TLS_KEY)")
	fl.StringVar(&f.adminTLS.Cert, "admin-tls-cert", getenv("POOL_ADMIN_TLS_CERT"), "PEM certificate chain of the admin listener (env POOL_ADMIN_TLS_CERT)")
	fl.StringVar(&f.adminTLS.Key, "admin-tls-key", getenv("POOL_ADMIN_TLS_KEY"), "PEM private key of the admin listener (env POOL_ADMIN_TLS_KEY)")
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
	if err := control.ValidateSchedule(f.schedule); err != nil {
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
	if _, _, err := net.SplitHostPort(f.adminListen); err != nil {
		errs = append(errs, fmt.Errorf("--admin-listen %q: %w", f.adminListen, err))
	} else if f.adminListen == f.listen {
		errs = append(errs, fmt.Errorf("--admin-listen %q is the public --listen address: the admin API and /metrics must not be served where the webhook is public (give them another port, 127.0.0.1:9090 by default)", f.adminListen))
	}
	if err := f.tls.Check(); err != nil {
		errs = append(errs, fmt.Errorf("--tls-cert/--tls-key: %w", err))
	}
	if err := f.adminTLS.Check(); err != nil {
		errs = append(errs, fmt.Errorf("--admin-tls-cert/--admin-tls-key: %w", err))
	}
	if f.probeSchedule != "off" {
		if err := control.ValidateSchedule(f.probeSchedule); err != nil {
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

// defaultAdminListen keeps the operator's routes off the network unless asked.
const defaultAdminListen = "127.0.0.1:9090"

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
	// The provisioning settings first, before the store is opened: a configuration whose tenants
	// would all fail (a per-replica Pulumi backend on PostgreSQL, a host without DNS) never
	// starts. Without an image the daemon serves without provisioning.
	if e.opts.tenants == nil {
		if _, err := e.provision.validate(e); err != nil && !errors.Is(err, daemon.ErrNotConfigured) {
			return err
		}
	}
	cfg, err := e.daemonConfig(f)
	if err != nil {
		return err
	}
	d, err := daemon.New(ctx, cfg)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}

// daemonConfig turns the parsed flags, environment and config file into the daemon's Config.
func (e *Env) daemonConfig(f serveFlags) (daemon.Config, error) {
	tokens, err := e.adminTokens() // before the key: a refused start writes nothing
	if err != nil {
		return daemon.Config{}, err
	}
	keyring, err := e.Keyring()
	if err != nil {
		return daemon.Config{}, err
	}
	cfg := daemon.Config{
		Store: e.storeOptions(keyring),
		Tiers: e.Tiers, Flows: e.Flows, Prefix: e.Prefix, Listen: f.listen, AdminListen: f.adminListen, TLS: f.tls, AdminTLS: f.adminTLS,
		ReconcileSchedule:    f.schedule,
		ProvisionConcurrency: f.concurrency, StuckTimeout: f.stuck, HardFailureLimit: f.hardFailureLimit,
		ShutdownTimeout: f.grace, OperatorEmail: e.Getenv("POOL_OPERATOR_EMAIL"), Log: e.Log,
		Probe: daemon.Probe{Schedule: f.probeSchedule, Threshold: f.probeThreshold, Concurrency: f.probeConcurrency, Timeout: f.probeTO},
		Tenants: func(ctx context.Context, s *store.Store) (pool.Tenants, error) {
			return e.tenants(ctx, s, f.concurrency)
		},
		Hosts: func(ctx context.Context) ([]platform.Host, error) {
			if e.hosts == nil { // a test's provisioner double: no hosts to sweep
				return nil, nil
			}
			return e.hosts(ctx)
		},
	}
	if cfg.SuspendGrace, err = e.suspendGrace(); err != nil {
		return daemon.Config{}, err
	}
	if cfg.DowngradeNotice, err = e.downgradeNotice(); err != nil {
		return daemon.Config{}, err
	}
	if cfg.ConsoleIdle, err = e.consoleIdle(); err != nil {
		return daemon.Config{}, err
	}
	if e.opts.jobs != nil {
		e.opts.jobs(&cfg.Jobs)
	}
	if err := e.shopConfig(&cfg); err != nil {
		return daemon.Config{}, err
	}
	if err := e.mailConfig(&cfg); err != nil {
		return daemon.Config{}, err
	}
	if err := e.domainsConfig(&cfg); err != nil {
		return daemon.Config{}, err
	}
	cfg.AdminTokens = tokens
	return cfg, nil
}

// adminTokens reads POOL_ADMIN_TOKEN (or the file POOL_ADMIN_TOKEN_FILE names) and refuses
// tokens too short or too plain to be secret, naming the variable; none: the admin API is off.
func (e *Env) adminTokens() ([]string, error) {
	name := "POOL_ADMIN_TOKEN"
	if e.Getenv(name+"_FILE") != "" {
		name += "_FILE"
	}
	raw, err := e.readSecretEnv("POOL_ADMIN_TOKEN")
	if err != nil {
		return nil, err
	}
	tokens := admin.ParseTokens(raw)
	if len(tokens) == 0 {
		return nil, nil
	}
	if err := admin.CheckTokens(tokens); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return tokens, nil
}
