package cli_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/pool/dockerhost/dockertest"
)

func TestConfigCheckReportsEveryProblemAtOnce(t *testing.T) {
	h := newHarness(t)
	h.real = true
	h.env["POOL_DATA_DIR"] = filepath.Join(t.TempDir(), "never-created")
	h.env["POOL_LANGFLOW_IMAGE"] = "langflowai/langflow:latest" // not pinned
	h.env["POOL_STRIPE_WEBHOOK_SECRET"] = "whsec_ok"            // orders on, but no SMTP
	h.env["POOL_SMTP_PORT"] = "99999"
	h.env["POOL_ADMIN_TOKEN"] = "short"
	h.env["POOL_SECRET_KEY"] = "not-base64!"
	_, err := h.run(context.Background(), "config", "check", "--reconcile-schedule", "sometimes", "--provision-concurrency", "0")
	if err == nil {
		t.Fatal("a broken configuration passed")
	}
	for _, want := range []string{"--reconcile-schedule", "--provision-concurrency", "--langflow-image", "POOL_SMTP_HOST", "POOL_SMTP_FROM",
		"POOL_SMTP_PORT", "token 1 is shorter", "POOL_SECRET_KEY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the report misses %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "short") && strings.Contains(err.Error(), "\"short\"") {
		t.Error("the report quotes the admin token")
	}
	if _, err := os.Stat(h.env["POOL_DATA_DIR"]); !os.IsNotExist(err) {
		t.Fatal("config check wrote the data dir")
	}
}

