package cli_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/pooltest"
)

const tenantImage = "langflowai/langflow:1.5.0@sha256:abababababababababababababababababababababababababababababababab"

// `poold tenant preview UNKNOWN`: a clear error and exit 1, before any engine runs.
func TestTenantUnknownAccount(t *testing.T) {
	cli := pooltest.PulumiCLI(t)
	dir := t.TempDir()
	out, code := runPoold(t, []string{"POOL_DATA_DIR=" + dir, "TENANTPOOL_PULUMI=" + cli, "POOL_LANGFLOW_IMAGE=" + tenantImage},
		"tenant", "preview", "nosuch")
	if code != 1 || !strings.Contains(out, `no account with id or slug "nosuch"`) {
		t.Fatalf("exit %d, output:\n%s\nwant exit 1 saying there is no such account", code, out)
	}
	h := newHarness(t)
	h.env["TENANTPOOL_PULUMI"], h.env["POOL_LANGFLOW_IMAGE"] = cli, tenantImage
	if _, err := h.run(context.Background(), "tenant", "up", "--yes", "42"); !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("tenant up 42: %v, want not found", err)
	}
	// Without the daemon's provisioning settings the spec cannot be built: say what to set.
	delete(h.env, "POOL_LANGFLOW_IMAGE")
	if _, err := h.run(context.Background(), "tenant", "preview", "nosuch"); err == nil || !strings.Contains(err.Error(), "POOL_LANGFLOW_IMAGE") {
		t.Errorf("without an image: %v", err)
	}
}

// An account that never got a stack is refused by preview, up and refresh (by slug or id), on
// the real engine, and none of them creates one.
func TestTenantWithoutStackIsRefused(t *testing.T) {
	h := newHarness(t)
	h.mustRun("batch", "create", "--count", "1", "--no-wait") // queued, never provisioned
	h.real = true
	h.env["TENANTPOOL_PULUMI"], h.env["POOL_LANGFLOW_IMAGE"] = pooltest.PulumiCLI(t), tenantImage
	for _, args := range [][]string{{"preview", "client01"}, {"up", "--yes", "client01"}, {"refresh", "1"}} {
		out, err := h.run(context.Background(), append([]string{"tenant"}, args...)...)
		if !errors.Is(err, pool.ErrNotFound) || !strings.Contains(err.Error(), "account client01 (provisioning) has no tenant stack") {
			t.Errorf("tenant %v: %v (output %q), want refused: no stack", args, err, out)
		}
	}
	stacks, _ := filepath.Glob(filepath.Join(h.dir, "pulumi", "state", ".pulumi", "stacks", "*", "*"))
	if len(stacks) != 0 {
		t.Errorf("stacks were created: %v", stacks)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "pulumi", "stacks", "client01")); !os.IsNotExist(err) {
		t.Errorf("a work directory was left behind: %v", err)
	}
}
