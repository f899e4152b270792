package pulumiprov_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/tenant"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// The rolling upgrade driver on the real engine (the provider-free program of reimage_test.go):
// a sold tenant gets data written into it (a Langflow user, kept in the tenant's database on
// its volume), the driver upgrades it to the new image on the same volume, and the data is read
// back afterwards; the account records the new generation and one "upgraded" event.
func TestRolloutUpgradesATenantAndItsDataSurvives(t *testing.T) {
	ctx := t.Context()
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	ts := newTenants(t)
	p, logs := newProvisioner(t, ts, options{accounts: s.Get})
	created, err := s.CreateAccounts(ctx, "basic", "client", 1)
	if err != nil {
		t.Fatal(err)
	}
	a := created[0]
	srv := ts.server(a)
	got := mustProvision(t, p, a)
	if err := s.MarkReady(ctx, a.ID, got); err != nil {
		t.Fatal(err)
	}
	if a, _, err = s.Claim(ctx, "basic", "manual:rollout"); err != nil {
		t.Fatal(err)
	}

	// Data written before the upgrade.
	c, err := langflow.New(srv.URL, langflow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Login(ctx, a.OperatorUser, a.OperatorPassword)
	if err != nil {
		t.Fatalf("operator login before: %v", err)
	}
	if _, err := c.CreateUser(ctx, tok, "written-before-the-upgrade", "a-password-0123456789"); err != nil {
		t.Fatal(err)
	}
	ts.mu.Lock()
	before := ts.specs[a.Slug]
	ts.mu.Unlock()

	const newImage = "langflowai/langflow:1.7.0@sha256:" + "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	target := pool.Generation("test", newImage, testTier())
	r, err := s.StartRollout(ctx, pool.RolloutSpec{Tier: "basic", Generation: target, Canary: 1, Batch: 5, MaxUnavailable: 1}, newImage)
	if err != nil {
		t.Fatal(err)
	}
	d, err := control.NewRollouts(control.RolloutConfig{Store: s, Tenants: p, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	r, steps, err := s.Rollout(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != pool.RolloutDone || steps[0].State != pool.StepDone || steps[0].FromImage != testImage || steps[0].ToGeneration != target {
		t.Fatalf("rollout %+v, step %+v", r, steps[0])
	}
	ts.mu.Lock()
	after := ts.specs[a.Slug]
	ts.mu.Unlock()
	if after.Image != newImage || after.VolumeName() != before.VolumeName() || after.Restart == before.Restart {
		t.Fatalf("spec after: image %s, volume %s (was %s): not the new image on the same volume", after.Image, after.VolumeName(), before.VolumeName())
	}
	if img, err := p.Image(ctx, a); err != nil || img != newImage {
		t.Fatalf("the stack's image: %s, %v", img, err)
	}

	// Data read after it.
	tok, err = c.Login(ctx, a.OperatorUser, a.OperatorPassword)
	if err != nil {
		t.Fatalf("operator login after: %v", err)
	}
	if _, err := c.FindUser(ctx, tok, "written-before-the-upgrade"); err != nil {
		t.Fatalf("the data written before the upgrade: %v", err)
	}
	acc, _ := s.Get(ctx, a.ID)
	evs, _ := s.AccountEvents(ctx, a.ID)
	if acc.Generation != target || len(evs) != 1 || evs[0].Kind != pool.EventUpgraded {
		t.Fatalf("account generation %s, events %+v", acc.Generation, evs)
	}

	// The prober's re-apply, a suspension and a resumption keep the image the tenant runs now,
	// not the configured (older) one: only a rolling upgrade changes it.
	if err := p.Reapply(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := p.Suspend(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := p.Resume(ctx, a); err != nil {
		t.Fatal(err)
	}
	ts.mu.Lock()
	kept := ts.specs[a.Slug]
	ts.mu.Unlock()
	if kept.Image != newImage || kept.Suspended {
		t.Fatalf("after re-apply, suspend and resume the tenant runs %s (suspended %v), want %s", kept.Image, kept.Suspended, newImage)
	}
	noSecrets(t, logs.String(), a)
}

// A new image whose update fails on the real engine: the driver re-applies the tenant with the
// image it ran before, the rollout holds, and the data written before is still there.
func TestRolloutRollsBackAFailedTenantWithItsData(t *testing.T) {
	ctx := t.Context()
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	ts := newTenants(t)
	const badImage = "langflowai/langflow:9.9.9@sha256:" + "9999999999999999999999999999999999999999999999999999999999999999"
	p, logs := newProvisioner(t, ts, options{accounts: s.Get, program: func(spec tenant.Spec) pulumi.RunFunc {
		if spec.Image == badImage {
			return func(*pulumi.Context) error { return errBoom }
		}
		return ts.program(spec)
	}})
	created, err := s.CreateAccounts(ctx, "basic", "client", 2)
	if err != nil {
		t.Fatal(err)
	}
	var sold []pool.Account
	for i, a := range created {
		srv := ts.server(a)
		got := mustProvision(t, p, a)
		if err := s.MarkReady(ctx, a.ID, got); err != nil {
			t.Fatal(err)
		}
		if a, _, err = s.Claim(ctx, "basic", "manual:rollback-"+strings.Repeat("x", i+1)); err != nil {
			t.Fatal(err)
		}
		c, _ := langflow.New(srv.URL, langflow.Options{})
		tok, err := c.Login(ctx, a.OperatorUser, a.OperatorPassword)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateUser(ctx, tok, "written-before", "a-password-0123456789"); err != nil {
			t.Fatal(err)
		}
		sold = append(sold, a)
	}
	oldGen := sold[0].Generation
	target := pool.Generation("test", badImage, testTier())
	r, err := s.StartRollout(ctx, pool.RolloutSpec{Tier: "basic", Generation: target, Canary: 1, Batch: 5, MaxUnavailable: 1}, badImage)
	if err != nil {
		t.Fatal(err)
	}
	d, err := control.NewRollouts(control.RolloutConfig{Store: s, Tenants: p, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	r, steps, err := s.Rollout(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != pool.RolloutHeld || steps[0].State != pool.StepFailed || steps[1].State != pool.StepPending || !strings.Contains(r.LastError, "boom") {
		t.Fatalf("rollout %+v, steps %+v", r, steps)
	}
	ts.mu.Lock()
	spec := ts.specs[sold[0].Slug]
	ts.mu.Unlock()
	if spec.Image != testImage {
		t.Fatalf("the canary runs %s after the rollback, want %s", spec.Image, testImage)
	}
	if img, err := p.Image(ctx, sold[0]); err != nil || img != testImage {
		t.Fatalf("the stack's image after the rollback: %s, %v", img, err)
	}
	c, _ := langflow.New(ts.server(sold[0]).URL, langflow.Options{})
	tok, err := c.Login(ctx, sold[0].OperatorUser, sold[0].OperatorPassword)
	if err != nil {
		t.Fatalf("operator login after the rollback: %v", err)
	}
	if _, err := c.FindUser(ctx, tok, "written-before"); err != nil {
		t.Fatalf("the data after the rollback: %v", err)
	}
	acc, _ := s.Get(ctx, sold[0].ID)
	evs, _ := s.AccountEvents(ctx, sold[0].ID)
	if acc.Generation != oldGen || len(evs) != 1 || evs[0].Kind != pool.EventUpgradeFailed || !strings.Contains(evs[0].Detail, "rolled back") {
		t.Fatalf("account generation %s (was %s), events %+v", acc.Generation, oldGen, evs)
	}
	ts.mu.Lock()
	runs := ts.runs[sold[1].Slug]
	ts.mu.Unlock()
	if runs != 1 {
		t.Fatalf("the second tenant's program ran %d times: the held rollout went on", runs)
	}
	noSecrets(t, logs.String(), sold...)
}
