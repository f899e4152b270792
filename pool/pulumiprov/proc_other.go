//go:build !linux

package pulumiprov

import (
	"os/exec"
	"time"
)

// runDyingWithParent runs cmd. Only Linux has a parent-death signal: elsewhere the CLI of a
// killed daemon may finish (or hang in) its update on its own.
func runDyingWithParent(cmd *exec.Cmd) error { return cmd.Run() }

// processAlive cannot tell outside Linux: a lock is then stale only by its age.
func processAlive(int, time.Time) bool { return true }

const ownerEnv = "TENANTPOOL_PULUMI_OWNER"

func ownerToken() string { return "" }

type orphan struct {
	pid int
	cmd string
}

// sweepOrphans finds nothing outside Linux.
func sweepOrphans(string) ([]orphan, error) { return nil, nil }
