package pulumiprov

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/infra/tenant"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
	"github.com/axiestudio/tenantpool/pool/langflow"
)

// Defaults.
const (
	DefaultProject       = "tenantpool-tenants"
	DefaultConcurrency   = 4
	DefaultHealthTimeout = 10 * time.Minute
	// SecretsPassphrase selects the passphrase secrets provider.
	SecretsPassphrase = "passphrase"
)

// Config configures a Provisioner. DataDir, Image and either SecretKey or a KMS SecretsProvider
// are required, and hosts must come from PlatformStack or Hosts.
type Config struct {
	// DataDir holds the stacks' work directories (DataDir/pulumi/stacks/<slug>), PULUMI_HOME
	// (DataDir/pulumi/home) and, by default, the state (DataDir/pulumi/state).
	DataDir string
	// PulumiCLI is the path of the pulumi binary; "" looks "pulumi" up in PATH.
	PulumiCLI string
	// BackendURL is any Pulumi backend URL; default file://<DataDir>/pulumi/state.
	BackendURL string
	// Project is the Pulumi project of tenant stacks (default DefaultProject).
	Project string
	// SecretsProvider is "passphrase" (the default) or a cloud KMS URL (awskms://…, gcpkms://…,
	// azurekeyvault://…, hashivault://…).
	SecretsProvider string
	// SecretKey is the pool's secret key; the passphrase of the passphrase provider is derived
	// from it (HMAC-SHA256), so nothing else needs to be kept safe. Unused with a KMS provider.
	SecretKey []byte
	// Env is extra environment for the CLI (cloud credentials for the backend or KMS, a
	// PULUMI_ACCESS_TOKEN, …). Values are never logged.
	Env map[string]string

	// PlatformStack is the fully qualified name (org/project/stack) of the platform stack in the
	// same backend; its "hosts" and "domain" outputs are read before each placement.
	PlatformStack string
	// Hosts are used when there is no platform stack.
	Hosts []platform.Host
	// Domain is the platform domain; when PlatformStack is set its "domain" output wins.
	Domain string
	// CompanyDomain is the company's own site and shop (optional); when PlatformStack is set
	// its "companyDomain" output wins. Only checked (Domains): it should not share the tenants'
	// registrable domain.
	CompanyDomain string
	// Place reserves a host for an account among hosts and records it with the account
	// (store.PlaceAccount): prefer (where an earlier attempt put the stack) or the host it holds
	// if listed, else the one with the most free capacity, atomically across replicas, counting
	// accounts still provisioning; ErrNoCapacity when every host is full. Nil: this process
	// places on its own, counting only its own placements (a provisioner without a store).
	Place func(ctx context.Context, accountID int64, prefer string, hosts []pool.HostCapacity) (string, error)

	// Tiers resolve an account's tier for Suspend and Resume (Provision is handed its tier).
	Tiers pool.Tiers
	// Account re-reads an account from the store: Reapply checks, under the tenant's lock,
	// that the account is still sold. Nil: the account handed in is trusted.
	Account func(ctx context.Context, id int64) (pool.Account, error)
	// Domains lists an account's custom domains (store.AccountDomains): every update of the
	// tenant's stack carries the ones not detaching as Cloudflare custom hostnames and routes
	// the active ones. Nil: no custom domains.
	Domains func(ctx context.Context, accountID int64) ([]pool.CustomDomain, error)

	// Docker opens a client of a host's Docker Engine (dockerhost.Dial). With it, every update
	// first removes the tenant's containers that its stack does not record (an interrupted
	// update's creates), a teardown removes whatever of the tenant its stack left on the host,
	// and a teardown whose stack is missing can tell a tenant already gone from one whose stack
	// lives in another backend. Nil: none of that.
	Docker func(dockerURL string) (*dockerhost.Client, error)
	// StaleLockAfter: a stack lock this old is a dead update's whoever took it (default
	// DefaultStaleLockAfter). A lock taken on this host is stale as soon as its process is gone.
	StaleLockAfter time.Duration

	// Image is the Langflow image, pinned by digest (repo[:tag]@sha256:<hex>).
	Image string
	// Cloudflare is the zone of the domain and a token that may edit its DNS (and custom
	// hostnames); nil for a local domain. Every tenant's spec carries it: a tenant on a host that
	// is not the wildcard target gets its own DNS record with it, and without it such a tenant's
	// spec is invalid (CheckDNS finds that before any tenant is placed). The token is a secret.
	Cloudflare *platform.CloudflareConfig
	// Brand reads an account's white-label settings (store.Brand); they reach the container of a
	// tier with branding at every update. Nil: no branding.
	Brand func(ctx context.Context, accountID int64) (pool.Brand, error)
	// Flows are the starter flows of each tier (by name), imported into every new studio as its
	// customer once it is ready (ImportFlows). Nil: none.
	Flows map[string][]langflow.Flow
	// StarterFlowsPath and StarterFlows are passed to every tenant (see tenant.Spec).
	StarterFlowsPath string
	StarterFlows     map[string]string
	// Revision identifies the program's code in a generation (pool.Generation); default
	// tenant.ProgramVersion (not the binary's revision: a new daemon build that shapes no tenant
	// differently must not make every tenant stale).
	Revision string

	// Program builds the inline program from a spec; default tenant.Program. Tests inject a
	// provider-free program here; everything else runs the same code.
	Program func(tenant.Spec) pulumi.RunFunc

	// Concurrency bounds concurrent engine operations (up, destroy); default 4.
	Concurrency int
	// Gate is the readiness gate; default langflow.NewGate with the logger.
	Gate *langflow.Gate
	// HealthTimeout fails the account when /health_check is not ok in time; default 10m.
	HealthTimeout time.Duration
	// NoPluginDownload forbids the engine to download plugins
	// (PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION): a missing plugin fails at once with
	// ErrMissingPlugin. For air-gapped hosts and tests.
	NoPluginDownload bool
	// Log receives engine events at debug level and placements at info. Default: discard.
	Log *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.DataDir == "" {
		return c, errors.New("pulumiprov: data dir is required")
	}
	dir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return c, fmt.Errorf("pulumiprov: data dir: %w", err)
	}
	c.DataDir = dir
	if c.BackendURL == "" {
		c.BackendURL = DefaultBackendURL(dir)
	}
	if c.Project == "" {
		c.Project = DefaultProject
	}
	if c.SecretsProvider == "" {
		c.SecretsProvider = SecretsPassphrase
	}
	if c.SecretsProvider == SecretsPassphrase && len(c.SecretKey) < 16 {
		return c, errors.New("pulumiprov: the passphrase secrets provider needs the pool's secret key (or give a KMS secrets provider URL)")
	}
	if c.SecretsProvider != SecretsPassphrase && !strings.Contains(c.SecretsProvider, "://") {
		return c, fmt.Errorf("pulumiprov: secrets provider %q: want %q or a KMS URL", c.SecretsProvider, SecretsPassphrase)
	}
	if err := platform.ValidatePinnedImage(c.Image); err != nil {
		return c, fmt.Errorf("pulumiprov: %w", err)
	}
	if c.PlatformStack == "" && len(c.Hosts) == 0 {
		return c, errors.New("pulumiprov: no hosts: give the platform stack or hosts")
	}
	if c.PlatformStack == "" {
		if err := platform.ValidateDomain(c.Domain); err != nil {
			return c, fmt.Errorf("pulumiprov: %w", err)
		}
		if err := validateHosts(c.Hosts); err != nil {
			return c, fmt.Errorf("pulumiprov: %w", err)
		}
		if err := tenant.ValidateDNS(c.Domain, c.Cloudflare, c.Hosts...); err != nil {
			return c, fmt.Errorf("pulumiprov: %w", err)
		}
	} else if c.Cloudflare != nil {
		if err := c.Cloudflare.Validate(); err != nil {
			return c, fmt.Errorf("pulumiprov: %w", err)
		}
	}
	if c.Revision == "" {
		c.Revision = tenant.ProgramVersion
	}
	if c.Program == nil {
		c.Program = tenant.Program
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Gate == nil {
		c.Gate = langflow.NewGate(langflow.GateOptions{Logger: c.Log})
	}
	if c.HealthTimeout <= 0 {
		c.HealthTimeout = DefaultHealthTimeout
	}
	if c.StaleLockAfter <= 0 {
		c.StaleLockAfter = DefaultStaleLockAfter
	}
	return c, nil
}

