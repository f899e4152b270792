package store

import (
	"context"
	"slices"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// RescueJobs makes jobs that a dead process left "running" available again at once: those of
// the given kinds (every kind when kinds is nil) last attempted before horizon. River's own
// rescuer does the same, but after one threshold for every kind (long, because provisioning is
// long); a daemon that knows the previous process is gone (SQLite: it holds the data dir's lock)
// or a kind whose attempts are short calls this instead of waiting. It returns how many.
func (s *Store) RescueJobs(ctx context.Context, kinds []string, horizon time.Time) (int, error) {
	return s.rescueJobs(ctx, s.driver.GetExecutor(), horizon, func(j *rivertype.JobRow) bool {
		return kinds == nil || slices.Contains(kinds, j.Kind)
	}, "rescued: the process running it is gone")
}
