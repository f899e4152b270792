package pulumiprov_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
)

// A provider plugin the provisioner's Pulumi CLI starts (the real engine, a real plugin process)
// inherits none of the daemon's secrets: only the allow-listed environment plus what the
// provisioner sets for the engine — and provisioning still works.
func TestPluginSeesNoDaemonSecrets(t *testing.T) {
	usePlugin(t)
	secrets := map[string]string{
		"POOL_SECRET_KEY":            "c2VhbGluZy1rZXktb2YtdGhlLWRhZW1vbi0zMmJ5dGVzIQ==",
		"POOL_ADMIN_TOKEN":           "admin-token-of-the-daemon-0123456789",
		"POOL_STRIPE_WEBHOOK_SECRET": "whsec_daemon0123456789",
		"POOL_SMTP_PASSWORD":         "smtp-password-of-the-daemon",
		"POOL_CLOUDFLARE_API_TOKEN":  "cloudflare-token-of-the-daemon",
		"POOL_DATABASE_URL":          "postgres://poold:db-password-of-the-daemon@127.0.0.1/pool",
		"TENANTPOOL_SOMETHING":       "tenantpool-internal-value",
		"UNRELATED_APP_SECRET":       "not-on-the-allow-list",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	t.Setenv("LC_TENANTPOOL_MARK", "locale-family-passes") // an allow-listed family

	a := account(1, "client01")
	srv := langflowtest.NewServer(t, langflowtest.Options{Superuser: a.OperatorUser, SuperuserPassword: a.OperatorBootstrap})
	envFile := filepath.Join(t.TempDir(), "plugin.env")
	p, _ := newProvisioner(t, nil, options{program: pluginProgram(pluginStack{URL: srv.URL, EnvFile: envFile})})
	got := mustProvision(t, p, a)
	if got.URL != srv.URL {
		t.Fatalf("provisioned %+v", got)
	}

	raw, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatalf("the plugin wrote no environment: %v", err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for k, v := range secrets {
		if _, ok := env[k]; ok {
			t.Errorf("the plugin sees %s", k)
		}
		if strings.Contains(string(raw), v) {
			t.Errorf("the value of %s reached the plugin", k)
		}
	}
	for k := range env {
		if strings.HasPrefix(k, "POOL_") {
			t.Errorf("the plugin sees %s", k)
		}
	}
	for _, k := range []string{"PATH", "PULUMI_HOME", "PULUMI_BACKEND_URL", "TENANTPOOL_PULUMI_OWNER", "LC_TENANTPOOL_MARK"} {
		if env[k] == "" {
			t.Errorf("the plugin lacks %s (allow-listed or set by the provisioner)", k)
		}
	}
}
