package main

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
	"gopkg.in/yaml.v3"

	"github.com/axiestudio/tenantpool/infra/internal/pulumitest"
	"github.com/axiestudio/tenantpool/infra/platform"
)

// stackConfig reads a stack file of stacks/ into the form Pulumi hands a program: "ns:key" →
// string, objects as JSON. Secure values are replaced by the given plaintexts (the files hold
// placeholders); it fails if a secure value has no replacement or a replacement no secure value.
func stackConfig(t *testing.T, file string, plaintexts map[string]string) (map[string]string, []string) {
	t.Helper()
	b, err := os.ReadFile("../../../stacks/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	cfg := map[string]string{}
	var secretKeys []string
	for k, v := range doc.Config {
		if m, ok := v.(map[string]any); ok {
			if _, secure := m["secure"]; secure {
				p, ok := plaintexts[k]
				if !ok {
					t.Fatalf("%s: %s is secure but the test has no plaintext for it", file, k)
				}
				cfg[k] = p
				secretKeys = append(secretKeys, k)
				continue
			}
		}
		if s, ok := v.(string); ok {
			cfg[k] = s
			continue
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		cfg[k] = string(j)
	}
	for k := range plaintexts {
		if !slices.Contains(secretKeys, k) {
			t.Errorf("%s: %s must be a secure value", file, k)
		}
	}
	return cfg, secretKeys
}

// loaded is what platform.ConfigFromStack makes of a stack configuration.
func loaded(t *testing.T, cfg map[string]string, secretKeys []string) (platform.Config, error) {
	t.Helper()
	var got platform.Config
	_, err := pulumitest.Run("load", func(ctx *pulumi.Context) error {
		var err error
		got, err = platform.ConfigFromStack(config.New(ctx, platform.Namespace))
		return err
	}, pulumitest.WithConfig(cfg, secretKeys...))
	return got, err
}

func TestDevStack(t *testing.T) {
	cfg, secretKeys := stackConfig(t, "Pulumi.dev.yaml", nil)
	m, err := pulumitest.Run("dev", run, pulumitest.WithConfig(cfg, secretKeys...))
	if err != nil {
		t.Fatalf("dev stack: %v", err)
	}
	// The daemon's built-in host (no platform stack, no hosts) is the dev stack's one host.
	c, err := loaded(t, cfg, secretKeys)
	if err != nil {
		t.Fatal(err)
	}
	local := platform.LocalHost()
	want := platform.HostConfig{Name: local.Name, DockerURL: local.DockerURL, Address: local.Address,
		Capacity: local.Capacity, DockerAPIVersion: local.DockerAPIVersion}
	if len(c.Hosts) != 1 || !reflect.DeepEqual(c.Hosts[0], want) || c.Network != local.Network {
		t.Errorf("dev stack hosts %+v network %q, want platform.LocalHost %+v", c.Hosts, c.Network, local)
	}
	for _, r := range m.Resources() {
		if strings.Contains(r.Type, "cloudflare") {
			t.Errorf("dev stack registered %s %s: it must skip Cloudflare", r.Type, r.Name)
		}
	}
	p := m.Get(t, "pulumi:providers:docker", "docker-local")
	if got := p.String("host"); got != "unix:///var/run/docker.sock" {
		t.Errorf("dev docker host = %q", got)
	}
}

func TestProdStack(t *testing.T) {
	cfg, secretKeys := stackConfig(t, "Pulumi.prod.yaml", map[string]string{
		"tenantpool:cloudflareApiToken": "cloudflare-token",
		"tenantpool:originPrivateKey":   "-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n",
	})
	m, err := pulumitest.Run("prod", run, pulumitest.WithConfig(cfg, secretKeys...))
	if err != nil {
		t.Fatalf("prod stack: %v", err)
	}
	for _, name := range []string{"docker-edge1", "docker-edge2"} {
		if h := m.Get(t, "pulumi:providers:docker", name).String("host"); !strings.HasPrefix(h, "ssh://") {
			t.Errorf("%s host = %q, want ssh://", name, h)
		}
	}
	c, err := loaded(t, cfg, secretKeys)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []platform.DockerAPIVersion{"1.47", "1.41"} {
		if got := c.Hosts[i].DockerAPIVersion; got != want {
			t.Errorf("%s dockerApiVersion = %q, want %q", c.Hosts[i].Name, got, want)
		}
	}
	if c.CompanyDomain != "axiestudio.se" || c.Bridge != "tp-tenants" || !strings.HasPrefix(c.PooldImage, "tenantpool/poold:") {
		t.Errorf("companyDomain %q, bridge %q, pooldImage %q", c.CompanyDomain, c.Bridge, c.PooldImage)
	}
	// Every host runs the egress policy on the bridge the stack names, redirecting 80 and 443
	// to the default edge ports.
	for _, h := range []string{"edge1", "edge2"} {
		if cmd := m.Get(t, "docker:index/container:Container", "firewall-"+h).Strings("command"); strings.Join(cmd, " ") != "edge firewall --bridge tp-tenants --interval 30s --redirect 80:10080 --redirect 443:10443" {
			t.Errorf("%s firewall command = %q", h, cmd)
		}
	}
	m.Get(t, "cloudflare:index/record:Record", "wildcard")
	m.Get(t, "cloudflare:index/customHostnameFallbackOrigin:CustomHostnameFallbackOrigin", "fallback-origin")
	if _, secret := m.Get(t, "pulumi:providers:cloudflare", "cloudflare").Input("apiToken"); !secret {
		t.Error("the Cloudflare token read from config is not a secret")
	}
}

func TestMissingConfigRejected(t *testing.T) {
	m, err := pulumitest.Run("empty", run, pulumitest.WithConfig(map[string]string{"tenantpool:domain": "localhost"}))
	if err == nil || !strings.Contains(err.Error(), "hosts") {
		t.Fatalf("err = %v, want a missing hosts error", err)
	}
	if n := len(m.Resources()); n != 0 {
		t.Errorf("%d resources registered", n)
	}
}

// A host's dockerApiVersion is checked before anything is registered; an unquoted YAML number
// (1.40 reads as 1.4) is refused with the advice to quote it.
func TestDockerAPIVersionConfig(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{`"abc"`, `host local: docker API version "abc" must be <major>.<minor>`},
		{`"1.40"`, "host local: docker API version 1.40 is older than the minimum 1.41"},
		{`1.4`, `must be a quoted string such as "1.41"`},
	} {
		t.Run(tc.value, func(t *testing.T) {
			cfg, secretKeys := stackConfig(t, "Pulumi.dev.yaml", nil)
			cfg["tenantpool:hosts"] = `[{"name":"local","dockerUrl":"unix:///var/run/docker.sock","address":"127.0.0.1","capacity":10,"dockerApiVersion":` + tc.value + `}]`
			m, err := pulumitest.Run("dev", run, pulumitest.WithConfig(cfg, secretKeys...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if n := len(m.Resources()); n != 0 {
				t.Errorf("%d resources registered", n)
			}
		})
	}
}
