package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The Dockerfile cannot be built here (no Docker engine): check that what it names agrees with
// the rest of the repository, so it cannot silently drift.
func TestDockerfileAgreesWithTheRepository(t *testing.T) {
	docker := read(t, "deploy/Dockerfile")
	makefile := read(t, "../../../Makefile")
	gomod := read(t, "../../../go.mod")
	want := map[string]string{
		"Pulumi CLI version": match(t, makefile, `PULUMI_VERSION := (v[0-9.]+)`),
		"docker plugin":      "resource docker " + match(t, gomod, `pulumi-docker/sdk/v4 (v[0-9.]+)`),
		"cloudflare plugin":  "resource cloudflare " + match(t, gomod, `pulumi-cloudflare/sdk/v5 (v[0-9.]+)`),
		"build path":         "./pool/cmd/poold",
		"clipboard replace":  match(t, makefile, `(replace github.com/atotto/clipboard => \S+ \S+)'`),
	}
	for what, s := range want {
		if !strings.Contains(docker, s) {
			t.Errorf("Dockerfile: %s %q not found", what, s)
		}
	}
}

// systemd-analyze verify checks the unit (with its ExecStart pointed at a real binary).
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("POOL_TEST_REQUIRE_ALL") != "" {
			t.Fatal("systemd-analyze not found")
		}
		t.Skip("systemd-analyze not found")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "poold")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	unit := strings.ReplaceAll(read(t, "deploy/poold.service"), "/usr/local/bin/poold", bin)
	path := filepath.Join(dir, "poold.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func match(t *testing.T, s, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("%s not found", re)
	}
	return m[1]
}
