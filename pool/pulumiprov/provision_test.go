package pulumiprov_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
)

// Eight tenants at concurrency 4 on two hosts of capacity 5 and 3: all ready, no host
// over-filled, no more than 4 programs running at once, outputs right; then a second run of one
// account changes nothing, and destroy removes its stack.
func TestProvisionEightAtConcurrencyFour(t *testing.T) {
	ts := newTenants(t)
	p, logs := newProvisioner(t, ts, options{concurrency: 4, hosts: []platform.Host{host("edge1", 5), host("edge2", 3)}})

	var accounts []pool.Account
	for i, s := range slugs(8, "client") {
		a := account(int64(i+1), s)
		ts.server(a)
		accounts = append(accounts, a)
	}
	got := make([]pool.Provisioned, len(accounts))
	errs := make([]error, len(accounts))
	var wg sync.WaitGroup
	for i, a := range accounts {
		wg.Go(func() { got[i], errs[i] = p.Provision(t.Context(), a, testTier()) })
	}
	wg.Wait()

	perHost := map[string]int{}
	for i, a := range accounts {
		if errs[i] != nil {
			t.Fatalf("Provision %s: %v", a.Slug, errs[i])
		}
		srv := ts.server(a)
		if got[i].URL != srv.URL {
			t.Errorf("%s: url %q, want the program's url output %q", a.Slug, got[i].URL, srv.URL)
		}
		u, ok := srv.User(a.CustomerUser)
		if !ok || !u.IsActive || u.ID != got[i].CustomerUserID || u.Password != a.CustomerPassword {
			t.Errorf("%s: customer %+v (found %t), want active with id %s", a.Slug, u.Username, ok, got[i].CustomerUserID)
		}
		if got[i].Generation != p.Build(testTier()).Generation || !strings.HasPrefix(got[i].Generation, "g") {
			t.Errorf("%s: generation %q", a.Slug, got[i].Generation)
		}
		perHost[got[i].Host]++
	}
	if perHost["edge1"] != 5 || perHost["edge2"] != 3 {
		t.Errorf("placement %v, want edge1 5 and edge2 3 (full, never over)", perHost)
	}
	if m := ts.maxRunning.Load(); m > 4 {
		t.Errorf("%d programs ran at once, want at most 4", m)
	}
	noSecrets(t, logs.String(), accounts...)
	if !strings.Contains(logs.String(), "engine resource") {
		t.Error("no engine events in the debug log")
	}

	a := accounts[0]
	outs, err := p.Outputs(t.Context(), a.Slug)
	if err != nil {
		t.Fatal(err)
	}
	if o := outs["operatorPassword"]; !o.Secret || o.Value != a.OperatorBootstrap {
		t.Errorf("secret output: secret %t, right value %t", o.Secret, o.Value == a.OperatorBootstrap)
	}
	if o := outs["containerName"]; o.Secret || o.Value != "tenant-"+a.Slug {
		t.Errorf("containerName output %+v", o)
	}

	// The same account again (a retried job): same host, url and customer; nothing new.
	again := mustProvision(t, p, a)
	if again != got[0] {
		t.Errorf("second run %+v, want %+v", again, got[0])
	}
	if n := len(ts.server(a).Users()); n != 2 {
		t.Errorf("%d Langflow users after the second run, want operator + customer", n)
	}

	if err := p.Destroy(t.Context(), a); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if _, err := p.Outputs(t.Context(), a.Slug); !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("outputs after destroy: %v, want ErrNotFound", err)
	}
	if err := p.Destroy(t.Context(), a); err != nil {
		t.Errorf("second Destroy: %v, want nil (idempotent)", err)
	}
	// Both hosts were full: the place it freed is the only one for a new tenant.
	b := account(9, "client09")
	ts.server(b)
	if got2 := mustProvision(t, p, b); got2.Host != got[0].Host {
		t.Errorf("after destroy the new tenant went to %s, want %s (the freed place)", got2.Host, got[0].Host)
	}
}

