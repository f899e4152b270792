package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/axiestudio/tenantpool/pool/control"
)

// Liveness of the processes that work jobs on one PostgreSQL database. River rescues a job
// whose process died only after the longest rescue threshold of the registry (20 minutes:
// provisioning is long), and the leader's early rescue of short kinds after 3; a paid order
// whose e-mail job was on a replica that died must go out within seconds. So every replica
// gives its job client a unique id (river records it in the jobs it attempts, attempted_by),
// writes a heartbeat row under it every HeartbeatInterval, and every replica — not only the
// leader, whose successor needs up to a reconcile tick to take over — makes the running jobs
// of a process whose heartbeat is older than DeadAfter available again at once. A job a live
// process is working is never touched. (On SQLite one process serves the data dir, and a
// restarted one resumes every running job as it starts.)
const (
	// HeartbeatInterval is how often a replica says it is alive and looks for dead ones.
	HeartbeatInterval = 2 * time.Second
	// DeadAfter is how old a heartbeat is when its process counts as dead: several missed
	// beats, so a slow database round trip or a long GC pause never rescues a live process's
	// jobs.
	DeadAfter = 15 * time.Second
)

// newProcessID is a job client id unique to this process: host, pid and random bits (a pid is
// reused after a restart; the random part keeps the restarted process a new one).
func newProcessID() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "host"
	}
	if len(host) > 40 {
		host = host[:40]
	}
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// heartbeat writes this process's heartbeat and rescues the jobs of dead processes every
// HeartbeatInterval until ctx ends.
func (d *Daemon) heartbeat(ctx context.Context) error {
	loop, err := control.NewLoop("heartbeat", "@every "+HeartbeatInterval.String(), nil)
	if err != nil {
		return err
	}
	loop.Run(ctx, func(ctx context.Context) {
		if err := d.store.Heartbeat(ctx, d.id); err != nil && ctx.Err() == nil {
			d.log.Warn("heartbeat failed", "err", err)
		}
		n, dead, err := d.store.RescueDeadProcesses(ctx, DeadAfter)
		switch {
		case err != nil && ctx.Err() == nil:
			d.log.Warn("rescue of dead processes' jobs failed", "err", err)
		case len(dead) > 0:
			d.log.Warn("rescued the running jobs of processes whose heartbeat stopped", "count", n, "processes", dead)
		}
	})
	return nil
}
