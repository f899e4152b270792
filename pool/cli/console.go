package cli

import (
	"fmt"
	"time"

	"github.com/axiestudio/tenantpool/pool/console"
)

// consoleIdle is POOL_CONSOLE_IDLE: how long an operator console session lasts without a
// request (default console.DefaultIdleTimeout).
func (e *Env) consoleIdle() (time.Duration, error) {
	v := e.Getenv("POOL_CONSOLE_IDLE")
	if v == "" {
		return console.DefaultIdleTimeout, nil
	}
	d, err := parseTimeout(v)
	if err != nil {
		return 0, fmt.Errorf("POOL_CONSOLE_IDLE: %w", err)
	}
	return d, nil
}