// A program that fails fails its account, permanently and with the reason, and nothing else.
func TestProgramFailureFailsOnlyThatAccount(t *testing.T) {
	ts := newTenants(t)
	p, logs := newProvisioner(t, ts, options{concurrency: 3})
	good1, bad, good2 := account(1, "ok1"), account(2, "bad"), account(3, "ok2")
	for _, a := range []pool.Account{good1, bad, good2} {
		ts.server(a)
	}
	ts.fail["bad"] = errBoom

	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i, a := range []pool.Account{good1, bad, good2} {
		wg.Go(func() { _, errs[i] = p.Provision(t.Context(), a, testTier()) })
	}
	wg.Wait()
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("good accounts: %v, %v", errs[0], errs[2])
	}
	err := errs[1]
	if !pool.IsPermanent(err) || !errors.Is(err, pulumiprov.ErrProgram) || !strings.Contains(err.Error(), errBoom.Error()) {
		t.Fatalf("failing program: %v; want a permanent ErrProgram with the reason", err)
	}
	if len(err.Error()) > 2500 {
		t.Errorf("reason is %d bytes: %q", len(err.Error()), err)
	}
	noSecrets(t, err.Error()+logs.String(), good1, bad, good2)
	if _, ok := ts.server(bad).User(bad.CustomerUser); ok {
		t.Error("the failed account got a customer login")
	}
}

// A tenant that never answers /health_check ok fails once the health timeout has passed, with
// the last probe's reason, and gets no customer login.
func TestNeverHealthyFailsTheAccount(t *testing.T) {
	ts := newTenants(t)
	p, _ := newProvisioner(t, ts, options{health: 200 * time.Millisecond})
	a := account(1, "client01")
	ts.mu.Lock()
	srv := langflowtest.NewServer(t, langflowtest.Options{Superuser: a.OperatorUser, SuperuserPassword: a.OperatorBootstrap, NeverHealthy: true})
	ts.servers[a.Slug] = srv
	ts.mu.Unlock()
	_, err := p.Provision(t.Context(), a, testTier())
	if !pool.IsPermanent(err) || !errors.Is(err, langflow.ErrNotReady) {
		t.Fatalf("got %v, want a permanent ErrNotReady", err)
	}
	if srv.Requests(langflowtest.RouteCreateUser) != 0 {
		t.Error("a customer was created on an unhealthy tenant")
	}
}

// An invalid spec (here a short bootstrap operator password) is permanent and never reaches the engine's
// update.
func TestInvalidSpecIsPermanent(t *testing.T) {
	ts := newTenants(t)
	p, _ := newProvisioner(t, ts, options{})
	a := account(1, "client01")
	a.OperatorBootstrap = "short"
	_, err := p.Provision(t.Context(), a, testTier())
	if !pool.IsPermanent(err) || !strings.Contains(err.Error(), "invalid tenant spec") {
		t.Fatalf("got %v, want a permanent invalid-spec error", err)
	}
	if ts.runs[a.Slug] != 0 {
		t.Error("the program ran for an invalid spec")
	}
}

// A missing CLI is one clear error that says what to install.
func TestMissingCLI(t *testing.T) {
	_, err := pulumiprov.New(t.Context(), pulumiprov.Config{
		DataDir: t.TempDir(), PulumiCLI: "/nonexistent/pulumi", SecretKey: make([]byte, 32),
		Hosts: []platform.Host{host("local", 1)}, Domain: "localhost", Image: testImage,
	})
	if !errors.Is(err, pulumiprov.ErrMissingCLI) || !strings.Contains(err.Error(), "make pulumi") {
		t.Fatalf("got %v, want ErrMissingCLI saying how to install it", err)
	}
}

// The real tenant program needs the Docker provider plugin, which cannot be downloaded here:
// the error names the plugin and the command that installs it, and is permanent.
func TestMissingPluginIsClear(t *testing.T) {
	p, _ := newProvisioner(t, nil, options{noDownload: true}) // default program: tenant.Program
	_, err := p.Provision(t.Context(), account(1, "client01"), testTier())
	if !errors.Is(err, pulumiprov.ErrMissingPlugin) || !pool.IsPermanent(err) ||
		!strings.Contains(err.Error(), "pulumi plugin install resource docker") {
		t.Fatalf("got %v, want a permanent ErrMissingPlugin with the install command", err)
	}
}

