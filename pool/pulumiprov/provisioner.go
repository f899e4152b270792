package pulumiprov

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/deploy"
	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/infra/tenant"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
	"github.com/axiestudio/tenantpool/pool/langflow"
)

// Stack config keys the provisioner sets. ConfigSuspended records that the stack's last update
// suspended the tenant: a re-apply that waited for the tenant's lock while a suspension ran sees
// it even before the store does.
const (
	ConfigHost                    = "tenantpool:host"
	ConfigTier                    = "tenantpool:tier"
	ConfigGeneration              = "tenantpool:generation"
	ConfigImage                   = "tenantpool:image"
	ConfigRestart                 = "tenantpool:restart"
	ConfigSuspended               = "tenantpool:suspended"
	ConfigDisableDefaultProviders = "pulumi:disable-default-providers"
)

// cancelTimeout bounds stack.Cancel after an interrupted update.
const cancelTimeout = 30 * time.Second

// Provisioner implements pool.Tenants with the Pulumi Automation API.
type Provisioner struct {
	cfg    Config
	cli    *cli
	home   string // PULUMI_HOME
	stacks string // parent of the per-stack work directories
	refDir string // work directory for reading the platform stack
	env    map[string]string
	scrub  scrubber
	engine chan struct{} // semaphore: concurrent engine operations
	placer placer

	mu      sync.Mutex
	slugs   map[string]*sync.Mutex        // one operation per tenant at a time in this process
	waiting map[string]int                // callers waiting for a slug's lock (tests observe it)
	dockers map[string]*dockerhost.Client // by Docker URL
}

var _ pool.Tenants = (*Provisioner)(nil)

// New checks the configuration and the CLI and prepares the data directory.
func New(ctx context.Context, cfg Config) (*Provisioner, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c, err := newCLI(ctx, cfg.PulumiCLI)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(cfg.DataDir, "pulumi")
	p := &Provisioner{
		cfg:     cfg,
		cli:     c,
		home:    HomeDir(cfg.DataDir),
		stacks:  filepath.Join(root, "stacks"),
		refDir:  filepath.Join(root, "platform-ref"),
		engine:  make(chan struct{}, cfg.Concurrency),
		slugs:   map[string]*sync.Mutex{},
		waiting: map[string]int{},
		dockers: map[string]*dockerhost.Client{},
	}
	dirs := []string{p.home, p.stacks, p.refDir}
	if state, ok := strings.CutPrefix(cfg.BackendURL, "file://"); ok {
		dirs = append(dirs, filepath.FromSlash(state))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("pulumiprov: %w", err)
		}
	}
	p.env = map[string]string{
		"PULUMI_SKIP_UPDATE_CHECK": "true",
		"PULUMI_BACKEND_URL":       cfg.BackendURL,
		"PULUMI_HOME":              p.home,
	}
	if cfg.NoPluginDownload {
		p.env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
	}
	if cfg.SecretsProvider == SecretsPassphrase {
		pass := passphrase(cfg.SecretKey)
		p.env["PULUMI_CONFIG_PASSPHRASE"] = pass
		p.scrub = append(p.scrub, pass)
	}
	for k, v := range cfg.Env {
		p.env[k] = v
		p.scrub = append(p.scrub, v)
	}
	if cfg.Cloudflare != nil && cfg.Cloudflare.APIToken != "" {
		p.scrub = append(p.scrub, cfg.Cloudflare.APIToken) // a provider error could quote it
	}
	// Crash-only: whatever a killed predecessor on this data directory left running goes now.
	p.sweep(cfg.Log)
	return p, nil
}

func (p *Provisioner) envList() []string {
	out := make([]string, 0, len(p.env))
	for k, v := range p.env {
		out = append(out, k+"="+v)
	}
	return out
}

// StackName is the tenant's stack: tenant-<slug>.
func StackName(slug string) string { return "tenant-" + slug }

func (p *Provisioner) workDir(slug string) string { return filepath.Join(p.stacks, slug) }

func (p *Provisioner) lockSlug(slug string) func() {
	p.mu.Lock()
	m, ok := p.slugs[slug]
	if !ok {
		m = &sync.Mutex{}
		p.slugs[slug] = m
	}
	p.waiting[slug]++
	p.mu.Unlock()
	m.Lock()
	p.mu.Lock()
	p.waiting[slug]--
	p.mu.Unlock()
	return m.Unlock
}

