package cli_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/delivery/mailpittest"
)

// The daemon probes sold tenants: the double's tenants have no server behind their URLs, so
// every probe fails; after the threshold the tenant is re-applied, still failing it is flagged,
// the operator gets one e-mail and /metrics shows it.
func TestServeProbesSoldTenantsAndAlertsTheOperator(t *testing.T) {
	mp := mailpittest.Start(t)
	h := newHarness(t)
	h.env["POOL_OPERATOR_EMAIL"] = "ops@example.test"
	h.env["POOL_SMTP_HOST"] = mp.SMTPHost
	h.env["POOL_SMTP_PORT"] = strconv.Itoa(mp.SMTPPort)
	h.env["POOL_SMTP_TLS"] = "none"
	h.env["POOL_SMTP_FROM"] = "Pool <pool@example.test>"
	h.mustRun("batch", "create", "--count", "1", "--tier", "basic")
	h.mustRun("claim", "--order", "probe-1", "--tier", "basic")

	addr, stop := h.serve(nil, "--probe-schedule", "@every 1s", "--probe-threshold", "1", "--probe-timeout", "1s",
		"--reconcile-schedule", "@every 1h")
	deadline := time.Now().Add(60 * time.Second)
	var got map[string]float64
	// The flag is in the database first, then counted in this process: wait for both.
	for got["tenantpool_accounts_flagged"] != 1 || got["tenantpool_probe_events_total{kind=flagged}"] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("tenant never flagged; metrics %v\n%s", got, h.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
		got = scrape(t, addr)
	}
	if h.prov.Reapplied("client01") < 1 || got["tenantpool_probe_events_total{kind=reapplied}"] < 1 {
		t.Fatalf("re-applied %d times; events %v", h.prov.Reapplied("client01"), got)
	}
	var alerts []mailpittest.Message
	for time.Now().Before(deadline) {
		if alerts = mp.Messages(t); len(alerts) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(alerts) != 1 || alerts[0].To[0].Address != "ops@example.test" || !strings.Contains(alerts[0].Text, "client01") {
		t.Fatalf("operator alerts = %+v", alerts)
	}
	time.Sleep(2 * time.Second) // more failing probes: still one flag, one e-mail
	if n := len(mp.Messages(t)); n != 1 {
		t.Fatalf("%d operator e-mails, want 1 per flag", n)
	}
	stop()
}
