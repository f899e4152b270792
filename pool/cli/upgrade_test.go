package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/infra/tenant"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/pooltest"
)

// upgradeStatus reads `poold upgrade status --json`.
func (h *harness) upgradeStatus(args ...string) admin.Upgrade {
	h.t.Helper()
	var u admin.Upgrade
	if err := json.Unmarshal([]byte(h.mustRun(append([]string{"upgrade", "status", "--json"}, args...)...)), &u); err != nil {
		h.t.Fatal(err)
	}
	return u
}

// GIVEN sold tenants and a new image WHEN the operator runs `poold upgrade` THEN bad input is
// refused and records nothing; a rollout outside its window waits and shows when it opens;
// pause and abort follow their rules; and a rollout started through the admin API of a running
// daemon upgrades every sold tenant, canary first, as `upgrade status` shows.
func TestUpgradeCommands(t *testing.T) {
	h := newHarness(t)
	const token = "a-long-enough-admin-token-0123456789XYZ"
	h.env["POOL_ADMIN_TOKEN"] = token
	oldImage, newImage := "langflow@sha256:"+strings.Repeat("a", 64), "langflow@sha256:"+strings.Repeat("b", 64)
	h.prov.SetImage(oldImage)
	h.mustRun("batch", "create", "--count", "3")
	slugs := []string{h.claimed("m-1"), h.claimed("m-2"), h.claimed("m-3")}
	h.prov.SetImage(newImage)
	tiers, _ := pool.NewTiers(pool.DefaultTiers())
	gen := h.prov.Build(tiers["basic"]).Generation

	if _, err := h.run(context.Background(), "upgrade", "status"); err == nil || !strings.Contains(err.Error(), "no active rolling upgrade") {
		t.Fatalf("status without any: %v", err)
	}
	for args, want := range map[string]string{
		"upgrade start":                                      "--to",
		"upgrade start --to gdeadbeef":                       "not a current generation",
		"upgrade start --to " + gen + " --tier premium":      "not a current generation",
		"upgrade start --to " + gen + " --tier gold":         "unknown tier",
		"upgrade start --to " + gen + " --batch 0":           "batch 0",
		"upgrade start --to " + gen + " --max-unavailable 0": "max-unavailable 0",
		"upgrade start --to " + gen + " --window Sun":        "no time range",
	} {
		if _, err := h.run(context.Background(), strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("poold %s: %v, want %q", args, err, want)
		}
	}

	// Outside its window: waits, shows when it opens; pause, abort.
	closed := time.Now().UTC().AddDate(0, 0, 3).Weekday().String()[:3] + " 00:00-00:01"
	out := h.mustRun("upgrade", "start", "--to", gen, "--window", closed)
	if !strings.Contains(out, "3 tenants of tier basic to "+gen) {
		t.Fatalf("start: %q", out)
	}
	if _, err := h.run(context.Background(), "upgrade", "start", "--to", gen); err == nil || !strings.Contains(err.Error(), "already active") {
		t.Fatalf("a second rollout: %v", err)
	}
	text := h.mustRun("upgrade", "status")
	for _, want := range []string{"state:     running", "0/3 done", "closed; opens", slugs[0], "canary"} {
		if !strings.Contains(text, want) {
			t.Fatalf("status lacks %q:\n%s", want, text)
		}
	}
	if out := h.mustRun("status"); !strings.Contains(out, "rolling upgrade 1 of tier basic to "+gen+": running, 0/3 done") {
		t.Fatalf("status does not show the active rolling upgrade:\n%s", out)
	}
	if out := h.mustRun("upgrade", "pause"); !strings.Contains(out, "paused") {
		t.Fatalf("pause: %q", out)
	}
	if _, err := h.run(context.Background(), "upgrade", "pause"); err == nil || !strings.Contains(err.Error(), "cannot pause") {
		t.Fatalf("pause twice: %v", err)
	}
	h.mustRun("upgrade", "abort")
	if u := h.upgradeStatus(); u.State != pool.RolloutAborted || u.Skipped != 3 || h.prov.Reimaged(slugs[0]) != 0 {
		t.Fatalf("after abort: %+v", u)
	}

	// A running daemon drives a rollout started through its admin API.
	addr, stop := h.serve(func(st map[string]string) bool { return st["reconciler"] == "leading" })
	defer stop()
	body := fmt.Sprintf(`{"to":%q,"canary":1,"batch":2}`, gen)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/admin/v1/upgrades", bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var started admin.Upgrade
	json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || started.Total != 3 || started.Generation != gen {
		t.Fatalf("POST /admin/v1/upgrades: %d %+v", resp.StatusCode, started)
	}
	deadline := time.Now().Add(30 * time.Second)
	for h.upgradeStatus().State != pool.RolloutDone {
		if time.Now().After(deadline) {
			t.Fatalf("rollout not done: %+v\n%s", h.upgradeStatus(), h.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	u := h.upgradeStatus()
	if u.ID != started.ID || u.Done != 3 || u.Steps[0].Batch != 0 {
		t.Fatalf("done: %+v", u)
	}
	for _, slug := range slugs {
		if a := h.account(slug); a.Generation != gen || h.prov.Reimaged(slug) != 1 {
			t.Fatalf("%s: generation %s, re-imaged %d times", slug, a.Generation, h.prov.Reimaged(slug))
		}
	}
	if strings.Contains(h.logs.String(), "Bearer") || strings.Contains(h.logs.String(), token) {
		t.Fatal("the token reached the logs")
	}
}

// With the production provisioner, `upgrade start` knows the current generation from the
// daemon's provisioning settings (POOL_LANGFLOW_IMAGE and the tenant program's version) without
// reaching any platform, and says what to set without them.
func TestUpgradeStartWithTheDaemonsSettings(t *testing.T) {
	h := newHarness(t)
	h.real = true
	h.env["TENANTPOOL_PULUMI"] = pooltest.PulumiCLI(t)
	tiers, _ := pool.NewTiers(pool.DefaultTiers())
	gen := pool.Generation(tenant.ProgramVersion, tenantImage, tiers["basic"])
	if _, err := h.run(context.Background(), "upgrade", "start", "--to", gen); err == nil || !strings.Contains(err.Error(), "POOL_LANGFLOW_IMAGE") {
		t.Fatalf("without an image: %v", err)
	}
	h.env["POOL_LANGFLOW_IMAGE"] = tenantImage
	if _, err := h.run(context.Background(), "upgrade", "start", "--to", "g0000000000000000"); err == nil || !strings.Contains(err.Error(), "basic "+gen) {
		t.Fatalf("unknown generation: %v, want the current ones named", err)
	}
	if _, err := h.run(context.Background(), "upgrade", "start", "--to", gen); err == nil || !strings.Contains(err.Error(), "nothing to upgrade") {
		t.Fatalf("no sold tenant: %v", err)
	}
}
