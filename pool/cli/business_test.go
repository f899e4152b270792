package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// poold business prints the figures of the data directory's store, priced by the config file
// (both price forms in one file), as a summary, CSV or JSON.
func TestBusinessCommand(t *testing.T) {
	h := newHarness(t)
	h.env["POOL_CONFIG"] = writeFile(t, "config.yaml", `tiers:
  - {name: basic, min_ready: 0, max_total: 5, max_in_flight: 1, memory_mb: 1024, cpus: 1,
     prices: {month: {id: price_bm, amount_cents: 2900, currency: eur}, year: price_by}}
  - {name: premium, min_ready: 0, max_total: 5, max_in_flight: 1, memory_mb: 2048, cpus: 1,
     prices: {month: {id: price_pm, amount_cents: 9900, currency: eur}}}
`)
	s := storetest.OpenSQLite(t, h.dir, nil)
	ctx := context.Background()
	for i, o := range []store.Order{
		{ID: "cs_1", Tier: "basic", TierKeys: []string{"price_bm"}, SubscriptionID: "sub_1", Seats: 2},
		{ID: "cs_2", Tier: "premium", TierKeys: []string{"price_pm"}, SubscriptionID: "sub_2"},
		{ID: "cs_3", Tier: "basic", TierKeys: []string{"price_by"}, SubscriptionID: "sub_3"}, // no amount configured
	} {
		o.CustomerEmail = o.ID + "@example.test"
		if _, err := s.AddPendingOrder(ctx, o, "evt_"+string(rune('a'+i)), "checkout.session.completed", "client"); err != nil {
			t.Fatal(err)
		}
	}

	out := h.mustRun("business")
	for _, want := range []string{"MRR                     157.00 EUR", "ARR                     1,884.00 EUR",
		"3 (4 seats, 0 past due)", "1 unpriced", "premium  month     1              1      99.00 EUR  1,188.00 EUR"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	csv := h.mustRun("business", "--csv")
	for _, want := range []string{"figure,tier,interval,period,value\n", "\nmrr_cents,,,,15700\n", "\nmrr_cents,basic,month,,5800\n", "\nunpriced,,,,1\n"} {
		if !strings.Contains(csv, want) {
			t.Errorf("CSV lacks %q:\n%s", want, csv)
		}
	}
	var r struct {
		MRR  int64  `json:"mrr_cents"`
		Cur  string `json:"currency"`
		Subs int    `json:"active_subscriptions"`
	}
	if err := json.Unmarshal([]byte(h.mustRun("business", "--json")), &r); err != nil || r.MRR != 15700 || r.Cur != "eur" || r.Subs != 3 {
		t.Errorf("JSON = %+v, %v", r, err)
	}
	if _, err := h.run(ctx, "business", "--csv", "--json"); err == nil || !strings.Contains(err.Error(), "choose one") {
		t.Errorf("--csv --json: %v, want refused", err)
	}
}
