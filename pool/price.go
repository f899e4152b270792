package pool

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Price is one Stripe recurring price of a tier: its id and, optionally, what it bills per
// interval (the minor units Stripe counts, e.g. cents, and the ISO currency in lower case). The
// amount is what the business figures (MRR, ARR, ARPA) are computed from; a price without one
// is still sold and mapped to its tier, but left out of revenue (reported as unpriced).
//
// In the configuration file a price is either the id alone (`month: price_123`, the older form)
// or a mapping (`month: {id: price_123, amount_cents: 2900, currency: usd}`). Its JSON is the
// same: a string when it has no amount, an object otherwise.
type Price struct {
	ID          string `yaml:"id" json:"id"`
	AmountCents int64  `yaml:"amount_cents" json:"amount_cents,omitempty"`
	Currency    string `yaml:"currency" json:"currency,omitempty"`
}

// Priced reports whether the price has an amount.
func (p Price) Priced() bool { return p.AmountCents > 0 }

// UnmarshalYAML accepts the id alone or the mapping (yaml.v3's function form, so that the domain
// needs no YAML import and the decoder's strictness about unknown keys still applies).
func (p *Price) UnmarshalYAML(unmarshal func(any) error) error {
	var id string
	if err := unmarshal(&id); err == nil {
		*p = Price{ID: id}
		return nil
	}
	type plain Price
	var v plain
	if err := unmarshal(&v); err != nil {
		return err
	}
	*p = Price(v)
	return nil
}

// MarshalJSON writes the id alone when the price has no amount (the older form).
func (p Price) MarshalJSON() ([]byte, error) {
	if p.AmountCents == 0 && p.Currency == "" {
		return json.Marshal(p.ID)
	}
	type plain Price
	return json.Marshal(plain(p))
}

// UnmarshalJSON accepts both forms MarshalJSON writes.
func (p *Price) UnmarshalJSON(b []byte) error {
	var id string
	if err := json.Unmarshal(b, &id); err == nil {
		*p = Price{ID: id}
		return nil
	}
	type plain Price
	var v plain
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = Price(v)
	return nil
}

// validate reports the first problem with the price of tier at interval.
func (p Price) validate(tier, interval string) error {
	switch {
	case !strings.HasPrefix(p.ID, "price_"):
		return fmt.Errorf("tier %s: prices.%s %q is not a Stripe price id (price_…)", tier, interval, p.ID)
	case p.AmountCents < 0:
		return fmt.Errorf("tier %s: prices.%s: amount_cents %d must be positive", tier, interval, p.AmountCents)
	case p.AmountCents > 0 && !validCurrency(p.Currency):
		return fmt.Errorf("tier %s: prices.%s: currency %q must be a three-letter ISO code in lower case (usd, eur, …)", tier, interval, p.Currency)
	case p.AmountCents == 0 && p.Currency != "":
		return fmt.Errorf("tier %s: prices.%s: a currency without amount_cents", tier, interval)
	}
	return nil
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// Currency is the one currency of every priced price of the tiers ("" when none has an
// amount). NewTiers refuses tiers priced in several currencies: the business figures add
// amounts up, and no exchange rate is known here.
func (ts Tiers) Currency() string {
	for _, n := range ts.Names() {
		for _, iv := range Intervals {
			if p := ts[n].Prices[iv]; p.Priced() {
				return p.Currency
			}
		}
	}
	return ""
}
