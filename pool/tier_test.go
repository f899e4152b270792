package pool

import (
	"slices"
	"strings"
	"testing"
)

func TestTierPrices(t *testing.T) {
	basic := Tier{Name: "basic", MinReady: 1, MaxTotal: 2, MaxInFlight: 1, MemoryMB: 512, CPUs: 1,
		PriceID: "price_old", Prices: map[string]string{"month": "price_m", "year": "price_y"}}
	if got := basic.PriceIDs(); !slices.Equal(got, []string{"price_m", "price_y", "price_old"}) {
		t.Fatalf("PriceIDs = %v", got)
	}
	if _, err := NewTiers([]Tier{basic}); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		tiers []Tier
		want  string
	}{
		"unknown interval": {[]Tier{with(basic, func(t *Tier) { t.Prices = map[string]string{"week": "price_w"} })}, `unknown interval "week"`},
		"not a price":      {[]Tier{with(basic, func(t *Tier) { t.Prices = map[string]string{"month": "plink_x"} })}, `prices.month "plink_x" is not a Stripe price id`},
		"bad price_id":     {[]Tier{with(basic, func(t *Tier) { t.PriceID = "prod_x" })}, `price_id "prod_x"`},
		"shared price": {[]Tier{basic, with(basic, func(t *Tier) {
			t.Name, t.PriceID, t.Prices = "premium", "", map[string]string{"year": "price_y"}
		})}, "price price_y is given to tiers basic and premium"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewTiers(tc.tiers)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func with(t Tier, f func(*Tier)) Tier {
	f(&t)
	return t
}