func (p *Provisioner) acquire(ctx context.Context) (func(), error) {
	select {
	case p.engine <- struct{}{}:
		return func() { <-p.engine }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// workspaceOptions are the options of one tenant stack's workspace (its own directory).
func (p *Provisioner) workspaceOptions(slug string) ([]auto.LocalWorkspaceOption, error) {
	dir := p.workDir(slug)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return []auto.LocalWorkspaceOption{
		auto.WorkDir(dir),
		auto.Pulumi(p.cli),
		auto.PulumiHome(p.home),
		auto.Project(workspace.Project{
			Name:    tokens.PackageName(p.cfg.Project),
			Runtime: workspace.NewProjectRuntimeInfo("go", nil),
			Backend: &workspace.ProjectBackend{URL: p.cfg.BackendURL},
		}),
		auto.SecretsProvider(p.cfg.SecretsProvider),
		auto.EnvVars(p.env),
	}, nil
}

// BuildSpec is the tenant spec of an account: the row's identity and secrets, its tier, the
// chosen host and the provisioner's platform settings.
func (p *Provisioner) BuildSpec(a pool.Account, t pool.Tier, domain string, host platform.Host) tenant.Spec {
	return tenant.Spec{
		Slug:         a.Slug,
		Domain:       domain,
		Tier:         t,
		Host:         host,
		Image:        p.cfg.Image,
		OperatorUser: a.OperatorUser,
		// The container's environment gets the bootstrap password, always: the daemon's own
		// one never leaves the daemon (it is set through Langflow's API, see ready), and an
		// update — a re-apply, a resume, poold tenant up — changes nothing the tenant can read.
		OperatorPassword: a.OperatorBootstrap,
		SecretKey:        a.SecretKey,
		Cloudflare:       p.cfg.Cloudflare,
		StarterFlowsPath: p.cfg.StarterFlowsPath,
		StarterFlows:     p.cfg.StarterFlows,
	}
}

// DomainSpec splits an account's custom domains into the spec's custom hostnames (every one
// not detaching) and the routed ones (active).
func DomainSpec(ds []pool.CustomDomain) (custom, active []string) {
	for _, d := range ds {
		if d.Kept() {
			custom = append(custom, d.Hostname)
		}
		if d.Routed() {
			active = append(active, d.Hostname)
		}
	}
	return custom, active
}

// Build implements pool.Tenants: the program revision, the configured image and the
// generation they make with the tier.
func (p *Provisioner) Build(t pool.Tier) pool.Build {
	return pool.Build{Generation: pool.Generation(p.cfg.Revision, p.cfg.Image, t), Program: p.cfg.Revision, Image: p.cfg.Image}
}

// Provision implements pool.Tenants: place, up, then the readiness gate.
func (p *Provisioner) Provision(ctx context.Context, a pool.Account, t pool.Tier) (pool.Provisioned, error) {
	defer p.lockSlug(a.Slug)()
	log := p.cfg.Log.With("account", a.Slug, "tier", t.Name)
	sec := append(scrubber{a.OperatorPassword, a.OperatorBootstrap, a.SecretKey, a.CustomerPassword}, p.scrub...)

	url, host, err := p.up(ctx, log, sec, a, t, upMode{})
	if err != nil {
		return pool.Provisioned{}, err
	}
	userID, err := p.ready(ctx, a, url)
	if err != nil {
		return pool.Provisioned{}, err
	}
	if err := p.importFlows(ctx, log, a, t, url); err != nil {
		return pool.Provisioned{}, err
	}
	return pool.Provisioned{Host: host, URL: url, CustomerUserID: userID, Generation: p.Build(t).Generation}, nil
}

// up runs the engine part: it holds an engine slot from stack selection to the end of the update.
// upMode says what an update is for: a (re-)provision, a suspension, or a re-apply that must
// re-create the container.
type upMode struct {
	suspended bool
	restart   bool // a new restart token: the container is replaced (restarted) on its volume
	// byHand is a run of `poold tenant`: the stack must exist already, and the engine's progress
	// goes to out (scrubbed).
	byHand  bool
	preview bool // preview only: no resource changes (the stack's configuration is set as for an update)
	out     io.Writer
	// image, when set, replaces the configured image (a rolling upgrade, or its rollback).
	image string
	// keepImage keeps the image the stack last ran (its configuration) instead of the
	// configured one: a sold tenant's re-apply, suspension or resumption never changes its
	// image — only a rolling upgrade does (Reimage).
	keepImage bool
}

func (p *Provisioner) up(ctx context.Context, log *slog.Logger, sec scrubber, a pool.Account, t pool.Tier, mode upMode) (url, hostName string, err error) {
	domain, hosts, err := p.platformOutputs(ctx)
	if err != nil {
		return "", "", err
	}
	release, err := p.acquire(ctx)
	if err != nil {
		return "", "", err
	}
	defer release()

	name := StackName(a.Slug)
	var program pulumi.RunFunc // set once the host is known, before Up runs it
	opts, err := p.workspaceOptions(a.Slug)
	if err != nil {
		return "", "", err
	}
	open := auto.UpsertStackInlineSource
	if mode.byHand {
		open = auto.SelectStackInlineSource // never creates a stack
	}
	st, err := open(ctx, name, p.cfg.Project, func(c *pulumi.Context) error { return program(c) }, opts...)
	if err != nil {
		if mode.byHand && auto.IsSelectStack404Error(err) {
			return "", "", p.noStack(a.Slug)
		}
		return "", "", classify(ctx, op{name: "select stack", stack: name, err: err, stderr: sec.scrub(err.Error()), home: p.home})
	}
	have, err := st.GetAllConfig(ctx)
	if err != nil {
		return "", "", classify(ctx, op{name: "read config", stack: name, err: err, stderr: sec.scrub(err.Error()), home: p.home})
	}
	prefer := a.Host
	if v, ok := have[ConfigHost]; ok && v.Value != "" {
		prefer = v.Value
	}
	// The restart token is kept in the stack: later updates (a retried job, a resume) keep it,
	// so only a re-apply replaces the container.
	restart := have[ConfigRestart].Value
	if mode.restart {
		restart = strconv.FormatInt(time.Now().UnixNano(), 10)
	}
	host, err := p.place(ctx, a, prefer, hosts)
	if err != nil {
		return "", "", err
	}
	spec := p.BuildSpec(a, t, domain, host)
	spec.Suspended, spec.Restart = mode.suspended, restart
	if p.cfg.Domains != nil {
		ds, err := p.cfg.Domains(ctx, a.ID)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", name, err)
		}
		spec.CustomDomains, spec.ActiveDomains = DomainSpec(ds)
	}
	if mode.image != "" {
		spec.Image = mode.image
	} else if ran := have[ConfigImage].Value; mode.keepImage && ran != "" {
		spec.Image = ran
	}
	if spec.Branding, err = p.branding(ctx, a, t); err != nil {
		return "", "", err
	}
	if err := spec.Validate(); err != nil {
		return "", "", pool.Permanent(fmt.Errorf("%s: %w", name, err))
	}
	program = p.cfg.Program(spec)
	if err := st.SetAllConfig(ctx, auto.ConfigMap{
		ConfigDisableDefaultProviders: {Value: `["*"]`},
		ConfigHost:                    {Value: host.Name},
		ConfigTier:                    {Value: t.Name},
		ConfigGeneration:              {Value: pool.Generation(p.cfg.Revision, spec.Image, t)},
		ConfigImage:                   {Value: spec.Image},
		ConfigRestart:                 {Value: restart},
		ConfigSuspended:               {Value: strconv.FormatBool(mode.suspended)},
	}); err != nil {
		return "", "", classify(ctx, op{name: "set config", stack: name, err: err, stderr: sec.scrub(err.Error()), home: p.home})
	}
	if mode.preview {
		return "", host.Name, p.preview(ctx, log, sec, st, mode.out)
	}
	if !mode.suspended {
		if err := p.checkStorage(ctx, log, t, host); err != nil {
			return "", "", err
		}
	}
	if err := p.recoverStack(ctx, log, sec, st, a.Slug, &host); err != nil {
		return "", "", err
	}
	log.Info("stack update", "stack", name, "host", host.Name)

	ev := watchEvents(ctx, log, sec)
	var stderr bytes.Buffer
	progress := optup.SuppressProgress()
	if mode.out != nil {
		progress = optup.ProgressStreams(mode.out)
	}
	res, err := st.Up(ctx, optup.EventStreams(ev.ch), optup.ErrorProgressStreams(&stderr), progress)
	diag := ev.stop()
	if err != nil {
		if ctx.Err() != nil {
			p.cancel(ctx, log, st)
		}
		p.staleByMessage(ctx, log, st, err)
		return "", "", classify(ctx, op{name: "up", stack: name, err: err, diagnostics: diag, stderr: sec.scrub(stderr.String()), home: p.home})
	}
	out, ok := res.Outputs[tenant.OutputURL]
	url, _ = out.Value.(string)
	if !ok || url == "" {
		return "", "", pool.Permanent(fmt.Errorf("%s: %w: no %q output", name, ErrProgram, tenant.OutputURL))
	}
	if !mode.suspended {
		if err := p.applyEngineResources(ctx, log, spec); err != nil {
			return "", "", err
		}
	}
	return url, host.Name, nil
}

// checkStorage refuses, before any update, a tier that sizes storage (disk_mb, volume_mb) on a
// host whose engine cannot size it (its /info: storage driver and backing file system), with
// what to do; the engine would refuse the container or volume anyway, after a partial update.
// Without Docker access the host cannot be asked: a warning, and the engine decides.
func (p *Provisioner) checkStorage(ctx context.Context, log *slog.Logger, t pool.Tier, host platform.Host) error {
	if !t.SizesStorage() {
		return nil
	}
	if p.cfg.Docker == nil {
		log.Warn("tier sizes storage but the provisioner has no Docker access to check the host", "host", host.Name)
		return nil
	}
	c, err := p.docker(host)
	if err != nil {
		return err
	}
	in, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("host %s: %w", host.Name, err)
	}
	q := in.Quotas()
	if t.DiskMB > 0 && !q.Layer || t.VolumeMB > 0 && !q.Volume {
		return pool.Permanent(fmt.Errorf("tier %s on host %s: %s", t.Name, host.Name, q.Why))
	}
	return nil
}

