package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// poold status shows every tier's ready target and why (auto from the sales and the measured
// provisioning time), whether its pool can be refilled within refill_within, and when the
// configured hosts run out.
func TestStatusShowsTargetsAndCapacity(t *testing.T) {
	h := newHarness(t)
	h.env["POOL_CONFIG"] = writeFile(t, "config.yaml", `tiers:
  - {name: basic, ready: auto, auto: {stockout: 0.06}, min_ready: 1, max_total: 30, max_in_flight: 2, memory_mb: 1024, cpus: 1, refill_within: 30m}
  - {name: premium, min_ready: 2, max_total: 5, max_in_flight: 1, memory_mb: 2048, cpus: 1}
hosts:
  - {name: a, dockerUrl: "ssh://deploy@203.0.113.1", address: 203.0.113.1, capacity: 10, network: tenantpool-tenants, wildcardTarget: true}
`)
	// 6 basic accounts made 40 minutes ago on host a, ready 30 minutes later; 4 sold since.
	ctx := context.Background()
	clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger)
	clock.Set(time.Now().Add(-40 * time.Minute))
	s := storetest.OpenSQLite(t, h.dir, clock)
	as, err := s.CreateAccountsFrom(ctx, pool.OriginPool, "basic", "client", 6)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Minute)
	for _, a := range as {
		if err := s.MarkReady(ctx, a.ID, pool.Provisioned{Host: "a", URL: "https://" + a.Slug + ".example.test"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		if _, _, err := s.Claim(ctx, "basic", fmt.Sprintf("order-%d", i)); err != nil {
			t.Fatal(err)
		}
	}

	var rows []admin.TierStatus
	if err := json.Unmarshal([]byte(h.mustRun("status", "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	// basic: 4 sales/h (last 1h) × 0.5 h = 2 in the making: target 5 for ≤ 6 % stock-outs
	// (P(N ≥ 5) = 5.3 %, P(N ≥ 4) = 14 %); 2 ready, 3 missing, 2 at a time: 2 × 30 min > 30 min.
	b, p := rows[0], rows[1]
	if b.Tier != "basic" || b.ReadyTarget != 5 || !b.Auto || !b.RefillShort || b.RefillEstimateSeconds != 3600 ||
		b.TargetWhy != "target 5: 4.0 sales/h (last 1h) × 0.5 h mean provisioning = 2.0 + 3 margin (stock-outs ≤ 6 %)" {
		t.Fatalf("basic %+v", b)
	}
	if p.Tier != "premium" || p.ReadyTarget != 2 || p.Auto || p.RefillShort || p.RefillWhy != "2 missing; no provisioning time measured yet" {
		t.Fatalf("premium %+v", p)
	}
	out := h.mustRun("status")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^basic\s+2/5\s+30\s+0/2\s+4\s`),
		regexp.MustCompile(`(?m)^premium\s+0/2\s+5\s`),
		regexp.MustCompile(`(?m)^basic\s+target 5: 4\.0 sales/h \(last 1h\) × 0\.5 h mean provisioning = 2\.0 \+ 3 margin \(stock-outs ≤ 6 %\); CANNOT REFILL within 30m: refill takes ~1h \(3 missing, 2 at a time, 30m p95 each\) > refill_within 30m$`),
		regexp.MustCompile(`(?m)^premium\s+target 2: min_ready \(fixed\); 2 missing; no provisioning time measured yet$`),
		// host a holds 6 (2 ready, 4 sold): 4 of 10 free, the pools need 3 + 2.
		regexp.MustCompile(`(?m)^hosts: 4 of 10 places free: not enough for the pools' refill$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("status lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "capacity unknown") {
		t.Fatalf("hosts are configured:\n%s", out)
	}
}
