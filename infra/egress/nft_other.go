//go:build !linux

package egress

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/coder/quartz"
)

// DefaultInterval is how often Run applies the policy again.
const DefaultInterval = 30 * time.Second

// errNotLinux: nftables exists on Linux only, where Docker hosts run; poold itself builds
// elsewhere.
var errNotLinux = errors.New("egress policy: nftables needs Linux")

// Apply needs Linux.
func Apply(Policy) error { return errNotLinux }

// Remove needs Linux.
func Remove(Policy) error { return errNotLinux }

// Installed needs Linux.
func Installed(Policy) (bool, error) { return false, errNotLinux }

// Run needs Linux.
func Run(context.Context, quartz.Clock, time.Duration, Policy, *slog.Logger) error {
	return errNotLinux
}
