package cli_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

const (
	cfZone  = "0123456789abcdef0123456789abcdef"
	cfToken = "cloudflare-token-do-not-log"
)

// provisioningHarness is a harness configured to provision for real (an image, and a script
// standing in for the Pulumi CLI, which neither config check nor a refused serve may run: it
// fails loudly if they do) in a data dir that nothing may create.
func provisioningHarness(t *testing.T) *harness {
	h := newHarness(t)
	h.real, h.noDocker = true, true // its hosts are documentation addresses: never dialled
	h.dir = filepath.Join(t.TempDir(), "never-created")
	h.env["POOL_DATA_DIR"] = h.dir
	h.env["POOL_LANGFLOW_IMAGE"] = "langflowai/langflow:1.5.0@sha256:" + strings.Repeat("ab", 32)
	h.env["TENANTPOOL_PULUMI"] = writeFile(t, "pulumi", "#!/bin/sh\necho 'error: the Pulumi CLI must not run here' >&2\nexit 3\n")
	if err := os.Chmod(h.env["TENANTPOOL_PULUMI"], 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

// writeFile writes content to a new file in a temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// twoHostConfig is a config file with two hosts on a real domain: a is the wildcard target, b is
// not, so b's tenants need DNS records of their own.
const twoHostConfig = `hosts:
  - {name: a, dockerUrl: "ssh://deploy@203.0.113.1", address: 203.0.113.1, capacity: 10, network: tenantpool-tenants, wildcardTarget: true}
  - {name: b, dockerUrl: "ssh://deploy@203.0.113.2", address: 203.0.113.2, capacity: 10, network: tenantpool-tenants}
`

// A host that is not the wildcard target of a real domain, without Cloudflare settings, is
// refused by config check and by serve (before anything is written), saying what to set; with
// them (the token from a file) the configuration is accepted and the token is never printed.
func TestSecondHostWithoutCloudflareIsRefused(t *testing.T) {
	h := provisioningHarness(t)
	h.env["POOL_CONFIG"] = writeFile(t, "poold.yaml", twoHostConfig)
	h.env["POOL_DOMAIN"] = "example.com"
	for _, args := range [][]string{{"config", "check"}, {"serve"}} {
		_, err := h.run(context.Background(), args...)
		if err == nil {
			t.Fatalf("poold %v passed with host b and no Cloudflare", args)
		}
		for _, want := range []string{"host b is not the wildcard target", "--cloudflare-zone-id", "POOL_CLOUDFLARE_ZONE_ID", "POOL_CLOUDFLARE_API_TOKEN"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("poold %v: the error misses %q:\n%v", args, want, err)
			}
		}
		if strings.Contains(err.Error(), "host a ") {
			t.Errorf("poold %v blames host a, the wildcard target:\n%v", args, err)
		}
	}
	if _, err := os.Stat(h.dir); !os.IsNotExist(err) {
		t.Fatal("a refused configuration wrote the data dir")
	}

	h.env["POOL_CLOUDFLARE_API_TOKEN_FILE"] = writeFile(t, "token", cfToken+"\n")
	out, err := h.run(context.Background(), "--cloudflare-zone-id", cfZone, "config", "check")
	if err != nil || !strings.Contains(out, "configuration ok") {
		t.Fatalf("config check with Cloudflare = %q, %v", out, err)
	}
	h.env["POOL_CLOUDFLARE_ZONE_ID"] = cfZone // the environment does as well as the flag
	if out, err := h.run(context.Background(), "config", "check"); err != nil || !strings.Contains(out, "configuration ok") {
		t.Fatalf("config check with POOL_CLOUDFLARE_ZONE_ID = %q, %v", out, err)
	}
	if strings.Contains(out+h.logs.String(), cfToken) {
		t.Error("the token was printed")
	}
}

// A configured host whose sshOpts would run a command on the daemon's machine is refused by
// config check and serve, naming the option, before anything is written.
func TestConfigHostSSHOptsRefused(t *testing.T) {
	h := provisioningHarness(t)
	h.env["POOL_CONFIG"] = writeFile(t, "poold.yaml", `hosts:
  - {name: a, dockerUrl: "ssh://deploy@203.0.113.1", address: 203.0.113.1, capacity: 10, network: tenantpool-tenants, wildcardTarget: true,
     sshOpts: ["-o", "StrictHostKeyChecking=yes", "-o", "ProxyCommand=sh -c 'id > /tmp/pwned'"]}
`)
	for _, args := range [][]string{{"config", "check"}, {"serve"}} {
		_, err := h.run(context.Background(), args...)
		if err == nil || !strings.Contains(err.Error(), "host a: ssh option ProxyCommand refused") {
			t.Fatalf("poold %v: %v, want ProxyCommand refused for host a", args, err)
		}
	}
	if _, err := os.Stat(h.dir); !os.IsNotExist(err) {
		t.Fatal("a refused configuration wrote the data dir")
	}
}

// Bad Cloudflare settings are reported with the rest, the token never quoted.
func TestConfigCheckCloudflareSettings(t *testing.T) {
	tokenFile := writeFile(t, "token", cfToken)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"zone without token", map[string]string{"POOL_CLOUDFLARE_ZONE_ID": cfZone, "POOL_DOMAIN": "example.com"}, []string{"--cloudflare-zone-id is set but not the token"}},
		{"token without zone", map[string]string{"POOL_CLOUDFLARE_API_TOKEN": cfToken, "POOL_DOMAIN": "example.com"}, []string{"POOL_CLOUDFLARE_API_TOKEN is set but not the zone"}},
		{"bad zone, and the rest", map[string]string{"POOL_CLOUDFLARE_ZONE_ID": "my-zone", "POOL_CLOUDFLARE_API_TOKEN": cfToken, "POOL_DOMAIN": "example.com",
			"POOL_HEALTH_TIMEOUT": "soon", "POOL_NO_PLUGIN_DOWNLOAD": "sure"}, []string{`zone id "my-zone" must be 32 lowercase hex digits`, "--health-timeout", `POOL_NO_PLUGIN_DOWNLOAD="sure"`}},
		{"token twice", map[string]string{"POOL_CLOUDFLARE_ZONE_ID": cfZone, "POOL_CLOUDFLARE_API_TOKEN": cfToken, "POOL_CLOUDFLARE_API_TOKEN_FILE": tokenFile, "POOL_DOMAIN": "example.com"},
			[]string{"set POOL_CLOUDFLARE_API_TOKEN or POOL_CLOUDFLARE_API_TOKEN_FILE, not both"}},
		{"unreadable token file", map[string]string{"POOL_CLOUDFLARE_ZONE_ID": cfZone, "POOL_CLOUDFLARE_API_TOKEN_FILE": "/nonexistent/token", "POOL_DOMAIN": "example.com"},
			[]string{"POOL_CLOUDFLARE_API_TOKEN_FILE", "no such file"}},
		{"Cloudflare on a local domain", map[string]string{"POOL_CLOUDFLARE_ZONE_ID": cfZone, "POOL_CLOUDFLARE_API_TOKEN": cfToken}, []string{"domain localhost is local: Cloudflare must not be configured"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := provisioningHarness(t)
			for k, v := range tc.env {
				h.env[k] = v
			}
			_, err := h.run(context.Background(), "config", "check")
			if err == nil {
				t.Fatal("config check passed")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the report misses %q:\n%v", want, err)
				}
			}
			if strings.Contains(err.Error()+h.logs.String(), cfToken) {
				t.Error("the token is quoted")
			}
		})
	}

	// With a platform stack the hosts are its outputs: serve checks them when it starts, and
	// config check says so.
	h := provisioningHarness(t)
	h.env["POOL_PLATFORM_STACK"] = "organization/tenantpool/prod"
	out, err := h.run(context.Background(), "config", "check")
	if err != nil || !strings.Contains(out, "configuration ok") || !strings.Contains(out, "platform stack organization/tenantpool/prod are checked when serve starts") {
		t.Fatalf("config check with a platform stack = %q, %v", out, err)
	}
}

