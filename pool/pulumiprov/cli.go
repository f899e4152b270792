package pulumiprov

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/axiestudio/tenantpool/pool"
)

// cli runs one pulumi binary. The SDK's own command finds the binary only in PATH or at
// <root>/bin/pulumi; this one takes any path (the Makefile's cached build) and otherwise behaves
// the same: non-interactive, SIGINT on cancel (the CLI then cancels the update gracefully), killed
// if it has not exited 10s later. Unlike the SDK's, the CLI dies with this process (on Linux:
// see runDyingWithParent) and its environment names this process as its owner (ownerEnv), so
// that what a killed daemon left running can be found and ended.
type cli struct {
	path    string
	version semver.Version
}

var _ auto.PulumiCommand = (*cli)(nil)

// newCLI checks that path (or "pulumi" in PATH) runs and reports a version.
func newCLI(ctx context.Context, path string) (*cli, error) {
	if path == "" {
		path = "pulumi"
	}
	resolved, err := exec.LookPath(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrMissingCLI, path, err)
	}
	if abs, err := filepath.Abs(resolved); err == nil {
		resolved = abs
	}
	cmd := exec.CommandContext(ctx, resolved, "version")
	cmd.Env = append(pool.ChildEnv(os.Environ()), "PULUMI_SKIP_UPDATE_CHECK=true")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s version: %w", ErrMissingCLI, resolved, err)
	}
	v, err := semver.ParseTolerant(strings.TrimSpace(string(out)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s reports version %q", ErrMissingCLI, resolved, strings.TrimSpace(string(out)))
	}
	return &cli{path: resolved, version: v}, nil
}

func (c *cli) Version() semver.Version { return c.version }

func (c *cli) Run(ctx context.Context, workdir string, stdin io.Reader, extraOut, extraErr []io.Writer,
	extraEnv []string, args ...string) (string, string, int, error) {
	cmd := exec.CommandContext(ctx, c.path, append([]string{"--non-interactive"}, args...)...)
	cmd.Dir = workdir
	// Only an allow-list of this process's environment (pool.ChildEnv): the CLI and every plugin
	// it starts never see the daemon's own secrets.
	env := append(pool.ChildEnv(os.Environ()), extraEnv...)
	env = append(env, "PULUMI_AUTOMATION_API=true", "PATH="+filepath.Dir(c.path)+string(os.PathListSeparator)+os.Getenv("PATH"),
		ownerEnv+"="+ownerToken())
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = io.MultiWriter(append(extraOut, &stdout)...)
	cmd.Stderr = io.MultiWriter(append(extraErr, &stderr)...)
	cmd.Stdin = stdin
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 10 * time.Second
	err := runDyingWithParent(cmd)
	code := -2
	var exit *exec.ExitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		err = fmt.Errorf("%w: %s: %w", ErrMissingCLI, c.path, err)
	}
	return stdout.String(), stderr.String(), code, err
}

// NewCommand returns the Automation API command for the pulumi binary at path ("" = PATH), for
// callers that drive other stacks (the platform stack, tests) with the same CLI.
func NewCommand(ctx context.Context, path string) (auto.PulumiCommand, error) {
	return newCLI(ctx, path)
}
