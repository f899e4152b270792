package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool/dockerhost/dockertest"
)

// goBuild builds a static linux binary of pkg into dir/name.
func goBuild(t *testing.T, dir, name, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, name), pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
}

func docker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestImageLayerOnDocker builds, on the real Docker Engine, a stand-in of the Langflow image (FROM
// scratch: a fake `langflow` command and the fixture frontend where Langflow's wheel puts it),
// then the project's layer from this directory's Dockerfile on top of it, and runs it as the
// tenant program runs tenants (read-only root, uid 1000, no capability, the data volume): with
// a brand the entrypoint writes the branded copy onto the volume, points LANGFLOW_FRONTEND_PATH
// at it and execs Langflow's command as pid 1; without one it execs it untouched; a bad brand
// stops the container with a message.
func TestImageLayerOnDocker(t *testing.T) {
	dockertest.Require(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("the docker command is needed to build images: ", err)
	}
	sfx := make([]byte, 4)
	_, _ = rand.Read(sfx)
	id := hex.EncodeToString(sfx)
	base, layer, vol := "tenantpool-test/fake-langflow:"+id, "tenantpool-test/langflow-brand:"+id, "tenantpool-test-brand-"+id
	t.Cleanup(func() {
		_, _ = docker(t, "volume", "rm", "-f", vol)
		_, _ = docker(t, "rmi", "-f", layer, base)
	})

	// The stand-in base image.
	bctx := t.TempDir()
	goBuild(t, bctx, "langflow", "./testdata/fakelangflow")
	copyDir(t, "../../studiobrand/testdata/frontend", filepath.Join(bctx, "frontend"))
	if err := os.MkdirAll(filepath.Join(bctx, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	df := "FROM scratch\nCOPY langflow /usr/local/bin/langflow\nCOPY frontend /app/.venv/lib/python3.12/site-packages/langflow/frontend\n" +
		"COPY --chown=1000:1000 data /app/data\nCMD [\"langflow\", \"run\"]\n"
	if err := os.WriteFile(filepath.Join(bctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := docker(t, "build", "-q", "-t", base, bctx); err != nil {
		t.Fatalf("build the stand-in base: %v\n%s", err, out)
	}

	// The project's layer, from its own Dockerfile.
	lctx := t.TempDir()
	goBuild(t, lctx, "langflow-brand", ".")
	dfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lctx, "Dockerfile"), dfile, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := docker(t, "build", "-q", "--build-arg", "LANGFLOW="+base, "-t", layer, lctx); err != nil {
		t.Fatalf("build the layer: %v\n%s", err, out)
	}

	run := func(env ...string) (string, error) {
		args := []string{"run", "--rm", "--read-only", "--user", "1000:1000", "--cap-drop", "ALL",
			"--security-opt", "no-new-privileges:true", "--network", "none", "-v", vol + ":/app/data"}
		for _, e := range env {
			args = append(args, "-e", e)
		}
		return docker(t, append(args, layer)...)
	}

	out, err := run("TENANTPOOL_BRAND_APP_NAME=Acme Flows", "TENANTPOOL_BRAND_PRIMARY_COLOR=#ff6600",
		"TENANTPOOL_BRAND_LOGO_URL=https://cdn.acme.example/logo.svg")
	if err != nil {
		t.Fatalf("branded run: %v\n%s", err, out)
	}
	for _, want := range []string{"pid=1\n", "args=run\n", "frontend=/app/data/.tenantpool/frontend\n",
		"index=<title>Acme Flows</title>", `index=<link rel="icon" href="https://cdn.acme.example/logo.svg">`, "--primary:24 100% 50%"} {
		if !strings.Contains(out, want) {
			t.Errorf("branded run lacks %q:\n%s", want, out)
		}
	}

	out, err = run()
	if err != nil {
		t.Fatalf("plain run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "pid=1\n") || !strings.Contains(out, "frontend=\n") {
		t.Errorf("plain run: Langflow must start untouched:\n%s", out)
	}

	out, err = run("TENANTPOOL_BRAND_PRIMARY_COLOR=red")
	if err == nil || !strings.Contains(out, "langflow-brand:") || !strings.Contains(out, "#rrggbb") || strings.Contains(out, "pid=") {
		t.Errorf("bad brand: err %v, output:\n%s", err, out)
	}
}