// applyEngineResources sets the limits the Docker provider has no input for (the pids limit,
// the I/O weight) on the tenant's container through the Engine API, after every update: a
// re-created container starts without them. Without Docker access they cannot be set: a
// warning.
func (p *Provisioner) applyEngineResources(ctx context.Context, log *slog.Logger, spec tenant.Spec) error {
	if p.cfg.Docker == nil {
		log.Warn("no Docker access: the tenant's pids limit and I/O weight are not set", "host", spec.Host.Name)
		return nil
	}
	c, err := p.docker(spec.Host)
	if err != nil {
		return err
	}
	r := spec.EngineResources()
	warnings, err := c.UpdateResources(ctx, spec.ContainerName(), dockerhost.Resources{PidsLimit: r.PidsLimit, BlkioWeight: r.IOWeight})
	if errors.Is(err, pool.ErrNotFound) {
		// No container, no process to limit; whatever creates it again is an update of this
		// stack, which comes back here.
		log.Warn("no container to set the pids limit and I/O weight on", "host", spec.Host.Name, "container", spec.ContainerName())
		return nil
	}
	if err != nil {
		return fmt.Errorf("host %s: limits of %s: %w", spec.Host.Name, spec.ContainerName(), err)
	}
	for _, w := range warnings {
		log.Warn("engine warning on the tenant's limits", "host", spec.Host.Name, "warning", w)
	}
	return nil
}