// Shutdown during an update: the update is interrupted, the lock released (stack.Cancel), the
// error is the context's (not permanent: the account stays provisioning), and the restarted
// provisioner finishes the same account.
func TestShutdownLeavesAccountResumable(t *testing.T) {
	ts := newTenants(t)
	dir := t.TempDir()
	p, _ := newProvisioner(t, ts, options{dataDir: dir})
	a := account(1, "client01")
	ts.server(a)
	release := make(chan struct{})
	ts.block[a.Slug] = release

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := p.Provision(ctx, a, testTier()); done <- err }()
	<-ts.started
	cancel()
	err := <-done
	close(release)
	if !errors.Is(err, context.Canceled) || pool.IsPermanent(err) {
		t.Fatalf("got %v, want context.Canceled, not permanent", err)
	}

	ts.mu.Lock()
	delete(ts.block, a.Slug)
	ts.mu.Unlock()
	p2, _ := newProvisioner(t, ts, options{dataDir: dir})
	if got := mustProvision(t, p2, a); got.URL != ts.server(a).URL {
		t.Errorf("resumed: %+v", got)
	}
}

// Two daemons on one backend updating the same stack: the second is refused as a concurrent
// update, which is retryable.
func TestConcurrentUpdateIsRetryable(t *testing.T) {
	ts := newTenants(t)
	backend := "file://" + t.TempDir()
	p1, _ := newProvisioner(t, ts, options{backend: backend})
	a := account(1, "client01")
	ts.server(a)
	release := make(chan struct{})
	ts.block[a.Slug] = release
	done := make(chan error, 1)
	go func() { _, err := p1.Provision(t.Context(), a, testTier()); done <- err }()
	<-ts.started

	// The second daemon has its own data dir (work directories) but the same backend.
	p2, _ := newProvisioner(t, ts, options{backend: backend})
	_, err := p2.Provision(t.Context(), a, testTier())
	close(release)
	if !errors.Is(err, pulumiprov.ErrConcurrentUpdate) || pool.IsPermanent(err) {
		t.Errorf("second daemon: %v, want retryable ErrConcurrentUpdate", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("first daemon: %v", err)
	}
}

// Hosts and domain come from the platform stack's outputs when there is one (the platform's own
// secrets are not needed to read them), with each host's Docker API version.
func TestHostsFromPlatformStack(t *testing.T) {
	ts := newTenants(t)
	dir := t.TempDir()
	backend := "file://" + dir + "/state"
	edge7 := host("edge7", 2)
	edge7.DockerAPIVersion = "1.44"
	makePlatformStack(t, dir+"/platform", backend, "platform.localhost", []platform.Host{edge7})
	p, _ := newProvisioner(t, ts, options{dataDir: dir, backend: backend, platform: "organization/tenantpool/dev"})
	a := account(1, "client01")
	ts.server(a)
	if got := mustProvision(t, p, a); got.Host != "edge7" {
		t.Errorf("host %q, want edge7 from the platform stack", got.Host)
	}
	if spec := ts.specs[a.Slug]; spec.Domain != "platform.localhost" || !reflect.DeepEqual(spec.Host, edge7) {
		t.Errorf("spec domain %q host %+v, want the platform's", spec.Domain, spec.Host)
	}
}

// The company's domain comes from the platform stack's companyDomain output when it states one,
// else from the configuration, as the tenants' domain does.
func TestDomainsFromPlatformStack(t *testing.T) {
	ts := newTenants(t)
	dir := t.TempDir()
	backend := "file://" + dir + "/state"
	makePlatformStackWith(t, dir+"/platform", backend, "apps.axiestudio.se", []platform.Host{host("edge7", 2)},
		map[string]string{platform.OutputCompanyDomain: "axiestudio.se"})
	p, _ := newProvisioner(t, ts, options{dataDir: dir, backend: backend, platform: "organization/tenantpool/dev"})
	tenants, company, err := p.Domains(t.Context())
	if err != nil || tenants != "apps.axiestudio.se" || company != "axiestudio.se" {
		t.Errorf("Domains = %q, %q, %v; want the platform stack's", tenants, company, err)
	}

	dir2 := t.TempDir()
	backend2 := "file://" + dir2 + "/state"
	makePlatformStack(t, dir2+"/platform", backend2, "platform.localhost", []platform.Host{host("edge7", 2)})
	p2, _ := newProvisioner(t, ts, options{dataDir: dir2, backend: backend2, platform: "organization/tenantpool/dev", companyDomain: "shop.localhost"})
	if tenants, company, err := p2.Domains(t.Context()); err != nil || tenants != "platform.localhost" || company != "shop.localhost" {
		t.Errorf("Domains without the output = %q, %q, %v; want the configured company domain", tenants, company, err)
	}
}

// makePlatformStack creates a provider-free stand-in of the platform stack (project tenantpool,
// stack dev) with its own passphrase.
func makePlatformStack(t *testing.T, dir, backend, domain string, hosts []platform.Host) {
	t.Helper()
	makePlatformStackWith(t, dir, backend, domain, hosts, nil)
}

// makePlatformStackWith is makePlatformStack with more string outputs.
func makePlatformStackWith(t *testing.T, dir, backend, domain string, hosts []platform.Host, extra map[string]string) {
	t.Helper()
	cmd, err := pulumiprov.NewCommand(t.Context(), pooltest.PulumiCLI(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, strings.TrimPrefix(backend, "file://")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var list pulumi.MapArray
	for _, h := range hosts {
		list = append(list, pulumi.Map{
			"name": pulumi.String(h.Name), "dockerUrl": pulumi.String(h.DockerURL), "address": pulumi.String(h.Address),
			"capacity": pulumi.Int(h.Capacity), "network": pulumi.String(h.Network), "wildcardTarget": pulumi.Bool(h.WildcardTarget),
		})
		if len(h.SSHOpts) > 0 {
			list[len(list)-1].(pulumi.Map)["sshOpts"] = pulumi.ToStringArray(h.SSHOpts)
		}
		if h.DockerAPIVersion != "" { // a platform stack older than the field has no such key
			list[len(list)-1].(pulumi.Map)["dockerApiVersion"] = pulumi.String(string(h.DockerAPIVersion))
		}
	}
	st, err := auto.UpsertStackInlineSource(t.Context(), "dev", "tenantpool", func(ctx *pulumi.Context) error {
		ctx.Export(platform.OutputDomain, pulumi.String(domain))
		ctx.Export(platform.OutputHosts, list)
		ctx.Export("apiToken", pulumi.ToSecret(pulumi.String("platform-secret")))
		for k, v := range extra {
			ctx.Export(k, pulumi.String(v))
		}
		return nil
	}, auto.WorkDir(dir), auto.Pulumi(cmd), auto.PulumiHome(dir+"/home"), auto.SecretsProvider("passphrase"),
		auto.Project(workspace.Project{Name: "tenantpool", Runtime: workspace.NewProjectRuntimeInfo("go", nil),
			Backend: &workspace.ProjectBackend{URL: backend}}),
		auto.EnvVars(map[string]string{"PULUMI_CONFIG_PASSPHRASE": "the platform's own passphrase", "PULUMI_SKIP_UPDATE_CHECK": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// Suspend updates the stack with the spec marked suspended (the real program then drops the
// container and keeps the volume); Resume brings it back and waits for health.
func TestSuspendAndResume(t *testing.T) {
	ts := newTenants(t)
	p, logs := newProvisioner(t, ts, options{})
	a := account(1, "client01")
	srv := ts.server(a)
	first := mustProvision(t, p, a)
	a.Host, a.URL = first.Host, first.URL

	if err := p.Suspend(t.Context(), a); err != nil {
		t.Fatalf("Suspend: %v", err)
	}
	ts.mu.Lock()
	spec, runs := ts.specs[a.Slug], ts.runs[a.Slug]
	ts.mu.Unlock()
	if !spec.Suspended || runs != 2 {
		t.Fatalf("after Suspend the program saw suspended=%t in run %d, want true in run 2", spec.Suspended, runs)
	}
	if err := p.Suspend(t.Context(), a); err != nil {
		t.Fatalf("second Suspend: %v (idempotent)", err)
	}

	health := srv.Requests(langflowtest.RouteHealthCheck)
	if err := p.Resume(t.Context(), a); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	ts.mu.Lock()
	spec = ts.specs[a.Slug]
	ts.mu.Unlock()
	if spec.Suspended || spec.Host.Name != first.Host {
		t.Fatalf("after Resume: suspended=%t on %s, want false on %s", spec.Suspended, spec.Host.Name, first.Host)
	}
	if srv.Requests(langflowtest.RouteHealthCheck) == health {
		t.Fatal("Resume did not wait for the tenant to be healthy")
	}
	b := a
	b.Tier = "gold"
	if err := p.Suspend(t.Context(), b); !pool.IsPermanent(err) {
		t.Fatalf("unknown tier: %v, want a permanent error", err)
	}
	noSecrets(t, logs.String(), a)
}
