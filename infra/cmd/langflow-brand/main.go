// Command langflow-brand is the entrypoint of the project's Langflow image layer (Dockerfile in
// this directory, FROM the pinned Langflow image): it applies the tenant's white-label settings
// (TENANTPOOL_BRAND_APP_NAME, TENANTPOOL_BRAND_LOGO_URL, TENANTPOOL_BRAND_PRIMARY_COLOR, set by
// the tenant program for premium and up) to a copy of Langflow's built frontend
// (studiobrand.Prepare), points Langflow at the copy with LANGFLOW_FRONTEND_PATH, and then
// executes its arguments — Langflow's own command — in its place (same pid, same environment).
// Without branding it executes them at once, untouched.
//
// Environment besides the brand:
//
//	TENANTPOOL_FRONTEND_SRC   the built frontend (default: the first of
//	                          /app/.venv/lib/python3*/site-packages/langflow/frontend)
//	TENANTPOOL_FRONTEND_DIR   where the branded copy goes; writable (default
//	                          /app/data/.tenantpool/frontend, on the tenant's data volume: the
//	                          root filesystem is read-only and /tmp is memory)
//
// It is static (CGO_ENABLED=0) so that it runs in any base image. A bad brand stops the
// container with a message rather than start an unbranded studio silently.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/axiestudio/tenantpool/infra/studiobrand"
)

// Defaults of the image layer.
const (
	DefaultFrontendGlob = "/app/.venv/lib/python3*/site-packages/langflow/frontend"
	DefaultFrontendDir  = "/app/data/.tenantpool/frontend"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Environ(), syscall.Exec); err != nil {
		fmt.Fprintln(os.Stderr, "langflow-brand:", err)
		os.Exit(1)
	}
}

// execFunc replaces the process (syscall.Exec); it returns only on failure.
type execFunc func(argv0 string, argv []string, envv []string) error

func run(args []string, getenv func(string) string, environ []string, exe execFunc) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return errors.New("usage: langflow-brand [--] COMMAND [ARG]… (Langflow's command)")
	}
	b, err := studiobrand.FromEnv(getenv)
	if err != nil {
		return err
	}
	if !b.IsZero() {
		src := getenv("TENANTPOOL_FRONTEND_SRC")
		if src == "" {
			found, _ := filepath.Glob(DefaultFrontendGlob)
			if len(found) == 0 {
				return fmt.Errorf("no built frontend at %s: set TENANTPOOL_FRONTEND_SRC", DefaultFrontendGlob)
			}
			src = found[0]
		}
		dst := getenv("TENANTPOOL_FRONTEND_DIR")
		if dst == "" {
			dst = DefaultFrontendDir
		}
		if err := studiobrand.Prepare(src, dst, b); err != nil {
			return err
		}
		environ = append(slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
			return len(kv) >= len("LANGFLOW_FRONTEND_PATH=") && kv[:len("LANGFLOW_FRONTEND_PATH=")] == "LANGFLOW_FRONTEND_PATH="
		}), "LANGFLOW_FRONTEND_PATH="+dst)
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		return err
	}
	return exe(path, args, environ)
}
