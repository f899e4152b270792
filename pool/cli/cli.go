// Package cli is the poold command line (cobra): serve, batch create, list, export, claim,
// retire, pause/resume and status. Every command validates all of its input before it opens the
// store, so bad input changes nothing.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/infra/tenant"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/secret"
	"github.com/axiestudio/tenantpool/pool/store"
)

// TenantsFactory builds what serve and batch create act on tenants with.
type TenantsFactory func(ctx context.Context, e *Env, s *store.Store) (pool.Tenants, error)

// Option changes how Run wires things (tests inject doubles).
type Option func(*options)

type options struct {
	tenants TenantsFactory
	jobs    func(*daemon.Jobs)
	// program replaces the tenant program in the Pulumi provisioner (this package's tests run a
	// plugin-free stand-in on the real engine); nil: tenant.Program.
	program func(tenant.Spec) pulumi.RunFunc
	// noDocker keeps the Pulumi provisioner away from the hosts' Docker Engines (tests whose
	// hosts are documentation addresses that must never be dialled).
	noDocker bool
}

// WithoutDocker keeps the Pulumi provisioner and the stray pass away from the hosts' Docker
// Engines (tests whose hosts are documentation addresses that must never be dialled).
func WithoutDocker() Option { return func(o *options) { o.noDocker = true } }

// WithTenants replaces the Pulumi provisioner (tests run the pooltest double).
func WithTenants(f TenantsFactory) Option { return func(o *options) { o.tenants = f } }

// WithJobConfig adjusts the job client (tests use fast retries).
func WithJobConfig(f func(*daemon.Jobs)) Option { return func(o *options) { o.jobs = f } }

// Env is what every command shares once the global flags are parsed.
type Env struct {
	DataDir     string
	DatabaseURL string
	DBMaxConns  int // PostgreSQL: the store's connection pool (--database-max-conns)
	Prefix      string
	Tiers       pool.Tiers
	Flows       map[string][]langflow.Flow // each tier's starter flows (its starter_flows directory), validated at start
	Hosts       []platform.Host            // from the config file; empty = platform stack or the local socket
	Log         *slog.Logger
	Getenv      func(string) string
	Stdout      io.Writer
	Stderr      io.Writer

	opts      options
	provision provisionFlags
	envErrs   []error                                        // environment values that do not parse (boolEnv)
	hosts     func(context.Context) ([]platform.Host, error) // set once the Pulumi provisioner is built

	sealingKeyFile string          // --sealing-key-file / POOL_SEALING_KEY_FILE
	keyring        *secret.Keyring // loaded once (Keyring)
}

// boolEnv is the boolean environment variable key (strconv.ParseBool: true, false, 1, 0, t, f,
// …), def when unset. Any other value is recorded as an error naming the variable: every command
// refuses to run with it, and config check reports it with the rest.
func (e *Env) boolEnv(key string, def bool) bool {
	v := e.Getenv(key)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		e.envErrs = append(e.envErrs, fmt.Errorf("%s=%q: want a boolean: true or false (or 1, 0)", key, v))
		return def
	}
	return b
}

// reportsAll marks a command that reports the environment's problems itself, with the rest.
const reportsAll = "reportsAll"

// OpenStore opens (and migrates) the configured store with the sealing key.
func (e *Env) OpenStore(ctx context.Context) (*store.Store, error) {
	k, err := e.Keyring()
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, e.storeOptions(k))
}

// storeOptions are the store's options from the global flags, with the sealing keyring k.
func (e *Env) storeOptions(k *secret.Keyring) store.Options {
	return store.Options{DataDir: e.DataDir, DatabaseURL: e.DatabaseURL, MaxConns: e.DBMaxConns, Keyring: k, Logger: e.Log}
}

// tenants builds the configured tenants (Pulumi unless a test injects a double). An error
// wrapping daemon.ErrNotConfigured means this process cannot provision.
func (e *Env) tenants(ctx context.Context, s *store.Store, concurrency int) (pool.Tenants, error) {
	if e.opts.tenants != nil {
		return e.opts.tenants(ctx, e, s)
	}
	return e.pulumiTenants(ctx, s, max(concurrency, 1))
}

