package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// /admin/v1/upgrades: a start is refused (and records nothing) for an unknown, stale or other
// tier's generation, bad numbers, a bad window or a body with unknown fields; a good one is 201
// with the upgrade and its steps, canary first; a second is 409; pause, resume and abort follow
// the rollout's states (409 otherwise), unknown ids are 404, and every route needs the token.
func TestUpgradesAPI(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	var passes int
	e := newEnv(t, s, func(c *admin.Config) { c.Rollouts = func() { passes++ } })
	ctx := context.Background()
	as := seedReady(t, s, "basic", 3)
	for i := range as {
		if _, _, err := s.Claim(ctx, "basic", fmt.Sprintf("manual:u%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	img := "langflow@sha256:" + strings.Repeat("c", 64)
	e.tenants.SetImage(img)
	ts := tiers(t)
	current := pool.Generation("test", img, ts["basic"])

	for body, code := range map[string]int{
		`{"to":"gdeadbeefdeadbeef"}`:                           http.StatusBadRequest,
		`{"to":"test"}`:                                        http.StatusBadRequest, // the old generation
		fmt.Sprintf(`{"to":%q,"tier":"premium"}`, current):     http.StatusBadRequest,
		fmt.Sprintf(`{"to":%q,"tier":"gold"}`, current):        http.StatusBadRequest,
		fmt.Sprintf(`{"to":%q,"batch":0}`, current):            http.StatusBadRequest,
		fmt.Sprintf(`{"to":%q,"window":"Sun 2-5"}`, current):   http.StatusBadRequest,
		fmt.Sprintf(`{"to":%q,"force":true}`, current):         http.StatusBadRequest,
		fmt.Sprintf(`{"to":%q,"max_unavailable":-1}`, current): http.StatusBadRequest,
	} {
		w := e.do("POST", "/admin/v1/upgrades", tokenA, body)
		wantCode(t, w, code)
	}
	if id, _ := s.ActiveRollout(ctx); id != 0 || passes != 0 {
		t.Fatalf("a refused start recorded rollout %d (%d passes)", id, passes)
	}
	if w := e.do("POST", "/admin/v1/upgrades", "", fmt.Sprintf(`{"to":%q}`, current)); w.Code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", w.Code)
	}

	w := e.do("POST", "/admin/v1/upgrades", tokenA, fmt.Sprintf(`{"to":%q,"batch":2,"window":"Sat,Sun 22:00-04:00 Europe/Berlin"}`, current))
	wantCode(t, w, http.StatusCreated)
	u := decodeJSON[admin.Upgrade](t, w)
	if u.Tier != "basic" || u.Image != img || u.Total != 3 || u.Canary != 1 || u.MaxUnavailable != 1 || u.State != pool.RolloutRunning ||
		len(u.Steps) != 3 || u.Steps[0].Batch != 0 || u.Steps[1].Batch != 1 || u.Steps[2].Batch != 1 || passes != 1 {
		t.Fatalf("started %+v (%d passes)", u, passes)
	}
	if u.WindowOpen != u.NextWindow.IsZero() {
		t.Fatalf("window open %v, next %v", u.WindowOpen, u.NextWindow)
	}
	wantCode(t, e.do("POST", "/admin/v1/upgrades", tokenA, fmt.Sprintf(`{"to":%q}`, current)), http.StatusConflict)

	path := fmt.Sprintf("/admin/v1/upgrades/%d", u.ID)
	wantCode(t, e.do("POST", path+"/resume", tokenA, ""), http.StatusConflict)
	wantCode(t, e.do("POST", path+"/pause", tokenA, ""), http.StatusOK)
	wantCode(t, e.do("POST", path+"/pause", tokenA, ""), http.StatusConflict)
	w = e.do("POST", path+"/resume", tokenA, "")
	wantCode(t, w, http.StatusOK)
	if got := decodeJSON[admin.Upgrade](t, w); got.State != pool.RolloutRunning || passes != 3 {
		t.Fatalf("resumed %+v (%d passes)", got.Rollout, passes)
	}
	w = e.do("POST", path+"/abort", tokenA, "")
	wantCode(t, w, http.StatusOK)
	if got := decodeJSON[admin.Upgrade](t, w); got.State != pool.RolloutAborted || got.Skipped != 3 {
		t.Fatalf("aborted %+v", got.Rollout)
	}
	w = e.do("GET", "/admin/v1/upgrades", tokenA, "")
	wantCode(t, w, http.StatusOK)
	if l := decodeJSON[admin.Upgrades](t, w); l.Active != 0 || len(l.Upgrades) != 1 || l.Upgrades[0].ID != u.ID {
		t.Fatalf("list %+v", l)
	}
	wantCode(t, e.do("GET", "/admin/v1/upgrades/999", tokenA, ""), http.StatusNotFound)
	wantCode(t, e.do("GET", "/admin/v1/upgrades/x", tokenA, ""), http.StatusNotFound)
	wantCode(t, e.do("POST", "/admin/v1/upgrades/999/pause", tokenA, ""), http.StatusNotFound)
}
