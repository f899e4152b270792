package pool

import (
	"fmt"
	"math"
	"time"
)

// TierLoad is what the capacity signal knows of one tier at one instant (read by the store).
type TierLoad struct {
	// Ready counts every ready account (the pool's and operator batches': all are for sale);
	// InFlight the pool's provisioning ones (origins pool and order).
	Ready, InFlight int
	Demand          Demand
}

// Refill is one tier's capacity signal: its ready target, how long bringing the ready count up
// to it takes, and whether the hosts' free capacity and max_in_flight allow that within the
// tier's refill_within.
type Refill struct {
	Tier   string
	Target Target
	Ready  int
	// Rate is the tier's sales per hour and Lead its p95 provisioning time (fixed tiers too).
	Rate float64
	Lead time.Duration
	// Need is how many new containers the pool still has to make (target − ready − in flight).
	Need int
	// Estimate is the time to bring the ready count up to the target: the accounts missing,
	// max_in_flight at a time, each wave taking the p95 provisioning time. Zero at the target
	// or when no provisioning time is measured yet (Measured false).
	Estimate time.Duration
	Measured bool
	Within   time.Duration // the tier's refill_within
	// Short: the pool cannot be refilled within Within: the hosts lack room for Need, or the
	// estimate exceeds it. Why says which, in one line.
	Short bool
	Why   string
}

// Capacity is the capacity report: every tier's refill signal and the hosts' forecast.
type Capacity struct {
	Tiers []Refill
	// HostsKnown is false when no host list was given: free capacity and the forecast are
	// unknown (Free, Total zero) and no tier is short for want of room.
	HostsKnown  bool
	Free, Total int
	// Rate is every tier's sales per hour (ReadyTarget's rate, fixed tiers included).
	Rate float64
	// FullIn is when the hosts run out at Rate: each sale keeps its container and the pool
	// makes a new one, so the free places left after every tier's refill last (Free − Σ Need) ÷
	// Rate. +Inf without sales, 0 when the hosts are full already.
	FullIn time.Duration
	// Exhausted: the hosts have no room left for what the pools need.
	Exhausted bool
}

// FreeCapacity is the hosts' total capacity and what is free of it: each listed host's capacity
// minus its live accounts (loads by host name, from placement), minus the live accounts not
// placed yet (loads[""]: they will take a place), never below zero.
func FreeCapacity(hosts []HostCapacity, loads map[string]int) (free, total int) {
	for _, h := range hosts {
		total += h.Capacity
		free += max(h.Capacity-loads[h.Name], 0)
	}
	return max(free-loads[""], 0), total
}

// PlanCapacity computes the capacity report, a pure function of the tiers, their loads, the
// hosts (nil: unknown) and the hosts' loads. Every tier is checked against the whole free
// capacity (tiers share the hosts); Exhausted says when together they do not fit.
func PlanCapacity(tiers Tiers, loads map[string]TierLoad, hosts []HostCapacity, hostLoads map[string]int) Capacity {
	c := Capacity{HostsKnown: hosts != nil}
	c.Free, c.Total = FreeCapacity(hosts, hostLoads)
	need := 0
	for _, name := range tiers.Names() {
		t, l := tiers[name], loads[name]
		target := ReadyTarget(t, l.Demand)
		r := Refill{Tier: name, Target: target, Ready: l.Ready, Within: t.RefillTarget(),
			Need: max(target.Ready-l.Ready-l.InFlight, 0), Measured: l.Demand.LeadSamples > 0 && l.Demand.LeadP95 > 0}
		missing := max(target.Ready-l.Ready, 0)
		if r.Measured && missing > 0 {
			waves := (missing + t.MaxInFlight - 1) / t.MaxInFlight
			r.Estimate = time.Duration(waves) * l.Demand.LeadP95
		}
		rate, _ := l.Demand.Rate()
		r.Rate, r.Lead = rate, l.Demand.LeadP95
		c.Rate += rate
		need += r.Need
		switch {
		case c.HostsKnown && r.Need > c.Free:
			r.Short, r.Why = true, fmt.Sprintf("hosts have room for %d of the %d accounts the pool needs", c.Free, r.Need)
		case r.Estimate > r.Within:
			r.Short, r.Why = true, fmt.Sprintf("refill takes ~%s (%d missing, %d at a time, %s p95 each) > refill_within %s",
				ShortDuration(r.Estimate.Round(time.Minute)), missing, t.MaxInFlight, ShortDuration(l.Demand.LeadP95.Round(time.Minute)), ShortDuration(r.Within))
		case missing == 0:
			r.Why = "at target"
		case !r.Measured:
			r.Why = fmt.Sprintf("%d missing; no provisioning time measured yet", missing)
		default:
			r.Why = fmt.Sprintf("refill in ~%s (%d missing)", ShortDuration(r.Estimate.Round(time.Minute)), missing)
		}
		c.Tiers = append(c.Tiers, r)
	}
	c.Exhausted = c.HostsKnown && need > c.Free
	left := c.Free - need
	switch {
	case !c.HostsKnown:
	case left <= 0:
		c.FullIn = 0
	case c.Rate <= 0:
		c.FullIn = time.Duration(math.MaxInt64)
	default:
		c.FullIn = time.Duration(float64(left) / c.Rate * float64(time.Hour))
	}
	return c
}

// FullInHours is FullIn in hours, +Inf without sales (for the gauge).
func (c Capacity) FullInHours() float64 {
	if c.FullIn == time.Duration(math.MaxInt64) {
		return math.Inf(1)
	}
	return c.FullIn.Hours()
}

// Forecast says in one line when the hosts run out at the current sales rate.
func (c Capacity) Forecast() string {
	switch {
	case !c.HostsKnown:
		return "hosts: capacity unknown (no host list)"
	case c.Exhausted:
		return fmt.Sprintf("hosts: %d of %d places free: not enough for the pools' refill", c.Free, c.Total)
	case c.FullIn == time.Duration(math.MaxInt64):
		return fmt.Sprintf("hosts: %d of %d places free; no sales in the windows, no forecast", c.Free, c.Total)
	default:
		return fmt.Sprintf("hosts: %d of %d places free; full in ~%.1f h at %.1f sales/h", c.Free, c.Total, c.FullIn.Hours(), c.Rate)
	}
}
