package jobs_test

import (
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/axiestudio/tenantpool/pool/jobs"
)

// Every kind the daemon inserts has a complete policy, and what the store inserts agrees with
// the table.
func TestRegistryIsComplete(t *testing.T) {
	kinds := []river.JobArgs{jobs.ProvisionArgs{}, jobs.DestroyArgs{}, jobs.DeliverArgs{}, jobs.NoticeArgs{},
		jobs.ClaimPendingArgs{}, jobs.SyncArgs{}, jobs.RetireArgs{}, jobs.SuspendAccountArgs{}, jobs.RetireAccountArgs{},
		jobs.PlanApplyArgs{}, jobs.PlanNoticeArgs{}, jobs.PlanDetachArgs{}}
	reg := jobs.Default()
	if len(reg) != len(kinds) {
		t.Fatalf("registry has %d kinds, want %d", len(reg), len(kinds))
	}
	for _, args := range kinds {
		p := reg.Of(args.Kind())
		if p.Queue == "" || p.Timeout <= 0 || p.MaxAttempts < 1 || p.RescueAfter <= p.Timeout {
			t.Errorf("%s: incomplete policy %+v (rescue must exceed the timeout)", args.Kind(), p)
		}
		at := time.Now().Add(time.Hour)
		o, err := jobs.Opts(jobs.Job{Args: args, ScheduledAt: at})
		if err != nil {
			t.Fatal(err)
		}
		if o.Queue != p.Queue || o.MaxAttempts != p.MaxAttempts || !o.ScheduledAt.Equal(at) || o.UniqueOpts.ByArgs != p.Unique {
			t.Errorf("%s: insert options %+v disagree with the policy %+v", args.Kind(), o, p)
		}
	}
	if _, err := jobs.Insert(jobs.Job{Args: jobs.ProvisionArgs{}}, jobs.Job{Args: unknown{}}); err == nil {
		t.Error("a job kind without a policy was accepted")
	}
	if got := reg.MaxRescueAfter(); got != 20*time.Minute {
		t.Errorf("MaxRescueAfter = %v, want 20m (provisioning)", got)
	}
	short := reg.RescueGroups()[3*time.Minute]
	if len(short) != 7 {
		t.Errorf("kinds rescued after 3m: %v, want the deliver, notice, claim-pending, retire, account-retire, plan-notice and plan-detach jobs", short)
	}
}

func TestEmailBackoff(t *testing.T) {
	want := []time.Duration{30 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute}
	for attempt, w := range want {
		if got := jobs.EmailBackoff(attempt); got != w {
			t.Errorf("EmailBackoff(%d) = %v, want %v", attempt, got, w)
		}
	}
	if got := jobs.EmailBackoff(40); got != time.Hour {
		t.Errorf("EmailBackoff(40) = %v, want the 1h ceiling", got)
	}
	var total time.Duration
	for a := 1; a < 25; a++ {
		total += jobs.EmailBackoff(a)
	}
	if total < 17*time.Hour || total > 19*time.Hour {
		t.Errorf("25 attempts span %v, want about 18h", total)
	}
}

func TestDelayJitter(t *testing.T) {
	reg := jobs.Default()
	for range 100 {
		d, ok := reg.Delay(jobs.DeliverArgs{}.Kind(), 3)
		if !ok || d < 2*time.Minute || d > 2*time.Minute+12*time.Second {
			t.Fatalf("delivery retry 3 waits %v (ok=%v), want 2m plus at most 10%% jitter", d, ok)
		}
	}
	if _, ok := reg.Delay(jobs.ProvisionArgs{}.Kind(), 1); ok {
		t.Error("provisioning has no backoff of its own: river's default applies")
	}
}

type unknown struct{}

func (unknown) Kind() string { return "unknown" }

// Every worker's attempt is bounded by its kind's timeout.
func TestWorkerDefaultsTimeout(t *testing.T) {
	var deliver jobs.WorkerDefaults[jobs.DeliverArgs]
	if got := deliver.Timeout(&river.Job[jobs.DeliverArgs]{JobRow: &rivertype.JobRow{Kind: jobs.DeliverArgs{}.Kind()}}); got != 2*time.Minute {
		t.Errorf("delivery timeout %v, want 2m", got)
	}
	var provision jobs.WorkerDefaults[jobs.ProvisionArgs]
	if got := provision.Timeout(&river.Job[jobs.ProvisionArgs]{JobRow: &rivertype.JobRow{Kind: jobs.ProvisionArgs{}.Kind()}}); got != 15*time.Minute {
		t.Errorf("provisioning timeout %v, want 15m", got)
	}
	if got := jobs.Default().MaxTimeout(); got != 15*time.Minute {
		t.Errorf("MaxTimeout %v, want 15m", got)
	}
}