// Suspend stops an account's tenant and keeps its data: the stack is updated with the spec
// marked suspended (no container; the data volume stays). Idempotent.
func (p *Provisioner) Suspend(ctx context.Context, a pool.Account) error {
	return p.setSuspended(ctx, a, true)
}

// Resume brings a suspended tenant back on its data volume and waits until it is healthy again.
// Idempotent.
func (p *Provisioner) Resume(ctx context.Context, a pool.Account) error {
	return p.setSuspended(ctx, a, false)
}

func (p *Provisioner) setSuspended(ctx context.Context, a pool.Account, suspended bool) error {
	t, err := p.cfg.Tiers.Get(a.Tier)
	if err != nil {
		return pool.Permanent(err)
	}
	defer p.lockSlug(a.Slug)()
	log := p.cfg.Log.With("account", a.Slug, "tier", t.Name, "suspended", suspended)
	sec := append(scrubber{a.OperatorPassword, a.OperatorBootstrap, a.SecretKey, a.CustomerPassword}, p.scrub...)
	url, _, err := p.up(ctx, log, sec, a, t, upMode{suspended: suspended, keepImage: true})
	if err != nil || suspended {
		return err
	}
	return p.cfg.Gate.WaitHealthy(ctx, url, p.cfg.HealthTimeout)
}

// cancel releases the stack's lock after an interrupted update, so the next attempt (after a
// restart) is not refused as a concurrent update.
func (p *Provisioner) cancel(ctx context.Context, log *slog.Logger, st auto.Stack) {
	cctx, done := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer done()
	if err := st.Cancel(cctx); err != nil {
		log.Warn("stack cancel after interrupted update failed", "stack", st.Name(), "err", deploy.ErrorLines(p.scrub.scrub(err.Error())))
	}
}

