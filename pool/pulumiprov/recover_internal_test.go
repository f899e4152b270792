package pulumiprov

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// A lock holder named in a diy backend's refusal is read back, and a lock is stale when its
// process on this host is gone or when it is older than the bound.
func TestLockOwners(t *testing.T) {
	msg := "error: the stack is currently locked by 2 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n" +
		"  s3://bucket/.pulumi/locks/organization/p/tenant-a/1.json: created by poold@edge1 (pid 4242) at 2026-05-01T10:00:00Z\n" +
		"  s3://bucket/.pulumi/locks/organization/p/tenant-a/2.json: created by @edge2 (pid 7) at 2026-05-01T10:30:00+02:00\n"
	got := lockOwnersFromMessage(msg)
	if len(got) != 2 || got[0].Username != "poold" || got[0].Hostname != "edge1" || got[0].Pid != 4242 ||
		got[1].Hostname != "edge2" || got[1].Pid != 7 || !got[1].Timestamp.Equal(got[0].Timestamp.Add(-90*60e9)) {
		t.Fatalf("owners %+v", got)
	}
	now := got[0].Timestamp.Add(10 * 60e9)
	if stale, _ := got[0].stale("elsewhere", now, DefaultStaleLockAfter); stale {
		t.Error("a 10-minute-old lock of another host is stale; it may be alive")
	}
	if stale, why := got[0].stale("elsewhere", now.Add(DefaultStaleLockAfter), DefaultStaleLockAfter); !stale || why == "" {
		t.Error("a lock older than the bound is not stale")
	}
	if runtime.GOOS != "linux" {
		return
	}
	// On this host: a pid that runs is alive; one that does not, or that started after the
	// lock was taken (a reused pid), is stale.
	at := time.Now()
	if stale, _ := (lockOwner{Pid: os.Getpid(), Hostname: "here", Timestamp: at}).stale("here", at, DefaultStaleLockAfter); stale {
		t.Error("the lock of a running process is stale")
	}
	if stale, _ := (lockOwner{Pid: 1 << 22, Hostname: "here", Timestamp: at}).stale("here", at, DefaultStaleLockAfter); !stale {
		t.Error("the lock of a process that does not exist is not stale")
	}
	before := at.Add(-30 * time.Minute) // long before this test process started, unless it runs that long
	if stale, _ := (lockOwner{Pid: os.Getpid(), Hostname: "here", Timestamp: before}).stale("here", at, DefaultStaleLockAfter); !stale {
		t.Error("a lock taken before its pid's process started is not stale")
	}
}