// Run executes poold with args (without the program name). getenv supplies environment
// variables (flags win over them).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, opts ...Option) error {
	e := &Env{Getenv: getenv, Stdout: stdout, Stderr: stderr}
	for _, o := range opts {
		o(&e.opts)
	}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetContext(ctx)
	return root.ExecuteContext(ctx)
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func newRoot(e *Env) *cobra.Command {
	var configPath, logLevel, logFormat string
	root := &cobra.Command{
		Use:           "poold",
		Short:         "Keeps a pool of ready Langflow tenants per tier and sells them on payment",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(e.Stderr, logLevel, logFormat)
			if err != nil {
				return err
			}
			e.Log = log
			if err := errors.Join(e.envErrs...); err != nil && cmd.Annotations[reportsAll] == "" {
				return err
			}
			if e.DataDir == "" {
				return errors.New("--data-dir must not be empty")
			}
			if e.DatabaseURL != "" && !strings.HasPrefix(e.DatabaseURL, "postgres://") && !strings.HasPrefix(e.DatabaseURL, "postgresql://") {
				return errors.New("--database-url must start with postgres:// or postgresql://")
			}
			if e.DBMaxConns < 1 || e.DBMaxConns > 1000 {
				return fmt.Errorf("--database-max-conns %d: must be between 1 and 1000", e.DBMaxConns)
			}
			fc, tiers, err := loadFileConfig(configPath)
			if err != nil {
				return err
			}
			e.Prefix, e.Tiers, e.Hosts, e.Flows = fc.SlugPrefix, tiers, fc.Hosts, fc.flows
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&e.DataDir, "data-dir", envOr(e.Getenv, "POOL_DATA_DIR", "./data"), "data directory: SQLite store, secret key file, Pulumi state (env POOL_DATA_DIR)")
	pf.StringVar(&e.DatabaseURL, "database-url", e.Getenv("POOL_DATABASE_URL"), "PostgreSQL URL; empty = embedded SQLite in the data dir (env POOL_DATABASE_URL)")
	pf.IntVar(&e.DBMaxConns, "database-max-conns", intEnv(e.Getenv, "POOL_DATABASE_MAX_CONNS", store.DefaultMaxConns), "PostgreSQL connections this process keeps at most, 1-1000 (env POOL_DATABASE_MAX_CONNS)")
	pf.StringVar(&configPath, "config", e.Getenv("POOL_CONFIG"), "YAML config file with tiers and slug_prefix (env POOL_CONFIG)")
	pf.StringVar(&logLevel, "log-level", envOr(e.Getenv, "POOL_LOG_LEVEL", "info"), "debug, info, warn or error (env POOL_LOG_LEVEL)")
	pf.StringVar(&logFormat, "log-format", envOr(e.Getenv, "POOL_LOG_FORMAT", "auto"), "auto (JSON unless a terminal), json or text (env POOL_LOG_FORMAT)")
	pf.StringVar(&e.sealingKeyFile, "sealing-key-file", e.Getenv("POOL_SEALING_KEY_FILE"), "file of the sealing keyring: base64 keys, the current one first, then old ones still read (env POOL_SEALING_KEY_FILE; default <data-dir>/secret.key)")
	e.provision.register(pf, e)

	batch := &cobra.Command{Use: "batch", Short: "Bulk operations"}
	batch.AddCommand(newBatchCreate(e))
	pause := newPause(e, true)
	resume := newPause(e, false)
	root.AddCommand(newServe(e), batch, newList(e), newExport(e), newClaim(e), newRetire(e), pause, resume, newStatus(e), newOrders(e), newConfig(e), newHealth(e))
	root.AddCommand(newPlatform(e))
	root.AddCommand(newTenant(e))
	root.AddCommand(newPlugins(e))
	root.AddCommand(newEdge(e))
	root.AddCommand(newSecrets(e))
	root.AddCommand(newBusiness(e))
	root.AddCommand(newUpgrade(e))
	root.AddCommand(newBrand(e), newFlows(e))
	root.AddCommand(newAccounts(e))
	root.AddCommand(newDomains(e))
	return root
}

// withStore opens the store for one command and closes it after.
func withStore(cmd *cobra.Command, e *Env, fn func(ctx context.Context, s *store.Store) error) error {
	ctx := cmd.Context()
	s, err := e.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(ctx, s)
}

func parseTimeout(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("invalid duration %q (e.g. 30s, 10m)", s)
	}
	return d, nil
}
