package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The production wiring, without a Langflow image configured: the daemon still serves (it can
// sell what is ready and deliver), says why it will not top the pool up, and creates nothing.
func TestServeWithoutProvisioningConfigStillServes(t *testing.T) {
	h := newHarness(t)
	h.real = true
	_, stop := h.serve(nil, "--reconcile-schedule", "@every 1s")
	time.Sleep(1500 * time.Millisecond) // a reconcile tick would have created accounts by now
	if rows := h.list(); len(rows) != 0 {
		t.Fatalf("an unconfigured daemon created %d accounts", len(rows))
	}
	if !strings.Contains(h.logs.String(), "POOL_LANGFLOW_IMAGE") {
		t.Fatalf("the logs do not say what to configure:\n%s", h.logs.String())
	}
	stop()
}

// With an image but no Docker provider plugin (none can be downloaded here), the real Pulumi
// provisioner runs the real tenant program on the real engine and the account fails with the
// command that installs the plugin.
func TestBatchWithPulumiNamesTheMissingPlugin(t *testing.T) {
	cliPath := os.Getenv("TENANTPOOL_PULUMI")
	if cliPath == "" {
		home, _ := os.UserHomeDir()
		cliPath = filepath.Join(home, ".cache", "tenantpool", "pulumi-v3.274.1", "pulumi")
	}
	if _, err := os.Stat(cliPath); err != nil {
		if os.Getenv("POOL_TEST_REQUIRE_ALL") != "" {
			t.Fatalf("Pulumi CLI not found at %s (make pulumi)", cliPath)
		}
		t.Skip("Pulumi CLI not built (make pulumi)")
	}
	h := newHarness(t)
	h.real = true
	h.env["TENANTPOOL_PULUMI"] = cliPath
	h.env["POOL_LANGFLOW_IMAGE"] = "langflowai/langflow:1.5.0@sha256:" + strings.Repeat("ab", 32)
	h.env["POOL_NO_PLUGIN_DOWNLOAD"] = "1"
	_, err := h.run(context.Background(), "batch", "create", "--count", "1", "--timeout", "5m")
	if err == nil || !strings.Contains(err.Error(), "1 of 1 accounts failed") {
		t.Fatalf("batch: %v\n%s", err, h.logs.String())
	}
	rows := h.list("--state", "failed")
	if len(rows) != 1 || !strings.Contains(rows[0]["last_error"].(string), "plugin install resource docker") {
		t.Fatalf("failed accounts = %v", rows)
	}
}
