package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// run prepares the branded copy, points LANGFLOW_FRONTEND_PATH at it (replacing one already
// set) and execs the command with the rest of the environment; without a brand it execs the
// command untouched; a bad brand or a missing frontend stops before anything is exec'd.
func TestRun(t *testing.T) {
	src, err := filepath.Abs("../../studiobrand/testdata/frontend")
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "front")
	env := map[string]string{
		"TENANTPOOL_BRAND_APP_NAME": "Acme", "TENANTPOOL_FRONTEND_SRC": src, "TENANTPOOL_FRONTEND_DIR": dst,
	}
	getenv := func(k string) string { return env[k] }
	var gotPath string
	var gotArgs, gotEnv []string
	exe := func(p string, args, envv []string) error {
		gotPath, gotArgs, gotEnv = p, args, envv
		return nil
	}
	environ := []string{"PATH=/usr/bin:/bin", "LANGFLOW_FRONTEND_PATH=/old", "KEEP=1"}
	if err := run([]string{"--", "true", "run"}, getenv, environ, exe); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(gotPath, "/true") || !slices.Equal(gotArgs, []string{"true", "run"}) {
		t.Fatalf("exec %s %v", gotPath, gotArgs)
	}
	if !slices.Contains(gotEnv, "LANGFLOW_FRONTEND_PATH="+dst) || slices.Contains(gotEnv, "LANGFLOW_FRONTEND_PATH=/old") || !slices.Contains(gotEnv, "KEEP=1") {
		t.Fatalf("environment %v", gotEnv)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "index.html")); err != nil || !strings.Contains(string(b), "<title>Acme</title>") {
		t.Fatalf("branded copy: %v", err)
	}

	gotEnv = nil
	if err := run([]string{"true"}, func(string) string { return "" }, environ, exe); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotEnv, environ) {
		t.Fatalf("without a brand the environment changed: %v", gotEnv)
	}

	boom := errors.New("exec must not run")
	refuse := func(string, []string, []string) error { return boom }
	env["TENANTPOOL_BRAND_PRIMARY_COLOR"] = "red"
	if err := run([]string{"true"}, getenv, environ, refuse); err == nil || errors.Is(err, boom) || !strings.Contains(err.Error(), "#rrggbb") {
		t.Fatalf("bad brand: %v", err)
	}
	delete(env, "TENANTPOOL_BRAND_PRIMARY_COLOR")
	env["TENANTPOOL_FRONTEND_SRC"] = filepath.Join(t.TempDir(), "missing")
	if err := run([]string{"true"}, getenv, environ, refuse); err == nil || errors.Is(err, boom) {
		t.Fatalf("missing frontend: %v", err)
	}
	if err := run(nil, getenv, environ, refuse); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("no command: %v", err)
	}
}
