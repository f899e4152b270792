package admin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

func countJobs(t *testing.T, s *store.Store, kind string) int {
	t.Helper()
	var n int
	q := `SELECT COUNT(*) FROM river_job WHERE kind = ?`
	if s.Postgres() {
		q = `SELECT COUNT(*) FROM river_job WHERE kind = $1`
	}
	if err := s.DB().QueryRowContext(context.Background(), q, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// PUT /admin/v1/accounts/{account}/brand saves a premium account's brand and enqueues its
// tenant's re-apply; a basic account, bad values and unknown accounts are refused and change
// nothing; GET shows it; POST /admin/v1/tiers/{tier}/flows enqueues the starter flows' import.
func TestBrandAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		e := newEnv(t, s, nil)
		seedReady(t, s, "premium", 1)
		seedReady(t, s, "basic", 2)
		prem, _, err := s.Claim(context.Background(), "premium", "order-1")
		if err != nil {
			t.Fatal(err)
		}
		basic, err := s.List(context.Background(), store.Filter{Tier: "basic"})
		if err != nil {
			t.Fatal(err)
		}

		w := e.do(http.MethodPut, "/admin/v1/accounts/"+prem.Slug+"/brand", tokenA, `{"name":"Acme Flows","logo":"https://cdn.acme.example/l.svg","color":"#FF6600"}`)
		wantCode(t, w, http.StatusOK)
		v := decodeJSON[admin.BrandView](t, w)
		if !v.Reapply || v.Brand != (pool.Brand{Name: "Acme Flows", Logo: "https://cdn.acme.example/l.svg", Color: "#ff6600"}) {
			t.Fatalf("saved %+v", v)
		}
		if n := countJobs(t, s, jobs.ReapplyArgs{}.Kind()); n != 1 {
			t.Fatalf("%d re-apply jobs, want 1", n)
		}
		w = e.do(http.MethodGet, "/admin/v1/accounts/"+prem.Slug+"/brand", tokenA, "")
		wantCode(t, w, http.StatusOK)
		if got := decodeJSON[admin.BrandView](t, w); got.Brand.Name != "Acme Flows" || got.Tier != "premium" {
			t.Fatalf("GET %+v", got)
		}

		for name, c := range map[string]struct {
			path, body string
			code       int
			want       string
		}{
			"basic tier":  {"/admin/v1/accounts/" + basic[0].Slug + "/brand", `{"name":"X"}`, http.StatusBadRequest, "does not include branding"},
			"bad colour":  {"/admin/v1/accounts/" + prem.Slug + "/brand", `{"color":"orange"}`, http.StatusBadRequest, "#rrggbb"},
			"script logo": {"/admin/v1/accounts/" + prem.Slug + "/brand", `{"logo":"javascript:alert(1)"}`, http.StatusBadRequest, "https URL"},
			"unknown key": {"/admin/v1/accounts/" + prem.Slug + "/brand", `{"title":"X"}`, http.StatusBadRequest, "unknown field"},
			"no account":  {"/admin/v1/accounts/nobody99/brand", `{"name":"X"}`, http.StatusNotFound, "not found"},
		} {
			w := e.do(http.MethodPut, c.path, tokenA, c.body)
			if w.Code != c.code || !strings.Contains(w.Body.String(), c.want) {
				t.Errorf("%s: %d %s, want %d with %q", name, w.Code, w.Body, c.code, c.want)
			}
		}
		if n := countJobs(t, s, jobs.ReapplyArgs{}.Kind()); n != 1 {
			t.Fatalf("refused saves enqueued re-applies: %d", n)
		}
		if b, _ := s.Brand(context.Background(), prem.ID); b.Name != "Acme Flows" {
			t.Fatalf("a refused save changed the brand: %+v", b)
		}
		wantCode(t, e.do(http.MethodPut, "/admin/v1/accounts/"+prem.Slug+"/brand", "", `{"name":"X"}`), http.StatusUnauthorized)

		w = e.do(http.MethodPost, "/admin/v1/tiers/basic/flows", tokenA, "")
		wantCode(t, w, http.StatusAccepted)
		if got := decodeJSON[map[string]any](t, w); got["enqueued"] != float64(2) {
			t.Fatalf("flows: %v", got)
		}
		wantCode(t, e.do(http.MethodPost, "/admin/v1/tiers/gold/flows", tokenA, ""), http.StatusBadRequest)
	})
}
