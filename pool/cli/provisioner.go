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
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
	"github.com/axiestudio/tenantpool/pool/store"
)

type provisionFlags struct {
	cli, backend, secrets, platformStack, domain, image, healthTimeout string
	noPluginDownload                                                   bool
}

func (f *provisionFlags) register(fs *pflag.FlagSet, getenv func(string) string) {
	fs.StringVar(&f.cli, "pulumi-cli", getenv("TENANTPOOL_PULUMI"), "path of the pulumi binary (default: pulumi in PATH, else the one `make pulumi` caches) (env TENANTPOOL_PULUMI)")
	fs.StringVar(&f.backend, "pulumi-backend", getenv("POOL_PULUMI_BACKEND"), "Pulumi backend URL of tenant stacks (default file://<data-dir>/pulumi/state) (env POOL_PULUMI_BACKEND)")
	fs.StringVar(&f.secrets, "pulumi-secrets-provider", envOr(getenv, "POOL_PULUMI_SECRETS_PROVIDER", pulumiprov.SecretsPassphrase), "passphrase (derived from the pool key) or a KMS URL (env POOL_PULUMI_SECRETS_PROVIDER)")
	fs.StringVar(&f.platformStack, "platform-stack", getenv("POOL_PLATFORM_STACK"), "org/project/stack of the platform stack whose hosts and domain outputs place tenants (env POOL_PLATFORM_STACK)")
	fs.StringVar(&f.domain, "domain", envOr(getenv, "POOL_DOMAIN", "localhost"), "tenants answer at <slug>.<domain> when there is no platform stack (env POOL_DOMAIN)")
	fs.StringVar(&f.image, "langflow-image", getenv("POOL_LANGFLOW_IMAGE"), "Langflow image pinned by digest, repo:tag@sha256:… (env POOL_LANGFLOW_IMAGE)")
	fs.StringVar(&f.healthTimeout, "health-timeout", envOr(getenv, "POOL_HEALTH_TIMEOUT", "10m"), "a new tenant must answer /health_check within this (env POOL_HEALTH_TIMEOUT)")
	fs.BoolVar(&f.noPluginDownload, "no-plugin-download", getenv("POOL_NO_PLUGIN_DOWNLOAD") != "", "never let Pulumi download plugins (env POOL_NO_PLUGIN_DOWNLOAD)")
}

// localHost is the default host without a platform stack or hosts: the local Docker socket,
// as the dev platform stack sets it up (one definition, shared with that stack's test).
var localHost = platform.LocalHost()

// validate checks the provisioning settings without building anything, reporting every
// problem at once. It returns the Pulumi CLI path and the health timeout. A missing image is
// daemon.ErrNotConfigured: the daemon can run without provisioning.
func (f provisionFlags) validate(e *Env) (cliPath string, health time.Duration, err error) {
	if f.image == "" {
		return "", 0, fmt.Errorf("%w: set POOL_LANGFLOW_IMAGE (or --langflow-image) to a Langflow image pinned by digest", daemon.ErrNotConfigured)
	}
	var errs []error
	if err := platform.ValidatePinnedImage(f.image); err != nil {
		errs = append(errs, fmt.Errorf("--langflow-image: %w", err))
	}
	if health, err = parseTimeout(f.healthTimeout); err != nil {
		errs = append(errs, fmt.Errorf("--health-timeout: %w", err))
	}
	if f.secrets != pulumiprov.SecretsPassphrase && !strings.Contains(f.secrets, "://") {
		errs = append(errs, fmt.Errorf("--pulumi-secrets-provider %q: want %q or a KMS URL", f.secrets, pulumiprov.SecretsPassphrase))
	}
	if f.platformStack == "" {
		if err := platform.ValidateDomain(f.domain); err != nil {
			errs = append(errs, fmt.Errorf("--domain: %w", err))
		}
	}
	cliPath = f.cliPath()
	if _, err := os.Stat(cliPath); err != nil {
		errs = append(errs, fmt.Errorf("Pulumi CLI not found at %q: install it or run `make pulumi` (--pulumi-cli)", cliPath))
	}
	return cliPath, health, errors.Join(errs...)
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

// pulumiTenants builds the Pulumi provisioner from flags, environment and config.
func (e *Env) pulumiTenants(ctx context.Context, s *store.Store, concurrency int) (pool.Tenants, error) {
	cfg, err := e.pulumiConfig(s, concurrency)
	if err != nil {
		return nil, err
	}
	p, err := pulumiprov.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	e.hosts = p.Hosts // the stray pass sweeps the hosts the provisioner places on
	return p, nil
}

// pulumiConfig is the Pulumi provisioner's configuration from flags, environment and config.
func (e *Env) pulumiConfig(s *store.Store, concurrency int) (pulumiprov.Config, error) {
	f := e.provision
	cliPath, health, err := f.validate(e)
	if err != nil {
		return pulumiprov.Config{}, err
	}
	key, err := e.Key()
	if err != nil {
		return pulumiprov.Config{}, err
	}
	hosts := e.Hosts
	if len(hosts) == 0 && f.platformStack == "" {
		hosts = []platform.Host{localHost}
	}
	return pulumiprov.Config{
		DataDir: e.DataDir, PulumiCLI: cliPath, BackendURL: f.backend, SecretsProvider: f.secrets, SecretKey: key,
		PlatformStack: f.platformStack, Hosts: hosts, Domain: f.domain, Placements: s.Placements, Tiers: e.Tiers,
		Image: f.image, Concurrency: concurrency, HealthTimeout: health, NoPluginDownload: f.noPluginDownload, Log: e.Log,
		Account: s.Get, Docker: dockerhost.Dial,
	}, nil
}
