package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/infra/tenant"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
	"github.com/axiestudio/tenantpool/pool/store"
)

type provisionFlags struct {
	cli, backend, secrets, platformStack, domain, companyDomain, image, healthTimeout, cloudflareZone string
	noPluginDownload                                                                                  bool
}

func (f *provisionFlags) register(fs *pflag.FlagSet, e *Env) {
	getenv := e.Getenv
	fs.StringVar(&f.cli, "pulumi-cli", getenv("TENANTPOOL_PULUMI"), "path of the pulumi binary (default: pulumi in PATH, else the one `make pulumi` caches) (env TENANTPOOL_PULUMI)")
	fs.StringVar(&f.backend, "pulumi-backend", getenv("POOL_PULUMI_BACKEND"), "Pulumi backend URL of tenant stacks (default file://<data-dir>/pulumi/state; with --database-url a shared one is required) (env POOL_PULUMI_BACKEND)")
	fs.StringVar(&f.secrets, "pulumi-secrets-provider", envOr(getenv, "POOL_PULUMI_SECRETS_PROVIDER", pulumiprov.SecretsPassphrase), "passphrase (derived from the pool key) or a KMS URL (env POOL_PULUMI_SECRETS_PROVIDER)")
	fs.StringVar(&f.platformStack, "platform-stack", getenv("POOL_PLATFORM_STACK"), "org/project/stack of the platform stack whose hosts and domain outputs place tenants (env POOL_PLATFORM_STACK)")
	fs.StringVar(&f.domain, "domain", envOr(getenv, "POOL_DOMAIN", "localhost"), "tenants answer at <slug>.<domain> when there is no platform stack (env POOL_DOMAIN)")
	fs.StringVar(&f.companyDomain, "company-domain", getenv("POOL_COMPANY_DOMAIN"), "the company's own site and shop, checked against the tenants' domain: sharing a registrable domain is warned about (a platform stack's companyDomain output wins) (env POOL_COMPANY_DOMAIN)")
	fs.StringVar(&f.image, "langflow-image", getenv("POOL_LANGFLOW_IMAGE"), "Langflow image pinned by digest, repo:tag@sha256:… (env POOL_LANGFLOW_IMAGE)")
	fs.StringVar(&f.healthTimeout, "health-timeout", envOr(getenv, "POOL_HEALTH_TIMEOUT", "10m"), "a new tenant must answer /health_check within this (env POOL_HEALTH_TIMEOUT)")
	fs.StringVar(&f.cloudflareZone, "cloudflare-zone-id", getenv("POOL_CLOUDFLARE_ZONE_ID"), "Cloudflare zone id of the domain, for the DNS records of tenants off the wildcard host and custom domains; the token comes from POOL_CLOUDFLARE_API_TOKEN(_FILE) (env POOL_CLOUDFLARE_ZONE_ID)")
	fs.BoolVar(&f.noPluginDownload, "no-plugin-download", e.boolEnv("POOL_NO_PLUGIN_DOWNLOAD", false), "never let Pulumi download plugins (env POOL_NO_PLUGIN_DOWNLOAD: true or false)")
}

// localHost is the default host without a platform stack or hosts: the local Docker socket,
// as the dev platform stack sets it up (one definition, shared with that stack's test).
var localHost = platform.LocalHost()

// provisionSettings are the provisioning settings validate derives from the flags and the
// environment.
type provisionSettings struct {
	cliPath    string
	health     time.Duration
	cloudflare *platform.CloudflareConfig // nil: none
}

// cloudflareHint says what to set when tenants need Cloudflare.
const cloudflareHint = "set --cloudflare-zone-id (POOL_CLOUDFLARE_ZONE_ID) and POOL_CLOUDFLARE_API_TOKEN (or POOL_CLOUDFLARE_API_TOKEN_FILE): " +
	"the domain's zone and a token that may edit its DNS"

// validate checks the provisioning settings without building or writing anything, reporting
// every problem at once. A missing image is daemon.ErrNotConfigured: the daemon can run without
// provisioning.
func (f provisionFlags) validate(e *Env) (provisionSettings, error) {
	var set provisionSettings
	if f.image == "" {
		return set, fmt.Errorf("%w: set POOL_LANGFLOW_IMAGE (or --langflow-image) to a Langflow image pinned by digest", daemon.ErrNotConfigured)
	}
	var errs []error
	if err := platform.ValidatePinnedImage(f.image); err != nil {
		errs = append(errs, fmt.Errorf("--langflow-image: %w", err))
	}
	if _, err := checkDomains(f.domain, f.companyDomain); err != nil {
		errs = append(errs, err)
	}
	var err error
	if set.health, err = parseTimeout(f.healthTimeout); err != nil {
		errs = append(errs, fmt.Errorf("--health-timeout: %w", err))
	}
	if f.secrets != pulumiprov.SecretsPassphrase && !strings.Contains(f.secrets, "://") {
		errs = append(errs, fmt.Errorf("--pulumi-secrets-provider %q: want %q or a KMS URL", f.secrets, pulumiprov.SecretsPassphrase))
	}
	set.cloudflare, err = f.cloudflareSettings(e)
	cfOK := err == nil
	if !cfOK {
		errs = append(errs, err)
	}
	// With a platform stack its outputs name domain and hosts: serve checks them when it starts.
	if f.platformStack == "" {
		if err := platform.ValidateDomain(f.domain); err != nil {
			errs = append(errs, fmt.Errorf("--domain: %w", err))
		} else if err := tenant.ValidateDNS(f.domain, set.cloudflare, f.hosts(e)...); err != nil && cfOK {
			errs = append(errs, dnsProblem(err))
		}
	}
	if err := f.checkSharedBackend(e); err != nil {
		errs = append(errs, err)
	}
	set.cliPath = f.cliPath()
	if _, err := os.Stat(set.cliPath); err != nil {
		errs = append(errs, fmt.Errorf("Pulumi CLI not found at %q: install it or run `make pulumi` (--pulumi-cli)", set.cliPath))
	}
	return set, errors.Join(errs...)
}

