package cli_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics into name{labels} → value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Histogram != nil:
				out[key+"_count"] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

func TestMetricsAfterBatchAndClaims(t *testing.T) {
	h := newHarness(t)
	cfg := filepath.Join(t.TempDir(), "poold.yaml")
	os.WriteFile(cfg, []byte(`tiers:
  - {name: basic, min_ready: 0, max_total: 10, max_in_flight: 2, memory_mb: 512, cpus: 1}
  - {name: premium, min_ready: 0, max_total: 5, max_in_flight: 1, memory_mb: 1024, cpus: 1}
`), 0o600)
	h.env["POOL_CONFIG"] = cfg
	addr, stop := h.serve(func(st map[string]string) bool { return st["reconciler"] == "leading" }, "--reconcile-schedule", "@every 1s")
	// The batch runs in this process (the CLI), provisioned by the daemon.
	h.mustRun("batch", "create", "--count", "4", "--tier", "basic")
	for i := range 3 {
		h.mustRun("claim", "--order", fmt.Sprintf("m-%d", i), "--tier", "basic")
	}
	h.mustRun("retire", "client04")
	h.mustRun("pause", "premium")

	got := scrape(t, addr)
	want := map[string]float64{
		`tenantpool_accounts{state=claimed,tier=basic}`:           3,
		`tenantpool_accounts{state=ready,tier=basic}`:             0,
		`tenantpool_accounts{state=retired,tier=basic}`:           1,
		`tenantpool_accounts{state=ready,tier=premium}`:           0,
		`tenantpool_provisioned_total{tier=basic}`:                4,
		`tenantpool_claims_total{tier=basic}`:                     3,
		`tenantpool_provision_failures_total{tier=basic}`:         0,
		`tenantpool_tier_desired_ready{tier=basic}`:               0,
		`tenantpool_tier_max_total{tier=basic}`:                   10,
		`tenantpool_tier_paused{tier=premium}`:                    1,
		`tenantpool_tier_paused{tier=basic}`:                      0,
		`tenantpool_tier_hard_limited{tier=basic}`:                0,
		`tenantpool_reconcile_leader`:                             1,
		`tenantpool_provision_duration_seconds{tier=basic}_count`: 4, // provisioned in the daemon
		`tenantpool_orders_total`:                                 0,
		`tenantpool_emails_sent_total`:                            0,
		`tenantpool_scrape_errors_total`:                          0,
		`tenantpool_orders{state=pending}`:                        0,
		`tenantpool_provision_attempt_failures_total{tier=basic}`: -1, // absent until a failure
		`tenantpool_claim_duration_seconds{tier=basic}_count`:     -1, // claims ran in other processes
		// The capacity signal: 3 sales within the last hour; basic is fixed at min_ready 0.
		`tenantpool_tier_ready_target{tier=basic}`:   0,
		`tenantpool_tier_sales_per_hour{tier=basic}`: 3,
		`tenantpool_refill_short{tier=basic}`:        0,
		`tenantpool_hosts_free_places`:               -1, // the provisioner double has no hosts: unknown
	}
	for k, v := range want {
		g, ok := got[k]
		if v == -1 {
			if ok {
				t.Errorf("%s = %v, want absent", k, g)
			}
			continue
		}
		if !ok || g != v {
			t.Errorf("%s = %v (present %t), want %v", k, g, ok, v)
		}
	}
	if t.Failed() {
		t.Logf("scrape: %v", got)
	}
	stop()
}
