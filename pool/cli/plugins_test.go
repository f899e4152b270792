package cli_test

import (
	"context"
	"fmt"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// pinnedPlugins are the provider plugins go.mod pins (their SDKs' versions), read from go.mod
// itself: "docker v4.10.0", "cloudflare v5.49.1".
func pinnedPlugins(t *testing.T) []string {
	t.Helper()
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range []string{"docker", "cloudflare"} {
		m := regexp.MustCompile(`github\.com/pulumi/pulumi-` + name + `/sdk/v[0-9]+ (v\S+)`).FindStringSubmatch(string(gomod))
		if m == nil {
			t.Fatalf("go.mod pins no %s SDK", name)
		}
		out = append(out, name+" "+m[1])
	}
	return out
}

// fakePulumi writes a stand-in for the Pulumi CLI that records each invocation (PULUMI_HOME and
// argv) in log and runs body. A fake, because the real `pulumi plugin install` must download
// the plugin, which cannot be done on this machine (TestPluginsInstallWithTheRealCLI shows the
// real CLI's failure is reported).
func fakePulumi(t *testing.T, body string) (path, log string) {
	t.Helper()
	dir := t.TempDir()
	path, log = filepath.Join(dir, "pulumi"), filepath.Join(dir, "argv.log")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s|%%s\\n' \"$PULUMI_HOME\" \"$*\" >> %q\n%s\n", log, body)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, log
}

func invocations(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
}

// `poold plugins install` installs every provider plugin at the version go.mod pins into the
// daemon's PULUMI_HOME, <data-dir>/pulumi/home.
func TestPluginsInstallIntoTheDaemonsHome(t *testing.T) {
	h := newHarness(t)
	cli, log := fakePulumi(t, `echo "[resource plugin $4] installing"`)
	h.env["TENANTPOOL_PULUMI"] = cli
	out := h.mustRun("plugins", "install")
	home := filepath.Join(h.dir, "pulumi", "home")
	var want []string
	for _, p := range pinnedPlugins(t) {
		want = append(want, strings.ReplaceAll(home+"|plugin install resource "+p, " ", "_"))
		if !strings.Contains(out, "installed the "+strings.Replace(p, " ", " plugin ", 1)+" in "+home) {
			t.Errorf("output does not report %s:\n%s", p, out)
		}
	}
	if got := invocations(t, log); !slices.Equal(got, want) {
		t.Fatalf("pulumi ran\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if fi, err := os.Stat(home); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("PULUMI_HOME %s: %v", home, err)
	}
	if !strings.Contains(out, "[resource plugin docker] installing") {
		t.Errorf("the CLI's output is not passed through:\n%s", out)
	}
}

// A plugin that fails to install is reported with its name and version, the CLI's error line
// and the command that was run; the others are still installed; the command fails.
func TestPluginsInstallReportsAFailure(t *testing.T) {
	h := newHarness(t)
	cli, log := fakePulumi(t, `[ "$4" = cloudflare ] && { echo "error: [resource plugin cloudflare-5] failed to download plugin: 403 Forbidden" >&2; exit 255; }; exit 0`)
	h.env["TENANTPOOL_PULUMI"] = cli
	_, err := h.run(context.Background(), "plugins", "install")
	cf := pinnedPlugins(t)[1]
	if err == nil {
		t.Fatal("a failed install passed")
	}
	for _, want := range []string{"1 of 2 plugins failed", strings.Replace(cf, " ", " plugin ", 1), "exit status 255",
		"failed to download plugin: 403 Forbidden", "ran: PULUMI_HOME=" + filepath.Join(h.dir, "pulumi", "home")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error misses %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "docker") {
		t.Errorf("the error blames docker, which installed:\n%v", err)
	}
	if got := invocations(t, log); len(got) != 2 {
		t.Errorf("pulumi ran %d times, want both plugins tried: %v", len(got), got)
	}
}

// With the real CLI, which cannot download anything here: each plugin fails with the CLI's own
// reason, and the command exits with an error.
func TestPluginsInstallWithTheRealCLI(t *testing.T) {
	h := newHarness(t)
	h.env["TENANTPOOL_PULUMI"] = pooltest.PulumiCLI(t)
	_, err := h.run(context.Background(), "plugins", "install")
	if err == nil {
		t.Skip("the plugins could be downloaded: this machine has network access")
	}
	for _, p := range pinnedPlugins(t) {
		name, version, _ := strings.Cut(p, " ")
		if !strings.Contains(err.Error(), "failed to download plugin: "+name+"-"+strings.TrimPrefix(version, "v")) {
			t.Errorf("the error does not give the CLI's reason for %s:\n%v", p, err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(h.dir, "pulumi", "home", "plugins")); len(entries) > 0 {
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".lock") && !strings.HasSuffix(e.Name(), ".partial") {
				t.Errorf("a failed install left %s", e.Name())
			}
		}
	}
}

// Without a Pulumi CLI the command says what to install and creates nothing.
func TestPluginsInstallWithoutCLI(t *testing.T) {
	h := newHarness(t)
	h.env["TENANTPOOL_PULUMI"] = filepath.Join(t.TempDir(), "no-pulumi-here")
	_, err := h.run(context.Background(), "plugins", "install")
	if err == nil || !strings.Contains(err.Error(), "Pulumi CLI not found") || !strings.Contains(err.Error(), "make pulumi") {
		t.Fatalf("plugins install without a CLI: %v", err)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "pulumi")); !os.IsNotExist(err) {
		t.Error("the command created the Pulumi home without a CLI")
	}
}
