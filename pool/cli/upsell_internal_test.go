package cli

import (
	"testing"

	"github.com/axiestudio/tenantpool/pool"
)

// The Basic customers' upgrade link: POOL_UPSELL_URL wins; else the storefront's /buy/<tier>
// Buy button of the smallest tier with custom domains on the pricing page; else none.
func TestUpsellURL(t *testing.T) {
	tiers, err := pool.NewTiers(pool.DefaultTiers())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"POOL_UPSELL_URL": "https://example.test/up", "POOL_PUBLIC_URL": "https://shop.example.test"}, "https://example.test/up"},
		{map[string]string{"POOL_PUBLIC_URL": "https://shop.example.test/"}, "https://shop.example.test/pricing#tp-tier-premium"},
		{map[string]string{}, ""},
	} {
		e := &Env{Tiers: tiers, Getenv: func(k string) string { return tc.env[k] }}
		if got := e.upsellURL(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.env, got, tc.want)
		}
	}
	env := map[string]string{"POOL_PUBLIC_URL": "https://shop.example.test"}
	e := &Env{Tiers: pool.Tiers{"basic": {Name: "basic"}}, Getenv: func(k string) string { return env[k] }}
	if got := e.upsellURL(); got != "" {
		t.Errorf("no tier with domains: %q", got)
	}
}
