package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// RescueJobs makes jobs that a dead process left "running" available again at once: those of
// the given kinds (every kind when kinds is nil) last attempted before horizon. River's own
// rescuer does the same, but after one threshold for every kind (long, because provisioning is
// long); a daemon that knows the previous process is gone (SQLite: it holds the data dir's lock)
// or a kind whose attempts are short calls this instead of waiting. It returns how many.
func (s *Store) RescueJobs(ctx context.Context, kinds []string, horizon time.Time) (int, error) {
	exec := s.driver.GetExecutor()
	n := 0
	var after int64
	for {
		stuck, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{AfterID: after, Max: 100, StuckHorizon: horizon})
		if err != nil {
			return n, fmt.Errorf("rescue jobs: %w", err)
		}
		if len(stuck) == 0 {
			return n, nil
		}
		now := time.Now().UTC()
		p := &riverdriver.JobRescueManyParams{StuckHorizon: horizon}
		for _, j := range stuck {
			after = j.ID
			if kinds != nil && !slices.Contains(kinds, j.Kind) {
				continue
			}
			e, _ := json.Marshal(rivertype.AttemptError{At: now, Attempt: max(j.Attempt, 0), Error: "rescued: the process running it is gone"})
			p.ID = append(p.ID, j.ID)
			p.Error = append(p.Error, e)
			p.FinalizedAt = append(p.FinalizedAt, nil)
			p.ScheduledAt = append(p.ScheduledAt, now)
			p.State = append(p.State, string(rivertype.JobStateAvailable))
		}
		if len(p.ID) > 0 {
			if _, err := exec.JobRescueMany(ctx, p); err != nil {
				return n, fmt.Errorf("rescue jobs: %w", err)
			}
			n += len(p.ID)
		}
	}
}