// CheckDNS reads the hosts and the domain tenants are placed by (the platform stack's outputs,
// else the configured ones) and reports what their tenants would lack for their DNS names with
// the configured Cloudflare settings (tenant.ValidateDNS): a host that is not the wildcard
// target of a real domain needs Cloudflare. Such an error wraps tenant.ErrInvalidSpec (and
// tenant.ErrNeedsCloudflare when Cloudflare is missing): every tenant placed there would fail
// for good, so a daemon should refuse to start rather than find out tenant by tenant. Any other
// error is a failure to read the platform stack.
func (p *Provisioner) CheckDNS(ctx context.Context) error {
	domain, hosts, err := p.platformOutputs(ctx)
	if err != nil {
		return err
	}
	if err := tenant.ValidateDNS(domain, p.cfg.Cloudflare, hosts...); err != nil {
		if p.cfg.PlatformStack != "" {
			return fmt.Errorf("platform stack %s (domain %s): %w", p.cfg.PlatformStack, domain, err)
		}
		return err
	}
	return nil
}

// DefaultBackendURL is the backend of the stacks of the data directory dir (absolute) when none
// is configured: file://<dir>/pulumi/state. `poold platform` defaults to it too, so the daemon
// finds the platform stack's outputs there.
func DefaultBackendURL(dir string) string {
	return "file://" + filepath.ToSlash(filepath.Join(dir, "pulumi", "state"))
}

// HomeDir is PULUMI_HOME for the data directory dir: <dir>/pulumi/home, where the provider
// plugins are installed.
func HomeDir(dir string) string { return filepath.Join(dir, "pulumi", "home") }

// passphrase derives the passphrase provider's passphrase from the pool's secret key; a
// separate label keeps it independent of every other use of the key.
func passphrase(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tenantpool/pulumiprov/passphrase/v1"))
	return hex.EncodeToString(m.Sum(nil))
}
