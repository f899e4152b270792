package control_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// A tier in auto mode is topped up to the target its sales and provisioning time give, read
// from the store on every pass; a fixed tier beside it keeps min_ready.
func TestReconcileAutoTarget(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger)
		start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		clock.Set(start)
		s := open(clock)
		tiers, err := pool.NewTiers([]pool.Tier{
			{Name: "basic", MinReady: 1, MaxTotal: 30, MaxInFlight: 30, MemoryMB: 512, CPUs: 1, Ready: pool.ReadyAuto},
			{Name: "premium", MinReady: 1, MaxTotal: 5, MaxInFlight: 5, MemoryMB: 512, CPUs: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := control.NewReconciler(control.ReconcilerConfig{Store: s, Tiers: tiers, Plan: pool.DefaultPlanConfig(),
			Prefix: "client", StuckTimeout: 24 * time.Hour, Clock: clock, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		// Nothing measured yet: min_ready.
		plans, err := r.ReconcileOnce(ctx)
		if err != nil || plans[0].Create != 1 || plans[1].Create != 1 {
			t.Fatalf("first pass %+v %v, want 1 and 1", plans, err)
		}
		// The basic account becomes ready after 30 minutes, 12 more are made and sold within
		// the next hour, each after 30 minutes of provisioning.
		as, _ := s.List(ctx, store.Filter{Tier: "basic"})
		clock.Set(start.Add(30 * time.Minute))
		if err := s.MarkReady(ctx, as[0].ID, pool.Provisioned{Host: "h", URL: "https://x.example.test"}); err != nil {
			t.Fatal(err)
		}
		clock.Set(start.Add(time.Hour))
		more, err := s.CreateAccountsFrom(ctx, pool.OriginOrder, "basic", "client", 12)
		if err != nil {
			t.Fatal(err)
		}
		clock.Set(start.Add(90 * time.Minute))
		for i, a := range more {
			if err := s.MarkReady(ctx, a.ID, pool.Provisioned{Host: "h", URL: "https://x.example.test"}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Claim(ctx, "basic", fmt.Sprintf("order-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		// 12 sales in the last hour × 0.5 h mean provisioning = 6 in the making: target 16
		// (P(N ≥ 16) = 0.05 % ≤ 0.1 % < P(N ≥ 15) = 0.14 %); 1 ready.
		want := pool.ReadyTarget(tiers["basic"], pool.Demand{Window: pool.DefaultAutoWindow, BurstWindow: time.Hour,
			Sales: 12, BurstSales: 12, LeadMean: 30 * time.Minute, LeadP95: 30 * time.Minute, LeadSamples: 13})
		if want.Ready != 16 {
			t.Fatalf("target %+v", want)
		}
		plans, err = r.ReconcileOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if plans[0].Create != 15 || plans[1].Create != 0 {
			t.Fatalf("pass after the sales %+v, want basic 15 (target 16, 1 ready), premium 0 (fixed, 1 in flight)", plans)
		}
		// Idempotent: the in-flight ones count.
		if plans, err = r.ReconcileOnce(ctx); err != nil || !plans[0].Empty() {
			t.Fatalf("second pass %+v %v", plans, err)
		}
	})
}