// ready is the readiness gate: /health_check ok through the real URL, the operator's bootstrap
// password (the container's environment) replaced by the daemon's own, then the customer login
// created, activated and proven.
func (p *Provisioner) ready(ctx context.Context, a pool.Account, url string) (string, error) {
	if err := p.cfg.Gate.WaitHealthy(ctx, url, p.cfg.HealthTimeout); err != nil {
		if ctx.Err() == nil && errors.Is(err, langflow.ErrNotReady) {
			return "", pool.Permanent(fmt.Errorf("readiness: %w", err))
		}
		return "", fmt.Errorf("readiness: %w", err)
	}
	if err := p.cfg.Gate.RotateOperator(ctx, url, a.OperatorUser, a.OperatorBootstrap, a.OperatorPassword); err != nil {
		if ctx.Err() != nil || errors.Is(err, langflow.ErrUnavailable) {
			return "", fmt.Errorf("readiness: %w", err)
		}
		return "", pool.Permanent(fmt.Errorf("readiness: %w", err))
	}
	id, err := p.cfg.Gate.EnsureCustomer(ctx, url,
		langflow.Credentials{Username: a.OperatorUser, Password: a.OperatorPassword},
		langflow.Credentials{Username: a.CustomerUser, Password: a.CustomerPassword})
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, langflow.ErrUnavailable) {
			return "", fmt.Errorf("readiness: %w", err)
		}
		return "", pool.Permanent(fmt.Errorf("readiness: %w", err))
	}
	return id, nil
}

// Destroy implements pool.Tenants: destroy the stack's resources, remove whatever of the tenant
// its stack left on its host (with Docker access), then remove the stack and its work
// directory.
//
// Without a stack in this backend, an account that never got a host has nothing to tear down
// (nil). One that got a host is an error (retryable, naming the backend): its tenant may well
// run, provisioned through another backend (a replica configured with another
// --pulumi-backend). With Docker access the host settles it: nothing of the tenant left there
// means it is torn down already (a repeated teardown), so nil.
func (p *Provisioner) Destroy(ctx context.Context, a pool.Account) error {
	defer p.lockSlug(a.Slug)()
	log := p.cfg.Log.With("account", a.Slug, "tier", a.Tier)
	sec := append(scrubber{a.OperatorPassword, a.OperatorBootstrap, a.SecretKey, a.CustomerPassword}, p.scrub...)
	release, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()

	name := StackName(a.Slug)
	opts, err := p.workspaceOptions(a.Slug)
	if err != nil {
		return err
	}
	st, err := auto.SelectStackInlineSource(ctx, name, p.cfg.Project, func(*pulumi.Context) error { return nil }, opts...)
	switch {
	case auto.IsSelectStack404Error(err):
		p.placer.release(a.Slug)
		if err := os.RemoveAll(p.workDir(a.Slug)); err != nil {
			return err
		}
		return p.destroyWithoutStack(ctx, log, a)
	case err != nil:
		return classify(ctx, op{name: "select stack", stack: name, err: err, stderr: sec.scrub(err.Error()), home: p.home})
	}
	host, err := p.stackHost(ctx, st, a.Host)
	if err != nil {
		return err
	}
	if err := p.recoverStack(ctx, log, sec, st, a.Slug, host); err != nil {
		return err
	}
	ev := watchEvents(ctx, log, sec)
	var stderr bytes.Buffer
	_, err = st.Destroy(ctx, optdestroy.EventStreams(ev.ch), optdestroy.ErrorProgressStreams(&stderr), optdestroy.SuppressProgress())
	diag := ev.stop()
	if err != nil {
		if ctx.Err() != nil {
			p.cancel(ctx, log, st)
		}
		p.staleByMessage(ctx, log, st, err)
		return classify(ctx, op{name: "destroy", stack: name, err: err, diagnostics: diag, stderr: sec.scrub(stderr.String()), home: p.home})
	}
	if host != nil && p.cfg.Docker != nil {
		if _, _, err := p.removeTenant(ctx, log, *host, a.Slug); err != nil {
			return fmt.Errorf("destroy %s: %w", a.Slug, err)
		}
	}
	if err := st.Workspace().RemoveStack(ctx, name); err != nil {
		return classify(ctx, op{name: "remove stack", stack: name, err: err, stderr: sec.scrub(err.Error()), home: p.home})
	}
	p.placer.release(a.Slug)
	log.Info("stack destroyed and removed", "stack", name)
	return os.RemoveAll(p.workDir(a.Slug))
}

