package control_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool/control"
)

// The loop runs on the injected clock: nothing happens until the mock clock reaches the next
// scheduled time, a trigger runs at once, and Run returns when ctx ends.
func TestLoopOnMockClock(t *testing.T) {
	clock := quartz.NewMock(t)
	trap := clock.Trap().NewTimer("test")
	defer trap.Close()
	l, err := control.NewLoop("test", "@every 30s", clock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	done := make(chan struct{})
	ran := make(chan struct{}, 10)
	go func() {
		defer close(done)
		l.Run(ctx, func(context.Context) { calls.Add(1); ran <- struct{}{} })
	}()

	trap.MustWait(ctx).MustRelease(ctx) // the first timer: 30s
	if calls.Load() != 0 {
		t.Fatal("ran before its time")
	}
	clock.Advance(29 * time.Second).MustWait(ctx)
	if calls.Load() != 0 {
		t.Fatal("ran a second early")
	}
	clock.Advance(time.Second).MustWait(ctx)
	<-ran
	trap.MustWait(ctx).MustRelease(ctx) // re-armed
	l.Trigger()
	<-ran
	trap.MustWait(ctx).MustRelease(ctx)
	if got := calls.Load(); got != 2 {
		t.Fatalf("calls = %d, want 2 (one tick, one trigger)", got)
	}
	cancel()
	<-done
}

func TestLoopRejectsBadSchedule(t *testing.T) {
	if _, err := control.NewLoop("x", "every 5 minutes", nil); err == nil {
		t.Fatal("a bad schedule was accepted")
	}
	if err := control.ValidateSchedule("@every 1m"); err != nil {
		t.Fatal(err)
	}
}
