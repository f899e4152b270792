// Package jobs is the one registry of the daemon's durable jobs (river): every job kind's
// arguments, and in one table its queue, the timeout of one attempt, how many attempts it gets,
// how long it waits between them and after how long a job whose process died is rescued.
//
// The store inserts jobs with [Opts] in the transaction of the row change that needs them, so no
// job is lost and none runs for a change that rolled back; the job client takes its queues,
// per-kind timeouts ([WorkerDefaults]), retry delays ([Registry.RetryPolicy]) and
// rescue thresholds from the same table. The package declares; it does no I/O.
package jobs

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"
)

// The queues. Their worker counts are the daemon's settings (provisioning concurrency, order and
// e-mail workers).
const (
	// QueueProvision bounds concurrent provisioning (and Pulumi engine runs) across tiers.
	QueueProvision = "provision"
	// QueueTeardown runs teardowns and an operator's retirements of sold accounts, bounded like
	// provisioning.
	QueueTeardown = river.QueueDefault
	// QueueOrders runs order bookkeeping: pending claims, subscription syncs, retirements.
	QueueOrders = "orders"
	// QueueDelivery sends e-mails.
	QueueDelivery = "delivery"
)

// Job is one job to insert: its arguments and, optionally, when it may run first.
type Job struct {
	Args        river.JobArgs
	ScheduledAt time.Time // zero: at once
}

// Policy is how one job kind is run.
type Policy struct {
	Queue string
	// Timeout bounds one attempt (its context is cancelled after it).
	Timeout time.Duration
	// MaxAttempts is how many attempts the job gets. Provisioning fails its account on the last.
	MaxAttempts int
	// Backoff is the delay before attempt n+1 after failed attempt n; nil is river's default
	// (attempt⁴ seconds, with jitter). Jitter adds up to 10 % so that jobs failed together (an
	// SMTP outage) do not retry together.
	Backoff func(attempt int) time.Duration
	Jitter  bool
	// RescueAfter: a job still "running" this long after its attempt started belongs to a
	// process that died and is made available again. It must exceed Timeout.
	RescueAfter time.Duration
	// Unique: at most one job per kind and arguments (a repeat insert is skipped).
	Unique bool
}

// Registry maps job kinds to their policies.
type Registry map[string]Policy

// The job kinds' policies, in one place. Why each number:
//   - provision: Pulumi up + the readiness gate take minutes; 5 attempts with river's default
//     backoff (1 s, 16 s, 81 s, 256 s) span about 6 minutes before the account fails for good.
//   - destroy: a teardown must eventually happen (a live unsold tenant costs and is reachable),
//     so it keeps trying for days (25 attempts of river's default backoff).
//   - e-mails: SMTP outages are survived for about 18 hours (EmailBackoff, 25 attempts).
//   - order bookkeeping: short attempts, retried for days like teardowns; a claim waiting for a
//     ready account snoozes, which does not use attempts.
//   - an operator's retirement of a sold account: stopping the tenant is a Pulumi update, long
//     and retried for days like a teardown; retiring it after the grace is a short store update.
//     Both run on the teardown queue, which every daemon works whether orders are on or not.
//   - plan changes: the re-apply, the downgrade notice and the detach of excess custom domains
//     run on the teardown queue too (an operator's change needs no Stripe orders).
//
// Short attempts (2 minutes) are rescued 3 minutes after they started; provisioning, teardown
// and suspension after 20.
func Default() Registry {
	const short, long = 2 * time.Minute, 15 * time.Minute
	return Registry{
		ProvisionArgs{}.Kind():    {Queue: QueueProvision, Timeout: long, MaxAttempts: 5, RescueAfter: long + 5*time.Minute, Unique: true},
		DestroyArgs{}.Kind():      {Queue: QueueTeardown, Timeout: long, MaxAttempts: 25, RescueAfter: long + 5*time.Minute, Unique: true},
		DeliverArgs{}.Kind():      {Queue: QueueDelivery, Timeout: short, MaxAttempts: 25, Backoff: EmailBackoff, Jitter: true, RescueAfter: short + time.Minute, Unique: true},
		NoticeArgs{}.Kind():       {Queue: QueueDelivery, Timeout: short, MaxAttempts: 25, Backoff: EmailBackoff, Jitter: true, RescueAfter: short + time.Minute, Unique: true},
		ClaimPendingArgs{}.Kind(): {Queue: QueueOrders, Timeout: short, MaxAttempts: 25, RescueAfter: short + time.Minute, Unique: true},
		// Not unique: every subscription status change enqueues one, and each converges to the
		// newest status. A sync may suspend or resume a tenant through Pulumi.
		SyncArgs{}.Kind():           {Queue: QueueOrders, Timeout: long, MaxAttempts: 25, RescueAfter: long + 5*time.Minute},
		RetireArgs{}.Kind():         {Queue: QueueOrders, Timeout: short, MaxAttempts: 25, RescueAfter: short + time.Minute, Unique: true},
		SuspendAccountArgs{}.Kind(): {Queue: QueueTeardown, Timeout: long, MaxAttempts: 25, RescueAfter: long + 5*time.Minute, Unique: true},
		RetireAccountArgs{}.Kind():  {Queue: QueueTeardown, Timeout: short, MaxAttempts: 25, RescueAfter: short + time.Minute, Unique: true},
		// A plan change's re-apply is a Pulumi update and the health gate, long like a
		// provisioning; 10 attempts of river's backoff span about 3 hours before the change is
		// marked failed for the operator. Notices are e-mails; detaching is a short API call
		// retried for days.
		PlanApplyArgs{}.Kind():  {Queue: QueueTeardown, Timeout: long, MaxAttempts: 10, RescueAfter: long + 5*time.Minute, Unique: true},
		PlanNoticeArgs{}.Kind(): {Queue: QueueTeardown, Timeout: short, MaxAttempts: 25, Backoff: EmailBackoff, Jitter: true, RescueAfter: short + time.Minute, Unique: true},
		PlanDetachArgs{}.Kind(): {Queue: QueueTeardown, Timeout: short, MaxAttempts: 25, RescueAfter: short + time.Minute, Unique: true},
	}
}

