package pool

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestTierLimitsDefaultsAndValidation(t *testing.T) {
	ok := Tier{Name: "basic", MinReady: 1, MaxTotal: 2, MaxInFlight: 1, MemoryMB: 512, CPUs: 1.5}
	// GIVEN a tier that says nothing about limits THEN every limit that must exist has its default.
	got := ok.Effective()
	want := Limits{PidsLimit: DefaultPidsLimit, NoFile: DefaultNoFile, TmpMB: DefaultTmpMB, CPUWeight: 1536, IOWeight: DefaultIOWeight}
	if got != want {
		t.Errorf("effective limits %+v, want %+v", got, want)
	}
	if ok.SizesStorage() {
		t.Error("a tier without sizes sizes storage")
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, d := range DefaultTiers() {
		if err := d.Validate(); err != nil {
			t.Errorf("default tier %s: %v", d.Name, err)
		}
		if d.PidsLimit == 0 || d.NoFile == 0 || d.IOWeight == 0 {
			t.Errorf("default tier %s leaves a limit to the global default: %+v", d.Name, d.Limits)
		}
	}

	bad := []struct {
		name   string
		mutate func(*Tier)
		want   string
	}{
		{"pids too low", func(t *Tier) { t.PidsLimit = 10 }, "pids_limit 10 must be between 64"},
		{"pids negative", func(t *Tier) { t.PidsLimit = -1 }, "pids_limit -1"},
		{"nofile too low", func(t *Tier) { t.NoFile = 100 }, "nofile 100 must be between 1024"},
		{"nofile too high", func(t *Tier) { t.NoFile = 1 << 21 }, "nofile 2097152"},
		{"nproc below pids", func(t *Tier) { t.NProc = 100 }, "nproc 100 must be 0 (unset) or at least the pids limit 512"},
		{"disk tiny", func(t *Tier) { t.DiskMB = 10 }, "disk_mb 10 must be 0 (no quota) or at least 512"},
		{"volume negative", func(t *Tier) { t.VolumeMB = -5 }, "volume_mb -5"},
		{"tmp above memory", func(t *Tier) { t.TmpMB = 600 }, "tmp_mb 600 must be positive and below memory_mb 512"},
		{"cpu weight", func(t *Tier) { t.CPUWeight = 1 }, "cpu_weight 1 must be between 2 and 262144"},
		{"io weight", func(t *Tier) { t.IOWeight = 5000 }, "io_weight 5000 must be between 10 and 1000"},
	}
	for _, c := range bad {
		tt := ok
		c.mutate(&tt)
		err := tt.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}

	sized := ok
	sized.VolumeMB = 1024
	if !sized.SizesStorage() {
		t.Error("a tier with a volume size does not size storage")
	}
}

func TestTierLimitsFromYAML(t *testing.T) {
	const doc = `
name: basic
min_ready: 1
max_total: 2
max_in_flight: 1
memory_mb: 1024
cpus: 1
pids_limit: 300
nofile: 2048
nproc: 4000
disk_mb: 2048
volume_mb: 4096
tmp_mb: 64
cpu_weight: 512
io_weight: 200
`
	var tr Tier
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&tr); err != nil {
		t.Fatal(err)
	}
	want := Limits{PidsLimit: 300, NoFile: 2048, NProc: 4000, DiskMB: 2048, VolumeMB: 4096, TmpMB: 64, CPUWeight: 512, IOWeight: 200}
	if tr.Limits != want {
		t.Errorf("limits %+v, want %+v", tr.Limits, want)
	}
	if err := tr.Validate(); err != nil {
		t.Error(err)
	}
	dec = yaml.NewDecoder(strings.NewReader(doc + "pid_limit: 5\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&tr); err == nil || !strings.Contains(err.Error(), "pid_limit") {
		t.Errorf("a misspelt limit key: %v, want an error naming it", err)
	}
}

func TestTierPrices(t *testing.T) {
	basic := Tier{Name: "basic", MinReady: 1, MaxTotal: 2, MaxInFlight: 1, MemoryMB: 512, CPUs: 1,
		PriceID: "price_old", Prices: map[string]Price{"month": {ID: "price_m"}, "year": {ID: "price_y"}}}
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
		"unknown interval": {[]Tier{with(basic, func(t *Tier) { t.Prices = map[string]Price{"week": {ID: "price_w"}} })}, `unknown interval "week"`},
		"not a price":      {[]Tier{with(basic, func(t *Tier) { t.Prices = map[string]Price{"month": {ID: "plink_x"}} })}, `prices.month "plink_x" is not a Stripe price id`},
		"amount without currency": {[]Tier{with(basic, func(t *Tier) { t.Prices = map[string]Price{"month": {ID: "price_m", AmountCents: 100}} })},
			`prices.month: currency "" must be a three-letter ISO code`},
		"currency without amount": {[]Tier{with(basic, func(t *Tier) { t.Prices = map[string]Price{"month": {ID: "price_m", Currency: "usd"}} })},
			"a currency without amount_cents"},
		"negative amount": {[]Tier{with(basic, func(t *Tier) { t.Prices = map[string]Price{"month": {ID: "price_m", AmountCents: -1, Currency: "usd"}} })},
			"amount_cents -1 must be positive"},
		"two currencies": {[]Tier{with(basic, func(t *Tier) {
			t.Prices = map[string]Price{"month": {ID: "price_m", AmountCents: 100, Currency: "usd"}, "year": {ID: "price_y", AmountCents: 1000, Currency: "eur"}}
		})}, "every amount must be in one currency"},
		"bad price_id": {[]Tier{with(basic, func(t *Tier) { t.PriceID = "prod_x" })}, `price_id "prod_x"`},
		"shared price": {[]Tier{basic, with(basic, func(t *Tier) {
			t.Name, t.PriceID, t.Prices = "premium", "", map[string]Price{"year": {ID: "price_y"}}
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

// A tier's prices are read in both forms: the id alone (older configs) and the mapping with
// an amount; JSON round-trips both, and unknown keys in the mapping are errors.
func TestTierPricesBothForms(t *testing.T) {
	doc := `name: basic
min_ready: 1
max_total: 2
max_in_flight: 1
memory_mb: 512
cpus: 1
prices:
  month: price_m
  year: {id: price_y, amount_cents: 29000, currency: usd}
`
	var tr Tier
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&tr); err != nil {
		t.Fatal(err)
	}
	want := map[string]Price{"month": {ID: "price_m"}, "year": {ID: "price_y", AmountCents: 29000, Currency: "usd"}}
	if !maps.Equal(tr.Prices, want) {
		t.Fatalf("prices = %+v, want %+v", tr.Prices, want)
	}
	ts, err := NewTiers([]Tier{tr})
	if err != nil {
		t.Fatal(err)
	}
	if got := ts.Currency(); got != "usd" {
		t.Errorf("Currency = %q", got)
	}
	if got := tr.PriceIDs(); !slices.Equal(got, []string{"price_m", "price_y"}) {
		t.Errorf("PriceIDs = %v", got)
	}
	b, err := json.Marshal(tr.Prices)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"month":"price_m","year":{"id":"price_y","amount_cents":29000,"currency":"usd"}}` {
		t.Errorf("JSON = %s", b)
	}
	var back map[string]Price
	if err := json.Unmarshal(b, &back); err != nil || !maps.Equal(back, want) {
		t.Errorf("JSON round trip = %+v, %v", back, err)
	}

	dec = yaml.NewDecoder(strings.NewReader(strings.Replace(doc, "currency: usd", "currency: usd, amount: 1", 1)))
	dec.KnownFields(true)
	if err := dec.Decode(&tr); err == nil || !strings.Contains(err.Error(), "amount") {
		t.Errorf("an unknown key in a price: %v, want an error naming it", err)
	}
}
