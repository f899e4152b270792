package pulumiprov_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/infra/tenant"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
)

const testImage = "langflowai/langflow:1.6.0@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// tenants is the fake fleet: one Langflow double per slug, and what the injected program saw.
type tenants struct {
	t testing.TB

	mu      sync.Mutex
	servers map[string]*langflowtest.Server
	specs   map[string]tenant.Spec
	runs    map[string]int
	fail    map[string]error
	block   map[string]chan struct{} // the program waits on it (started is signalled first)
	started chan string

	running, maxRunning atomic.Int32
}

func newTenants(t testing.TB) *tenants {
	return &tenants{t: t, servers: map[string]*langflowtest.Server{}, specs: map[string]tenant.Spec{},
		runs: map[string]int{}, fail: map[string]error{}, block: map[string]chan struct{}{}, started: make(chan string, 16)}
}

// server returns slug's Langflow double, started on first use with the operator the container's
// environment names (the bootstrap password, as the spec carries it).
func (ts *tenants) server(a pool.Account) *langflowtest.Server {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if s, ok := ts.servers[a.Slug]; ok {
		return s
	}
	s := langflowtest.NewServer(ts.t, langflowtest.Options{Superuser: a.OperatorUser, SuperuserPassword: a.OperatorBootstrap})
	ts.servers[a.Slug] = s
	return s
}

// program is the provider-free stand-in for tenant.Program: it takes the same spec, validates
// it the same way, registers a component (no plugin needed) and exports what tenant.Program
// exports, with the Langflow double's address as url, plus a secret output.
func (ts *tenants) program(spec tenant.Spec) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		n := ts.running.Add(1)
		defer ts.running.Add(-1)
		for m := ts.maxRunning.Load(); n > m && !ts.maxRunning.CompareAndSwap(m, n); m = ts.maxRunning.Load() {
		}
		ts.mu.Lock()
		ts.specs[spec.Slug] = spec
		ts.runs[spec.Slug]++
		fail, block := ts.fail[spec.Slug], ts.block[spec.Slug]
		srv := ts.servers[spec.Slug]
		ts.mu.Unlock()
		if block != nil {
			ts.started <- spec.Slug
			select { // an interrupted CLI drops the connection, which ends the program's context
			case <-block:
			case <-ctx.Context().Done():
				return ctx.Context().Err()
			}
		}
		if err := spec.Validate(); err != nil {
			return err
		}
		if fail != nil {
			return fail
		}
		if srv != nil && !spec.Suspended {
			// The container (re)starts with the spec's environment: Langflow's setup_superuser.
			if err := srv.Boot(spec.OperatorUser, spec.OperatorPassword); err != nil {
				return err
			}
		}
		var comp struct{ pulumi.ResourceState }
		if err := ctx.RegisterComponentResource("tenantpool:test:Tenant", spec.Slug, &comp); err != nil {
			return err
		}
		url := spec.URL()
		if srv != nil {
			url = srv.URL
		}
		ctx.Export(tenant.OutputURL, pulumi.String(url))
		ctx.Export(tenant.OutputHost, pulumi.String(spec.Host.Name))
		ctx.Export(tenant.OutputContainerName, pulumi.String(spec.ContainerName()))
		ctx.Export("operatorPassword", pulumi.ToSecret(pulumi.String(spec.OperatorPassword)))
		return nil
	}
}

func host(name string, capacity int) platform.Host {
	return platform.Host{Name: name, DockerURL: "unix:///var/run/docker.sock", Capacity: capacity,
		Network: platform.DefaultNetwork, WildcardTarget: true}
}

func testTier() pool.Tier { return pool.DefaultTiers()[0] }

func account(id int64, slug string) pool.Account {
	return pool.Account{
		ID: id, Slug: slug, Tier: "basic", State: pool.StateProvisioning,
		OperatorUser: "operator", OperatorPassword: "operator-pw-" + slug + "-0123456789",
		OperatorBootstrap: "operator-boot-" + slug + "-0123456789",
		SecretKey:         "secret-key-" + slug + "-0123456789abcdefghijklmnopqrstuvwxyz",
		CustomerUser:      "customer-" + slug, CustomerPassword: "customer-pw-" + slug + "-0123456789",
	}
}

type logBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

type options struct {
	dataDir     string
	backend     string
	concurrency int
	hosts       []platform.Host
	platform    string
	place       func(ctx context.Context, accountID int64, prefer string, hosts []pool.HostCapacity) (string, error)
	program     func(tenant.Spec) pulumi.RunFunc // nil: the fleet's
	noDownload  bool
	health      time.Duration // default a minute
	docker      bool          // give the provisioner Docker access to the hosts
	accounts    func(context.Context, int64) (pool.Account, error)
	// companyDomain is the configured company domain.
	companyDomain string
	brand         func(context.Context, int64) (pool.Brand, error)
	flows         map[string][]langflow.Flow
	tiers         pool.Tiers // nil: basic only
	// domain ("" = localhost), cloudflare and domains (custom domains of an account)
	// configure custom-domain tests.
	domain     string
	cloudflare *platform.CloudflareConfig
	domains    func(context.Context, int64) ([]pool.CustomDomain, error)
}

// newProvisioner builds a provisioner on the real CLI with a file backend in a temp dir.
func newProvisioner(t testing.TB, ts *tenants, o options) (*pulumiprov.Provisioner, *logBuffer) {
	t.Helper()
	cliPath := pooltest.PulumiCLI(t)
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	if o.hosts == nil && o.platform == "" {
		o.hosts = []platform.Host{host("local", 100)}
	}
	if o.health == 0 {
		o.health = time.Minute
	}
	if o.domain == "" {
		o.domain = "localhost"
	}
	if o.tiers == nil {
		o.tiers = pool.Tiers{"basic": testTier()}
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	prog := o.program
	if prog == nil && ts != nil {
		prog = ts.program
	}
	p, err := pulumiprov.New(t.Context(), pulumiprov.Config{
		DataDir:          o.dataDir,
		PulumiCLI:        cliPath,
		BackendURL:       o.backend,
		SecretKey:        []byte("0123456789abcdef0123456789abcdef"),
		PlatformStack:    o.platform,
		Hosts:            o.hosts,
		Domain:           o.domain,
		CompanyDomain:    o.companyDomain,
		Place:            o.place,
		Tiers:            o.tiers,
		Cloudflare:       o.cloudflare,
		Domains:          o.domains,
		Image:            testImage,
		Revision:         "test",
		Program:          prog,
		Concurrency:      o.concurrency,
		Gate:             langflow.NewGate(langflow.GateOptions{PollInterval: 10 * time.Millisecond}),
		HealthTimeout:    o.health,
		NoPluginDownload: o.noDownload,
		Account:          o.accounts,
		Brand:            o.brand,
		Flows:            o.flows,
		Docker:           dockerAccess(o.docker),
		Log:              log,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p, logs
}

func dockerAccess(on bool) func(string) (*dockerhost.Client, error) {
	if on {
		return dockerhost.Dial
	}
	return nil
}

func mustProvision(t testing.TB, p *pulumiprov.Provisioner, a pool.Account) pool.Provisioned {
	t.Helper()
	got, err := p.Provision(t.Context(), a, testTier())
	if err != nil {
		t.Fatalf("Provision %s: %v", a.Slug, err)
	}
	return got
}

func noSecrets(t testing.TB, text string, accounts ...pool.Account) {
	t.Helper()
	for _, a := range accounts {
		for _, s := range []string{a.OperatorPassword, a.OperatorBootstrap, a.SecretKey, a.CustomerPassword} {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("a secret of %s leaked", a.Slug)
			}
		}
	}
}

func contains(s, sub string) bool { return len(sub) > 0 && len(s) >= len(sub) && indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

var errBoom = errors.New("boom: the provider refused the container")

func slugs(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i+1)
	}
	return out
}