// cliPath is the Pulumi CLI: the flag, else pulumi in PATH, else the one `make pulumi` caches.
func (f provisionFlags) cliPath() string {
	if f.cli != "" {
		return f.cli
	}
	if p, err := exec.LookPath("pulumi"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "tenantpool", "pulumi-v3.274.1", "pulumi")
	}
	return "pulumi"
}

// cloudflareSettings are the Cloudflare zone (--cloudflare-zone-id) and API token
// (POOL_CLOUDFLARE_API_TOKEN or _FILE, never a flag: a command line is visible to every user of
// the machine); nil when neither is set. Half of them, or a malformed zone id, is an error; the
// token is never quoted.
func (f provisionFlags) cloudflareSettings(e *Env) (*platform.CloudflareConfig, error) {
	token, err := e.readSecretEnv("POOL_CLOUDFLARE_API_TOKEN")
	if err != nil {
		return nil, err
	}
	zone := strings.TrimSpace(f.cloudflareZone)
	switch {
	case zone == "" && token == "":
		return nil, nil
	case zone == "":
		return nil, errors.New("POOL_CLOUDFLARE_API_TOKEN is set but not the zone: set --cloudflare-zone-id (POOL_CLOUDFLARE_ZONE_ID) too")
	case token == "":
		return nil, errors.New("--cloudflare-zone-id is set but not the token: set POOL_CLOUDFLARE_API_TOKEN (or POOL_CLOUDFLARE_API_TOKEN_FILE) too")
	}
	cf := &platform.CloudflareConfig{ZoneID: zone, APIToken: token}
	if err := cf.Validate(); err != nil {
		return nil, fmt.Errorf("--cloudflare-zone-id / POOL_CLOUDFLARE_API_TOKEN: %w", err)
	}
	return cf, nil
}

// dnsProblem explains a tenant.ValidateDNS error as a configuration problem, with what to set
// when Cloudflare is missing.
func dnsProblem(err error) error {
	err = fmt.Errorf("every tenant placed on these hosts would fail: %w", err)
	if errors.Is(err, tenant.ErrNeedsCloudflare) {
		return fmt.Errorf("%w; %s", err, cloudflareHint)
	}
	return err
}

// hosts are the hosts tenants are placed on without a platform stack: the config file's, else
// the local Docker socket.
func (f provisionFlags) hosts(e *Env) []platform.Host {
	if len(e.Hosts) == 0 && f.platformStack == "" {
		return []platform.Host{localHost}
	}
	return e.Hosts
}

// checkSharedBackend refuses, on PostgreSQL, a Pulumi backend inside the data directory. With
// PostgreSQL several replicas provision from one database, each with its own data directory:
// the tenants' Pulumi state must be one that every replica sees, or a replica that takes over an
// account's job finds no stack, creates a second one and orphans the first. SQLite (one process
// per data directory) keeps the default.
func (f provisionFlags) checkSharedBackend(e *Env) error {
	if e.DatabaseURL == "" {
		return nil
	}
	dataDir, err := filepath.Abs(e.DataDir)
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	const shared = "set --pulumi-backend (POOL_PULUMI_BACKEND) to a backend every replica shares: " +
		"an S3, Azure Blob or Google Cloud Storage URL (s3://…, azblob://…, gs://…), Pulumi Cloud, " +
		"or a file:// path on shared storage outside the data directory"
	if f.backend == "" {
		return fmt.Errorf("with PostgreSQL (--database-url) the default Pulumi backend, %s, is in this replica's own data directory: %s",
			pulumiprov.DefaultBackendURL(dataDir), shared)
	}
	path, ok := strings.CutPrefix(f.backend, "file://")
	if !ok {
		return nil
	}
	path, _, _ = strings.Cut(path, "?")
	if rest, ok := strings.CutPrefix(path, "~"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("--pulumi-backend %s: %w", f.backend, err)
		}
		path = home + rest
	}
	if within(filepath.FromSlash(path), dataDir) {
		return fmt.Errorf("with PostgreSQL (--database-url) --pulumi-backend %s lies in the data directory %s, which is each replica's own: %s",
			f.backend, dataDir, shared)
	}
	return nil
}