// With PostgreSQL every replica provisions, each with its own data dir: a Pulumi backend in the
// data dir (the default) would split the tenants' state, so config check and serve refuse it and
// say to set a shared one, before anything reaches the database. A backend outside the data dir
// (shared storage the operator vouches for, or a cloud URL) is accepted, and so is the default
// on SQLite, or when the daemon does not provision.
func TestPostgresNeedsASharedPulumiBackend(t *testing.T) {
	dbURL := storetest.SchemaURL(t, storetest.RequirePostgres(t))
	h := provisioningHarness(t)
	h.env["POOL_DATABASE_URL"] = dbURL
	outside := t.TempDir()
	link := filepath.Join(outside, "link-into-data-dir") // shared-looking, but it is the data dir
	if err := os.Symlink(h.dir, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		backend string
		want    string
	}{
		{"", "the default Pulumi backend, file://" + filepath.Join(h.dir, "pulumi", "state") + ", is in this replica's own data directory"},
		{"file://" + filepath.Join(h.dir, "pulumi", "state"), "lies in the data directory"},
		{"file://" + h.dir, "lies in the data directory"},
		{"file://" + filepath.Join(link, "state"), "lies in the data directory"},
	} {
		h.env["POOL_PULUMI_BACKEND"] = tc.backend
		if tc.backend != "" { // the symlinked data dir must exist for the link to resolve
			if err := os.MkdirAll(h.dir, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		for _, args := range [][]string{{"config", "check"}, {"serve"}} {
			_, err := h.run(context.Background(), args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "set --pulumi-backend (POOL_PULUMI_BACKEND) to a backend every replica shares") {
				t.Errorf("poold %v with backend %q: %v, want it refused: %q", args, tc.backend, err, tc.want)
			}
		}
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("a refused serve reached the database: %d tables, %v", tables, err)
	}

	for _, backend := range []string{"file://" + filepath.Join(outside, "shared-state"), "s3://tenantpool-state/tenants?region=eu-west-1", "azblob://tenantpool-state"} {
		h.env["POOL_PULUMI_BACKEND"] = backend
		if out, err := h.run(context.Background(), "config", "check"); err != nil || !strings.Contains(out, "configuration ok") {
			t.Errorf("backend %s: config check = %q, %v", backend, out, err)
		}
	}
	h.env["POOL_PULUMI_BACKEND"] = ""
	delete(h.env, "POOL_LANGFLOW_IMAGE") // not provisioning: no Pulumi state at all
	if out, err := h.run(context.Background(), "config", "check"); err != nil || !strings.Contains(out, "configuration ok") {
		t.Errorf("PostgreSQL without provisioning: config check = %q, %v", out, err)
	}
	sqlite := provisioningHarness(t) // the default backend is right for the one SQLite process
	if out, err := sqlite.run(context.Background(), "config", "check"); err != nil || !strings.Contains(out, "configuration ok") {
		t.Errorf("SQLite with the default backend: config check = %q, %v", out, err)
	}
}

// makePlatformStack is a plugin-free stand-in of the platform stack organization/tenantpool/dev
// in backend: it exports the domain and hosts outputs the daemon places tenants by.
func makePlatformStack(t *testing.T, cli, backend, domain string, hosts []platform.Host) {
	t.Helper()
	cmd, err := pulumiprov.NewCommand(t.Context(), cli)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(strings.TrimPrefix(backend, "file://"), 0o700); err != nil {
		t.Fatal(err)
	}
	var list pulumi.MapArray
	for _, h := range hosts {
		list = append(list, pulumi.Map{"name": pulumi.String(h.Name), "dockerUrl": pulumi.String(h.DockerURL), "address": pulumi.String(h.Address),
			"capacity": pulumi.Int(h.Capacity), "network": pulumi.String(h.Network), "wildcardTarget": pulumi.Bool(h.WildcardTarget)})
	}
	st, err := auto.UpsertStackInlineSource(t.Context(), "dev", "tenantpool", func(ctx *pulumi.Context) error {
		ctx.Export(platform.OutputDomain, pulumi.String(domain))
		ctx.Export(platform.OutputHosts, list)
		return nil
	}, auto.WorkDir(dir), auto.Pulumi(cmd), auto.PulumiHome(filepath.Join(dir, "home")), auto.SecretsProvider("passphrase"),
		auto.Project(workspace.Project{Name: "tenantpool", Runtime: workspace.NewProjectRuntimeInfo("go", nil),
			Backend: &workspace.ProjectBackend{URL: backend}}),
		auto.EnvVars(map[string]string{"PULUMI_CONFIG_PASSPHRASE": "platform", "PULUMI_SKIP_UPDATE_CHECK": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// With a platform stack the hosts are its outputs, which config check cannot read: serve reads
// them when it starts and refuses a second host on a real domain without Cloudflare, saying
// what to set, instead of failing its tenants one by one.
func TestServeRefusesAPlatformStackHostWithoutCloudflare(t *testing.T) {
	cli := pooltest.PulumiCLI(t)
	backend := "file://" + filepath.Join(t.TempDir(), "state")
	a := platform.Host{Name: "a", DockerURL: "ssh://deploy@203.0.113.1", Address: "203.0.113.1", Capacity: 10, Network: platform.DefaultNetwork, WildcardTarget: true}
	b := platform.Host{Name: "b", DockerURL: "ssh://deploy@203.0.113.2", Address: "203.0.113.2", Capacity: 10, Network: platform.DefaultNetwork}
	makePlatformStack(t, cli, backend, "example.com", []platform.Host{a, b})

	h := provisioningHarness(t)
	h.env["TENANTPOOL_PULUMI"], h.env["POOL_PULUMI_BACKEND"], h.env["POOL_PLATFORM_STACK"] = cli, backend, "organization/tenantpool/dev"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a serve that starts ends here
	defer cancel()
	_, err := h.run(ctx, "serve", "--listen", freePort(t), "--admin-listen", freePort(t))
	if err == nil || ctx.Err() != nil {
		t.Fatalf("serve started with host b and no Cloudflare: %v", err)
	}
	for _, want := range []string{"platform stack organization/tenantpool/dev (domain example.com)", "host b is not the wildcard target", "set --cloudflare-zone-id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error misses %q:\n%v", want, err)
		}
	}
}
