package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/tenant"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
	"github.com/axiestudio/tenantpool/pool/pooltest"
)

// standIn is a plugin-free stand-in for tenant.Program on the real engine: it records the spec
// the provisioner built, refuses an invalid one as tenant.Program does, and points the account
// at a Langflow double that knows the spec's operator.
type standIn struct {
	t     *testing.T
	mu    sync.Mutex
	specs map[string]tenant.Spec
}

func (s *standIn) program(spec tenant.Spec) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		if err := spec.Validate(); err != nil {
			return err
		}
		s.mu.Lock()
		s.specs[spec.Slug] = spec
		s.mu.Unlock()
		srv := langflowtest.NewServer(s.t, langflowtest.Options{Superuser: spec.OperatorUser, SuperuserPassword: spec.OperatorPassword})
		var comp struct{ pulumi.ResourceState }
		if err := ctx.RegisterComponentResource("tenantpool:test:Tenant", spec.Slug, &comp); err != nil {
			return err
		}
		ctx.Export(tenant.OutputURL, pulumi.String(srv.URL))
		ctx.Export(tenant.OutputHost, pulumi.String(spec.Host.Name))
		ctx.Export(tenant.OutputContainerName, pulumi.String(spec.ContainerName()))
		return nil
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// poold's Cloudflare settings reach every tenant's spec: on a real domain with two hosts, an
// account placed on the second one (not the wildcard target) is provisioned by the real Pulumi
// provisioner on the real engine with the zone and the token in its spec, instead of failing
// for good; the token (given as a file) never reaches a log line or the output.
func TestCloudflareFlagsReachTheTenantSpec(t *testing.T) {
	cli := pooltest.PulumiCLI(t)
	dir := t.TempDir()
	const zone, token = "0123456789abcdef0123456789abcdef", "cloudflare-token-do-not-log"
	tokenFile := filepath.Join(dir, "cf-token")
	config := filepath.Join(dir, "poold.yaml")
	for path, content := range map[string]string{tokenFile: token + "\n", config: `hosts:
  - {name: a, dockerUrl: "ssh://deploy@203.0.113.1", address: 203.0.113.1, capacity: 1, network: tenantpool-tenants, wildcardTarget: true}
  - {name: b, dockerUrl: "ssh://deploy@203.0.113.2", address: 203.0.113.2, capacity: 5, network: tenantpool-tenants}
`} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"POOL_DATA_DIR": filepath.Join(dir, "data"), "POOL_CONFIG": config, "POOL_DOMAIN": "example.com",
		"POOL_LANGFLOW_IMAGE": "langflowai/langflow:1.5.0@sha256:" + strings.Repeat("ab", 32), "TENANTPOOL_PULUMI": cli,
		"POOL_CLOUDFLARE_API_TOKEN_FILE": tokenFile, "POOL_LOG_FORMAT": "json",
	}
	fake := &standIn{t: t, specs: map[string]tenant.Spec{}}
	var out, logs lockedBuffer // the job workers log from their own goroutines
	err := Run(context.Background(), []string{"--log-level", "debug", "--cloudflare-zone-id", zone, "batch", "create", "--count", "1", "--timeout", "3m"},
		func(k string) string { return env[k] }, &out, &logs, func(o *options) { o.program, o.noDocker = fake.program, true }) // 203.0.113.0/24 is never dialled
	if err != nil || !strings.Contains(out.String(), "1 ready, 0 failed") {
		t.Fatalf("batch create: %v\n%s\n%s", err, out.String(), logs.String())
	}
	spec, ok := fake.specs["client01"]
	if !ok {
		t.Fatal("the program never ran")
	}
	if spec.Host.Name != "b" || spec.Host.WildcardTarget || spec.Domain != "example.com" {
		t.Fatalf("placed on %+v of %s, want host b of example.com", spec.Host, spec.Domain)
	}
	if spec.Cloudflare == nil || spec.Cloudflare.ZoneID != zone || spec.Cloudflare.APIToken != token {
		t.Fatalf("spec Cloudflare = %v, want the flag's zone and the file's token", spec.Cloudflare != nil)
	}
	if strings.Contains(logs.String(), token) || strings.Contains(out.String(), token) {
		t.Error("the Cloudflare token reached the logs or the output")
	}
}

// Boolean environment variables are booleans: "false" is off, and anything that is not a
// boolean is an error naming the variable, for every command.
func TestBooleanEnvironment(t *testing.T) {
	for v, want := range map[string]bool{"": false, "false": false, "0": false, "FALSE": false, "true": true, "1": true, "True": true, " t ": true} {
		e := &Env{Getenv: func(k string) string { return map[string]string{"POOL_NO_PLUGIN_DOWNLOAD": v}[k] }}
		newRoot(e)
		if e.provision.noPluginDownload != want || len(e.envErrs) != 0 {
			t.Errorf("POOL_NO_PLUGIN_DOWNLOAD=%q: on = %v (errors %v), want %v", v, e.provision.noPluginDownload, e.envErrs, want)
		}
	}
	// The flag still wins over the environment.
	e := &Env{Getenv: func(k string) string { return map[string]string{"POOL_NO_PLUGIN_DOWNLOAD": "true"}[k] }}
	root := newRoot(e)
	if err := root.PersistentFlags().Parse([]string{"--no-plugin-download=false"}); err != nil || e.provision.noPluginDownload {
		t.Errorf("--no-plugin-download=false over POOL_NO_PLUGIN_DOWNLOAD=true: %v, on = %v", err, e.provision.noPluginDownload)
	}

	dir := t.TempDir()
	for _, args := range [][]string{{"status"}, {"plugins", "install"}, {"config", "check"}} {
		var out bytes.Buffer
		err := Run(context.Background(), args, func(k string) string {
			return map[string]string{"POOL_NO_PLUGIN_DOWNLOAD": "maybe", "POOL_DATA_DIR": filepath.Join(dir, "data")}[k]
		}, &out, &out)
		if err == nil || !strings.Contains(err.Error(), `POOL_NO_PLUGIN_DOWNLOAD="maybe": want a boolean`) {
			t.Errorf("poold %v with POOL_NO_PLUGIN_DOWNLOAD=maybe: %v", args, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Error("a command ran with a bad environment")
	}
}
