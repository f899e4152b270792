package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/axiestudio/tenantpool/infra/internal/pulumitest"
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

func TestDevStack(t *testing.T) {
	cfg, secretKeys := stackConfig(t, "Pulumi.dev.yaml", nil)
	m, err := pulumitest.Run("dev", run, pulumitest.WithConfig(cfg, secretKeys...))
	if err != nil {
		t.Fatalf("dev stack: %v", err)
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
