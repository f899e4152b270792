package jobs

import (
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// RetryPolicy is river's retry policy for the registry: a kind's Backoff, else river's default.
func (r Registry) RetryPolicy() river.ClientRetryPolicy {
	return retryPolicy{r: r}
}

type retryPolicy struct {
	r   Registry
	def river.DefaultClientRetryPolicy
}

func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	if d, ok := p.r.Delay(job.Kind, max(job.Attempt, 1)); ok {
		return time.Now().Add(d)
	}
	return p.def.NextRetry(job)
}

// MaxTimeout is the longest Timeout of the registry: the job client's global timeout, which
// every worker shortens to its kind's (WorkerDefaults).
func (r Registry) MaxTimeout() time.Duration {
	var longest time.Duration
	for _, p := range r {
		longest = max(longest, p.Timeout)
	}
	return longest
}

// WorkerDefaults is river.WorkerDefaults whose attempts are bounded by the Timeout of the kind's
// policy in the default registry. Every worker embeds it. (River also reads it when it decides
// whether a job left running is stuck.)
type WorkerDefaults[T river.JobArgs] struct{ river.WorkerDefaults[T] }

// Timeout implements river.Worker.
func (WorkerDefaults[T]) Timeout(job *river.Job[T]) time.Duration {
	if p, ok := defaults[job.Kind]; ok {
		return p.Timeout
	}
	return 0 // the client's
}
