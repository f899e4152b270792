package cli_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/infra/deploy"
	"github.com/axiestudio/tenantpool/pool/pooltest"
)

// runPoold runs the built poold (with the provisioner double, which neither command uses) and
// returns its output and exit code.
func runPoold(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs poold")
	}
	bin, err := buildTestPoold()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("poold %v: %v", args, err)
	return "", 0
}

// `poold platform preview --stack nosuch` from inside the repository: the repository's project
// is found upwards, the stack is refused with the stacks there are, the process exits 1, and
// nothing is written.
func TestPlatformUnknownStack(t *testing.T) {
	dir := t.TempDir()
	out, code := runPoold(t, []string{"POOL_DATA_DIR=" + dir, "TENANTPOOL_PULUMI=/nonexistent/pulumi"}, "platform", "preview", "--stack", "nosuch")
	if code != 1 || !strings.Contains(out, "unknown stack nosuch") || !strings.Contains(out, "Pulumi.nosuch.yaml") ||
		!strings.Contains(out, "stacks: dev, prod") {
		t.Fatalf("exit %d, output:\n%s\nwant exit 1 naming the missing stack file and the known stacks", code, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the data directory was written: %v", entries)
	}
	h := newHarness(t)
	if _, err := h.run(context.Background(), "platform", "up", "--yes"); err == nil || !strings.Contains(err.Error(), `"stack" not set`) {
		t.Errorf("up without --stack: %v", err)
	}
}

// project copies the repository's Pulumi.yaml and dev stack file into a temp directory, so
// that nothing the engine writes (the encryption salt) lands in the repository.
func project(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"Pulumi.yaml", "stacks/Pulumi.dev.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The CLI checks that the project's main directory exists.
	if err := os.MkdirAll(filepath.Join(dir, "infra", "cmd", "platform"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// `poold platform up --stack dev` with the real platform program and the repository's dev stack
// file on the real engine, without plugin downloads: the preview shown before the question
// fails on the Docker provider plugin, naming the command that installs it into the daemon's
// PULUMI_HOME; the stack lives in the daemon's backend; nothing is asked.
func TestPlatformUpNamesTheMissingPlugin(t *testing.T) {
	h := newHarness(t)
	h.real = true
	h.env["TENANTPOOL_PULUMI"] = pooltest.PulumiCLI(t)
	h.env["POOL_NO_PLUGIN_DOWNLOAD"] = "1"
	h.env["PULUMI_CONFIG_PASSPHRASE"] = "a test passphrase"
	out, err := h.run(context.Background(), "platform", "up", "--stack", "dev", "--project-dir", project(t))
	want := "PULUMI_HOME=" + filepath.Join(h.dir, "pulumi", "home") + " pulumi plugin install resource docker v4.10.0"
	if !errors.Is(err, deploy.ErrMissingPlugin) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v\nwant ErrMissingPlugin with %q", err, want)
	}
	if !strings.Contains(out, "Previewing update (dev)") || strings.Contains(out, "[yes/no]") {
		t.Errorf("output:\n%s\nwant the preview, and no question after a failed preview", out)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "pulumi", "state", ".pulumi", "stacks", "tenantpool", "dev.json")); err != nil {
		t.Errorf("the stack is not in the daemon's backend: %v", err)
	}
}
