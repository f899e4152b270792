package admin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/business"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// GET /admin/v1/business answers the report as JSON, business.csv the same figures as CSV; both
// need the token, and a daemon without the figures answers 503.
func TestBusinessFigures(t *testing.T) {
	clk := quartz.NewMock(t)
	clk.Set(time.Date(2026, 12, 15, 12, 0, 0, 0, time.UTC))
	s := storetest.OpenSQLite(t, t.TempDir(), clk)
	ts, err := pool.NewTiers([]pool.Tier{{Name: "basic", MinReady: 0, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 1024, CPUs: 1,
		Prices: map[string]pool.Price{"month": {ID: "price_bm", AmountCents: 2900, Currency: "usd"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddPendingOrder(context.Background(), store.Order{ID: "cs_1", Tier: "basic", TierKeys: []string{"price_bm"},
		CustomerEmail: "a@example.test", SubscriptionID: "sub_1", Seats: 2}, "evt_1", "checkout.session.completed", "client"); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, s, func(c *admin.Config) { c.Tiers, c.Business = ts, business.New(s, ts, clk) })

	wantCode(t, e.do(http.MethodGet, "/admin/v1/business", "", ""), http.StatusUnauthorized)
	w := e.do(http.MethodGet, "/admin/v1/business", tokenA, "")
	wantCode(t, w, http.StatusOK)
	r := decodeJSON[business.Report](t, w)
	if r.MRRCents != 5800 || r.Subscriptions != 1 || r.Seats != 2 || r.Currency != "usd" || len(r.Monthly) != 12 {
		t.Errorf("report = %+v", r)
	}

	w = e.do(http.MethodGet, "/admin/v1/business.csv", tokenA, "")
	wantCode(t, w, http.StatusOK)
	if ct := w.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename="poold-business-2026-12-15.csv"` {
		t.Errorf("Content-Disposition = %q", cd)
	}
	body := w.Body.String()
	for _, want := range []string{"figure,tier,interval,period,value\n", "\nmrr_cents,,,,5800\n", "\nmrr_cents,basic,month,,5800\n", "\nmrr_cents,,,2026-12,5800\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("CSV lacks %q:\n%s", want, body)
		}
	}
	wantCode(t, e.do(http.MethodPost, "/admin/v1/business", tokenA, "{}"), http.StatusMethodNotAllowed)

	off := newEnv(t, s, func(c *admin.Config) { c.Tiers = ts })
	wantCode(t, off.do(http.MethodGet, "/admin/v1/business", tokenA, ""), http.StatusServiceUnavailable)
	wantCode(t, off.do(http.MethodGet, "/admin/v1/business.csv", tokenA, ""), http.StatusServiceUnavailable)
}
