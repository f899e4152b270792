package pulumiprov_test

import (
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/infra/tenant"
)

// mocks records what the tenant program registers (the providers cannot run here).
type mocks struct {
	mu  sync.Mutex
	res map[string]resource.PropertyMap // type → inputs
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.res[args.TypeToken] = args.Inputs
	return args.Name + "-id", args.Inputs, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) { return args.Args, nil }

// The spec the provisioner builds from an account row is the one the engine hands the program,
// and the real tenant program accepts it and deploys the account's identity and secrets.
func TestSpecFromAccountIsWhatTheTenantProgramExpects(t *testing.T) {
	ts := newTenants(t)
	p, _ := newProvisioner(t, ts, options{hosts: nil})
	a := account(7, "client07")
	ts.server(a)
	got := mustProvision(t, p, a)

	want := p.BuildSpec(a, testTier(), "localhost", host("local", 100))
	if seen := ts.specs[a.Slug]; !reflect.DeepEqual(seen, want) {
		t.Errorf("program got spec\n%+v\nwant\n%+v", seen, want)
	}
	if got.Host != want.Host.Name {
		t.Errorf("host %q, want %q", got.Host, want.Host.Name)
	}
	if err := want.Validate(); err != nil {
		t.Fatalf("built spec is invalid: %v", err)
	}

	m := &mocks{res: map[string]resource.PropertyMap{}}
	if err := pulumi.RunErr(tenant.Program(want), pulumi.WithMocks("tenantpool-tenants", "tenant-client07", m)); err != nil {
		t.Fatalf("tenant.Program: %v", err)
	}
	c, ok := m.res["docker:index/container:Container"]
	if !ok {
		t.Fatalf("no container registered; got %v", m.res)
	}
	if name := c["name"].StringValue(); name != "tenant-client07" {
		t.Errorf("container name %q", name)
	}
	envs := c["envs"]
	if !envs.IsSecret() {
		t.Fatal("container env is not a secret")
	}
	var env []string
	for _, v := range envs.SecretValue().Element.ArrayValue() {
		env = append(env, v.StringValue())
	}
	for _, kv := range []string{"LANGFLOW_SUPERUSER=" + a.OperatorUser, "LANGFLOW_SUPERUSER_PASSWORD=" + a.OperatorBootstrap,
		"LANGFLOW_SECRET_KEY=" + a.SecretKey} {
		if !slices.Contains(env, kv) {
			t.Errorf("container env lacks %s", strings.SplitN(kv, "=", 2)[0])
		}
	}
	for _, kv := range env {
		if strings.Contains(kv, a.OperatorPassword) {
			t.Errorf("the container env carries the daemon's operator password in %s", strings.SplitN(kv, "=", 2)[0])
		}
	}
	if mem := c["memory"].NumberValue(); int(mem) != testTier().MemoryMB {
		t.Errorf("memory %v, want the tier's %d", mem, testTier().MemoryMB)
	}

	// The host's Docker API version reaches the program and decides the health check: none
	// stated is the stock engine (API 1.41), which refuses a start interval.
	for _, tc := range []struct {
		api           platform.DockerAPIVersion
		startInterval bool
	}{{"", false}, {"1.41", false}, {"1.44", true}} {
		h := host("local", 100)
		h.DockerAPIVersion = tc.api
		spec := p.BuildSpec(a, testTier(), "localhost", h)
		if spec.Host.DockerAPIVersion != tc.api {
			t.Errorf("api %q: spec host API %q", tc.api, spec.Host.DockerAPIVersion)
		}
		m := &mocks{res: map[string]resource.PropertyMap{}}
		if err := pulumi.RunErr(tenant.Program(spec), pulumi.WithMocks("tenantpool-tenants", "tenant-client07", m)); err != nil {
			t.Fatalf("api %q: tenant.Program: %v", tc.api, err)
		}
		hc := m.res["docker:index/container:Container"]["healthcheck"].ObjectValue()
		if _, got := hc["startInterval"]; got != tc.startInterval {
			t.Errorf("api %q: health check %v, want a start interval: %v", tc.api, hc, tc.startInterval)
		}
	}
}