var defaults = Default()

// Of returns the policy of a kind in the default registry; it panics for an unknown kind (a
// programming error: every kind is in the table).
func Of(kind string) Policy { return defaults.Of(kind) }

// Of returns the policy of a kind; it panics for an unknown kind.
func (r Registry) Of(kind string) Policy {
	p, ok := r[kind]
	if !ok {
		panic("jobs: no policy for job kind " + kind)
	}
	return p
}

// Opts are the insert options of a job under the default registry; a kind it does not know is
// an error.
func Opts(j Job) (*river.InsertOpts, error) {
	p, ok := defaults[j.Args.Kind()]
	if !ok {
		return nil, fmt.Errorf("jobs: no policy for job kind %q", j.Args.Kind())
	}
	o := &river.InsertOpts{Queue: p.Queue, MaxAttempts: p.MaxAttempts, ScheduledAt: j.ScheduledAt}
	if p.Unique {
		o.UniqueOpts = river.UniqueOpts{ByArgs: true}
	}
	return o, nil
}

// Insert turns jobs into river's insert parameters under the default registry.
func Insert(js ...Job) ([]river.InsertManyParams, error) {
	out := make([]river.InsertManyParams, len(js))
	for i, j := range js {
		o, err := Opts(j)
		if err != nil {
			return nil, err
		}
		out[i] = river.InsertManyParams{Args: j.Args, InsertOpts: o}
	}
	return out, nil
}

// MaxRescueAfter is the longest RescueAfter of the registry: river's own rescuer uses it for
// every kind; shorter ones are rescued early by the leader (see RescueGroups).
func (r Registry) MaxRescueAfter() time.Duration {
	var d time.Duration
	for _, p := range r {
		d = max(d, p.RescueAfter)
	}
	return d
}

// RescueGroups groups the kinds whose RescueAfter is shorter than MaxRescueAfter by it.
func (r Registry) RescueGroups() map[time.Duration][]string {
	long := r.MaxRescueAfter()
	out := map[time.Duration][]string{}
	for kind, p := range r {
		if p.RescueAfter < long {
			out[p.RescueAfter] = append(out[p.RescueAfter], kind)
		}
	}
	return out
}

// Delay is the wait before the attempt after failed attempt n of kind: the policy's Backoff
// (with its jitter), or river's default when it has none (ok=false).
func (r Registry) Delay(kind string, attempt int) (d time.Duration, ok bool) {
	p, found := r[kind]
	if !found || p.Backoff == nil {
		return 0, false
	}
	d = p.Backoff(attempt)
	if p.Jitter && d > 0 {
		d += time.Duration(rand.Int64N(int64(d)/10 + 1))
	}
	return d, true
}

// EmailBackoff is the delay before retry number attempt (1 for the first retry) of a temporary
// e-mail failure: 30s, 1m, 2m, 4m … doubling up to 1h. With 25 attempts that covers about 18
// hours of SMTP outage.
func EmailBackoff(attempt int) time.Duration {
	const base, ceiling = 30 * time.Second, time.Hour
	if attempt < 1 {
		attempt = 1
	}
	d := base
	for i := 1; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

// Tuned returns a copy of the registry with f applied to every policy (tests shorten timeouts
// and attempts).
func (r Registry) Tuned(f func(kind string, p *Policy)) Registry {
	out := make(Registry, len(r))
	for kind, p := range r {
		f(kind, &p)
		out[kind] = p
	}
	return out
}