// within reports whether path is dir or lies under it, comparing absolute paths, and again with
// symbolic links resolved.
func within(path, dir string) bool {
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return filepath.Clean(p)
	}
	// real resolves the links of p's longest existing prefix (the backend's directory need not
	// exist yet).
	real := func(p string) string {
		rest := ""
		for dir := p; ; dir = filepath.Dir(dir) {
			if r, err := filepath.EvalSymlinks(dir); err == nil {
				return filepath.Join(r, rest)
			}
			if filepath.Dir(dir) == dir {
				return p
			}
			rest = filepath.Join(filepath.Base(dir), rest)
		}
	}
	under := func(p, d string) bool {
		rel, err := filepath.Rel(d, p)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
	}
	p, d := abs(path), abs(dir)
	return under(p, d) || under(real(p), real(d))
}

// pulumiTenants builds the Pulumi provisioner from flags, environment and config, and refuses
// hosts whose tenants would all fail for want of DNS (a host off the wildcard without
// Cloudflare), reading the platform stack's hosts when there is one. When the platform stack
// cannot be read now, its hosts are checked as tenants are placed.
func (e *Env) pulumiTenants(ctx context.Context, s *store.Store, concurrency int) (pool.Tenants, error) {
	cfg, err := e.pulumiConfig(s, concurrency)
	if err != nil {
		return nil, err
	}
	p, err := pulumiprov.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := p.CheckDNS(ctx); errors.Is(err, tenant.ErrInvalidSpec) {
		return nil, dnsProblem(err)
	} else if err != nil {
		e.Log.Warn("cannot check the platform's hosts now; each tenant is checked when it is placed", "err", err)
	}
	if tenants, company, err := p.Domains(ctx); err != nil {
		e.Log.Warn("cannot read the platform's domains now", "err", err)
	} else if warn, err := checkDomains(tenants, company); err != nil {
		return nil, err
	} else if warn != "" {
		e.Log.Warn(warn, "tenant_domain", tenants, "company_domain", company)
	}
	if !e.opts.noDocker {
		e.hosts = p.Hosts // the stray pass sweeps the hosts the provisioner places on
	}
	return p, nil
}

// pulumiConfig is the Pulumi provisioner's configuration from flags, environment and config.
func (e *Env) pulumiConfig(s *store.Store, concurrency int) (pulumiprov.Config, error) {
	f := e.provision
	set, err := f.validate(e)
	if err != nil {
		return pulumiprov.Config{}, err
	}
	key, err := e.Key()
	if err != nil {
		return pulumiprov.Config{}, err
	}
	return pulumiprov.Config{
		DataDir: e.DataDir, PulumiCLI: set.cliPath, BackendURL: f.backend, SecretsProvider: f.secrets, SecretKey: key,
		PlatformStack: f.platformStack, Hosts: f.hosts(e), Domain: f.domain, CompanyDomain: f.companyDomain, Place: s.PlaceAccount, Tiers: e.Tiers,
		Image: f.image, Cloudflare: set.cloudflare, Concurrency: concurrency, HealthTimeout: set.health,
		NoPluginDownload: f.noPluginDownload, Program: e.opts.program, Log: e.Log,
		Account: s.Get, Domains: s.AccountDomains, Docker: e.dockerDial(), Brand: s.Brand, Flows: e.Flows,
	}, nil
}

// dockerDial is how the provisioner reaches its hosts' Docker Engines (crash recovery, complete
// teardowns); nil when a test forbids it.
func (e *Env) dockerDial() func(string) (*dockerhost.Client, error) {
	if e.opts.noDocker {
		return nil
	}
	return dockerhost.Dial
}

// checkDomains checks the company's domain (its site and shop) against the tenants': a
// malformed one is an error; one that shares the tenants' registrable domain is a warning,
// returned as warn. poold warns and does not refuse: the domains are the platform's (whose
// program refuses such a pair when it is rolled out), and refusing to start would stop serving
// the tenants already sold on them, which only moving them to a domain of their own mends.
func checkDomains(tenants, company string) (warn string, err error) {
	if company == "" {
		return "", nil
	}
	if err := platform.ValidateDomain(company); err != nil {
		return "", fmt.Errorf("--company-domain: %w", err)
	}
	if platform.IsLocalDomain(tenants) && platform.IsLocalDomain(company) {
		return "", nil
	}
	if same, site := platform.SameSite(tenants, company); same {
		return fmt.Sprintf("tenant domain %s and company domain %s are one site (%s): a tenant can set cookies the company's site receives (cookie tossing); "+
			"put the tenants on a registrable domain of their own (README: Security model)", tenants, company, site), nil
	}
	return "", nil
}