func TestConfigCheckPassesAGoodConfiguration(t *testing.T) {
	h := newHarness(t)
	h.real = true
	h.env["POOL_LANGFLOW_IMAGE"] = "langflowai/langflow:1.5.0@sha256:" + strings.Repeat("ab", 32)
	// Config check only looks for the CLI; the stand-in fails loudly if it is ever run (the
	// test binary itself, which stood in before, would run the tests again, and again).
	h.env["TENANTPOOL_PULUMI"] = writeFile(t, "pulumi", "#!/bin/sh\necho 'error: config check must not run the Pulumi CLI' >&2\nexit 3\n")
	h.env["POOL_ADMIN_TOKEN"] = "a-long-enough-admin-token-0123456789XYZ"
	out, err := h.run(context.Background(), "config", "check")
	if err != nil || !strings.Contains(out, "configuration ok") || !strings.Contains(out, "Stripe orders disabled") {
		t.Fatalf("config check = %q, %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "secret.key")); !os.IsNotExist(err) {
		t.Fatal("config check created the key file")
	}
}

func TestServeMountsAdminAPIAndHealthCommandAnswers(t *testing.T) {
	h := newHarness(t)
	h.env["POOL_ADMIN_TOKEN"] = "a-long-enough-admin-token-0123456789XYZ"
	addr := freePort(t)
	h.env["POOL_ADMIN_LISTEN"] = addr // serve listens there, and health asks there by default
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.run(ctx, "serve", "--listen", freePort(t))
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := h.run(context.Background(), "health"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health never ok:\n%s", h.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	get := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/admin/v1/status", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("a-long-enough-admin-token-0123456789XYZ"); code != 200 || !strings.Contains(body, `"tier":"basic"`) {
		t.Fatalf("admin status = %d %s", code, body)
	}
	if code, _ := get("wrong-token-wrong-token"); code != 401 {
		t.Fatalf("wrong token: %d, want 401", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := h.run(context.Background(), "health", "--url", "http://"+addr+"/readyz"); err == nil {
		t.Fatal("health ok with no daemon")
	}
}

// The Stripe API settings: a key is required with orders, its mode must agree with
// POOL_STRIPE_LIVEMODE, and the API URL override must be an http(s) URL; the key is never
// quoted back.
func TestConfigCheckStripeAPISettings(t *testing.T) {
	base := map[string]string{
		"POOL_STRIPE_WEBHOOK_SECRET": "whsec_ok", "POOL_SMTP_HOST": "127.0.0.1", "POOL_SMTP_FROM": "Pool <pool@example.test>",
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		want string // "" = accepted
	}{
		{"no key", nil, "POOL_STRIPE_API_KEY is required"},
		{"not a secret key", map[string]string{"POOL_STRIPE_API_KEY": "pk_test_public"}, "POOL_STRIPE_API_KEY: want a secret"},
		{"mode disagrees", map[string]string{"POOL_STRIPE_API_KEY": "sk_test_abc", "POOL_STRIPE_LIVEMODE": "true"}, "disagrees"},
		{"mode not a bool", map[string]string{"POOL_STRIPE_API_KEY": "sk_test_abc", "POOL_STRIPE_LIVEMODE": "maybe"}, "POOL_STRIPE_LIVEMODE"},
		{"bad url", map[string]string{"POOL_STRIPE_API_KEY": "sk_test_abc", "POOL_STRIPE_API_URL": "ftp://x"}, "POOL_STRIPE_API_URL"},
		{"bad seats", map[string]string{"POOL_STRIPE_API_KEY": "sk_test_abc", "POOL_MAX_SEATS": "0"}, "POOL_MAX_SEATS"},
		{"test key", map[string]string{"POOL_STRIPE_API_KEY": "sk_test_abc", "POOL_STRIPE_API_URL": "http://127.0.0.1:12111"}, ""},
		{"live key, live mode", map[string]string{"POOL_STRIPE_API_KEY": "sk_live_abc", "POOL_STRIPE_LIVEMODE": "true"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			for k, v := range base {
				h.env[k] = v
			}
			for k, v := range c.env {
				h.env[k] = v
			}
			_, err := h.run(context.Background(), "config", "check")
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "_abc") {
				t.Fatal("the report quotes the API key")
			}
		})
	}
}

// A tier that sizes storage is checked against each host's engine: on this machine's engine the
// report follows what its /info says, and says what to do.
func TestConfigCheckAsksHostsAboutStorageSizes(t *testing.T) {
	dc := dockertest.Require(t)
	in, err := dc.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	h.real = true
	h.env["POOL_LANGFLOW_IMAGE"] = "langflowai/langflow:1.5.0@sha256:" + strings.Repeat("ab", 32)
	h.env["TENANTPOOL_PULUMI"] = writeFile(t, "pulumi", "#!/bin/sh\necho 'error: config check must not run the Pulumi CLI' >&2\nexit 3\n")
	h.env["POOL_CONFIG"] = writeFile(t, "config.yaml", `tiers:
  - {name: solo, min_ready: 1, max_total: 1, max_in_flight: 1, memory_mb: 1024, cpus: 1, volume_mb: 2048}
hosts:
  - {name: here, dockerUrl: "`+dockertest.URL()+`", address: 127.0.0.1, capacity: 5, network: tenantpool-tenants, wildcardTarget: true}
`)
	out, err := h.run(context.Background(), "config", "check")
	if in.Quotas().Volume {
		if err != nil {
			t.Fatalf("this engine (%s on %s) sizes volumes, yet: %v", in.Driver, in.BackingFilesystem, err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), "tier solo on host here: storage driver "+in.Driver) || !strings.Contains(err.Error(), "set disk_mb and volume_mb to 0") {
		t.Fatalf("config check on %s/%s = %q, %v; want the tier refused on the host with what to do", in.Driver, in.BackingFilesystem, out, err)
	}
}

// Serve refuses an admin token shorter than 32 characters, or one that is not random, from the
// variable or from its file, before it opens anything, naming the variable and never the token.
func TestServeRefusesWeakAdminTokens(t *testing.T) {
	for name, set := range map[string]func(h *harness){
		"env 16 characters": func(h *harness) { h.env["POOL_ADMIN_TOKEN"] = "0123456789abcdef" },
		"env 31 characters": func(h *harness) { h.env["POOL_ADMIN_TOKEN"] = "0123456789abcdefghijklmnopqrstu" },
		"env one of two":    func(h *harness) { h.env["POOL_ADMIN_TOKEN"] = "good-token-0123456789-abcdefghijkl,0123456789abcdef" },
		"env repeated":      func(h *harness) { h.env["POOL_ADMIN_TOKEN"] = strings.Repeat("xy", 20) },
		"file 20 characters": func(h *harness) {
			h.env["POOL_ADMIN_TOKEN_FILE"] = writeFile(t, "token", "0123456789abcdefghij\n")
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.env["POOL_DATA_DIR"] = filepath.Join(t.TempDir(), "never-created")
			set(h)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a serve that starts ends here
			defer cancel()
			_, err := h.run(ctx, "serve", "--listen", freePort(t), "--admin-listen", freePort(t))
			if err == nil || ctx.Err() != nil {
				t.Fatalf("serve started: %v", err)
			}
			if !strings.Contains(err.Error(), "POOL_ADMIN_TOKEN") || !strings.Contains(err.Error(), "admin: token") {
				t.Errorf("the error does not name the variable and the token: %v", err)
			}
			if strings.Contains(err.Error(), "0123456789abcdef") || strings.Contains(err.Error(), "xyxy") {
				t.Errorf("the error quotes the token: %v", err)
			}
			if _, err := os.Stat(h.env["POOL_DATA_DIR"]); !os.IsNotExist(err) {
				t.Error("serve wrote the data dir before refusing")
			}
		})
	}
}

// The public and the admin listener cannot share an address, and a half TLS pair is refused.
func TestServeRefusesOneAddressForBothListeners(t *testing.T) {
	h := newHarness(t)
	addr := freePort(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", addr, "--admin-listen", addr}, "is the public --listen address"},
		{[]string{"--listen", freePort(t), "--admin-listen", "nonsense"}, "--admin-listen"},
		{[]string{"--listen", freePort(t), "--admin-listen", freePort(t), "--tls-cert", writeFile(t, "c.pem", "x")}, "both a certificate and a key"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a serve that starts ends here
		_, err := h.run(ctx, append([]string{"serve"}, tc.args...)...)
		if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %v: %v, want an error with %q", tc.args, err, tc.want)
		}
		cancel()
	}
}
