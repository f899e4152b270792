package admin_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// GET /admin/v1/generations counts the live accounts per tier and generation, marks the
// current one, and lists the reserved accounts of an older generation.
func TestGenerations(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	e := newEnv(t, s, nil)
	ctx := context.Background()
	seedReady(t, s, "basic", 3) // generation "test", the double's current one
	if _, err := s.Reserve(ctx, "basic", 1, func([]pool.Account) error { return nil }); err != nil {
		t.Fatal(err)
	}
	img := "langflow@sha256:" + "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	e.tenants.SetImage(img)
	current := pool.Generation("test", img, tiers(t)["basic"])

	w := e.do("GET", "/admin/v1/generations", tokenA, "")
	wantCode(t, w, http.StatusOK)
	got := decodeJSON[admin.Generations](t, w)
	if len(got.Generations) != 1 {
		t.Fatalf("generations = %+v, want one", got.Generations)
	}
	g := got.Generations[0]
	if g.Tier != "basic" || g.Generation != "test" || g.Current || g.Total != 3 || g.Counts["ready"] != 2 || g.Counts["reserved"] != 1 {
		t.Fatalf("row = %+v, want basic/test, not current, 2 ready + 1 reserved", g)
	}
	if got.Current["basic"] != current {
		t.Fatalf("current = %v, want basic %s", got.Current, current)
	}
	if len(got.StaleReserved) != 1 || got.StaleReserved[0].State != "reserved" {
		t.Fatalf("stale reserved = %+v, want the reserved account", got.StaleReserved)
	}
}