// destroyWithoutStack is a teardown of an account that has no stack in this backend.
func (p *Provisioner) destroyWithoutStack(ctx context.Context, log *slog.Logger, a pool.Account) error {
	name := StackName(a.Slug)
	if a.Host == "" {
		return nil // never placed: nothing was built for it
	}
	backend := redactURL(p.cfg.BackendURL)
	if p.cfg.Docker == nil {
		return fmt.Errorf("destroy %s: stack %s is not in the Pulumi backend %s, yet the account was placed on host %s: "+
			"its tenant may run, provisioned through another backend (is this replica's --pulumi-backend the one that provisioned it?)",
			a.Slug, name, backend, a.Host)
	}
	_, hosts, err := p.platformOutputs(ctx)
	if err != nil {
		return fmt.Errorf("destroy %s: %w", a.Slug, err)
	}
	h := hostNamed(hosts, a.Host)
	if h == nil {
		return fmt.Errorf("destroy %s: stack %s is not in the Pulumi backend %s, and the account's host %s is not among the hosts: cannot tell whether its tenant still runs",
			a.Slug, name, backend, a.Host)
	}
	containers, volumes, err := p.tenantLeft(ctx, *h, a.Slug)
	if err != nil {
		return fmt.Errorf("destroy %s: %w", a.Slug, err)
	}
	if containers+volumes > 0 {
		return fmt.Errorf("destroy %s: stack %s is not in the Pulumi backend %s, but host %s still has %d container(s) and %d volume(s) of the tenant: "+
			"is this replica's --pulumi-backend the one that provisioned it? (the stray pass removes containers of retired and failed accounts after its grace)",
			a.Slug, name, backend, a.Host, containers, volumes)
	}
	log.Info("no stack and nothing of the tenant on its host: torn down already", "stack", name, "host", a.Host)
	return nil
}

// stackHost is the host the stack's config places the tenant on (fallback: the account's), as
// the current hosts describe it; nil when none matches.
func (p *Provisioner) stackHost(ctx context.Context, st auto.Stack, fallback string) (*platform.Host, error) {
	if p.cfg.Docker == nil {
		return nil, nil
	}
	name := fallback
	if v, err := st.GetConfig(ctx, ConfigHost); err == nil && v.Value != "" {
		name = v.Value
	}
	_, hosts, err := p.platformOutputs(ctx)
	if err != nil {
		return nil, err
	}
	return hostNamed(hosts, name), nil
}

// redactURL hides the password of a URL (a backend URL may carry credentials).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// Hosts are the Docker hosts tenants are placed on: the platform stack's, else the configured
// ones.
func (p *Provisioner) Hosts(ctx context.Context) ([]platform.Host, error) {
	_, hosts, err := p.platformOutputs(ctx)
	return hosts, err
}

// Outputs returns the outputs of an account's stack (secret values included, marked Secret).
func (p *Provisioner) Outputs(ctx context.Context, slug string) (auto.OutputMap, error) {
	defer p.lockSlug(slug)()
	name := StackName(slug)
	opts, err := p.workspaceOptions(slug)
	if err != nil {
		return nil, err
	}
	st, err := auto.SelectStackInlineSource(ctx, name, p.cfg.Project, func(*pulumi.Context) error { return nil }, opts...)
	if err != nil {
		if auto.IsSelectStack404Error(err) {
			_ = os.RemoveAll(p.workDir(slug)) // made by workspaceOptions for nothing
			return nil, fmt.Errorf("stack %s: %w", name, pool.ErrNotFound)
		}
		return nil, classify(ctx, op{name: "select stack", stack: name, err: err, stderr: p.scrub.scrub(err.Error()), home: p.home})
	}
	outs, err := st.Outputs(ctx)
	if err != nil {
		return nil, classify(ctx, op{name: "outputs", stack: name, err: err, stderr: p.scrub.scrub(err.Error()), home: p.home})
	}
	return outs, nil
}

// RotateCustomer implements pool.Tenants through the tenant's Langflow API (no Pulumi run).
func (p *Provisioner) RotateCustomer(ctx context.Context, a pool.Account, password string) error {
	return p.cfg.Gate.RotateAccount(ctx, a, password)
}
