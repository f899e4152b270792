// Package control is the pool's runtime: the loops and workers that act on the domain through
// the store and the tenants. The reconciler keeps every tier's pool at its targets, the prober
// watches sold tenants' health, the job workers provision and tear down accounts (and suspend
// and, after the grace, retire the sold ones an operator retires), and all of them run on one
// scheduling loop ([Loop]) on an injected clock.
package control

import (
	"context"
	"fmt"

	"github.com/coder/quartz"
	"github.com/robfig/cron/v3"
)

// ValidateSchedule checks a robfig/cron schedule (standard 5 fields or @every/@hourly…).
func ValidateSchedule(s string) error {
	_, err := parseSchedule(s)
	return err
}

func parseSchedule(s string) (cron.Schedule, error) {
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return nil, fmt.Errorf("invalid schedule %q: %w", s, err)
	}
	return sched, nil
}

// Loop calls a function on a cron schedule and whenever it is triggered, on an injected clock
// (quartz: tests advance a mock clock instead of sleeping). Ticks and triggers that come while
// the function runs are coalesced into one call after it.
type Loop struct {
	name    string
	sched   cron.Schedule
	clock   quartz.Clock
	trigger chan struct{}
}

// NewLoop parses schedule; name tags the loop's timers (quartz traps) and errors.
func NewLoop(name, schedule string, clock quartz.Clock) (*Loop, error) {
	sched, err := parseSchedule(schedule)
	if err != nil {
		return nil, fmt.Errorf("%s schedule: %w", name, err)
	}
	if clock == nil {
		clock = quartz.NewReal()
	}
	return &Loop{name: name, sched: sched, clock: clock, trigger: make(chan struct{}, 1)}, nil
}

// Trigger asks for a call as soon as possible; it never blocks.
func (l *Loop) Trigger() {
	select {
	case l.trigger <- struct{}{}:
	default:
	}
}

// Run calls fn at every scheduled time and trigger until ctx ends; it returns when ctx ends and
// fn has returned.
func (l *Loop) Run(ctx context.Context, fn func(ctx context.Context)) {
	for {
		now := l.clock.Now()
		t := l.clock.NewTimer(l.sched.Next(now).Sub(now), l.name)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-l.trigger:
			t.Stop()
		}
		fn(ctx)
	}
}
