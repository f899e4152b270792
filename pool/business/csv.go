package business

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// CSVHeader is the first row WriteCSV writes.
var CSVHeader = []string{"figure", "tier", "interval", "period", "value"}

// WriteCSV writes the report in long form, one figure a row (figure, tier, interval, period,
// value): the headline figures (tier, interval and period empty), then per tier and interval,
// then the monthly series (period 2026-12) and the daily one (period 2026-12-03). Money is in
// minor units (cents) of the currency row's currency; rates are fractions (0.0125 = 1.25 %);
// ltv_cents is empty while the churn rate is 0.
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	rows := [][]string{CSVHeader}
	add := func(figure, tier, interval, period, value string) {
		rows = append(rows, []string{figure, tier, interval, period, value})
	}
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	n := func(v int) string { return strconv.Itoa(v) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	add("at", "", "", "", r.At.UTC().Format("2006-01-02T15:04:05Z"))
	add("currency", "", "", "", r.Currency)
	add("mrr_cents", "", "", "", i(r.MRRCents))
	add("arr_cents", "", "", "", i(r.ARRCents))
	add("active_subscriptions", "", "", "", n(r.Subscriptions))
	add("seats", "", "", "", n(r.Seats))
	add("past_due", "", "", "", n(r.PastDue))
	add("unpriced", "", "", "", n(r.Unpriced))
	add("trialing", "", "", "", n(r.Trialing))
	add("held", "", "", "", n(r.Held))
	add("one_time", "", "", "", n(r.OneTime))
	add("manual", "", "", "", n(r.Manual))
	add("new_30d", "", "", "", n(r.New30d))
	add("churned_30d", "", "", "", n(r.Churned30d))
	add("churn_rate_30d", "", "", "", f(r.ChurnRate))
	add("premium_share", "", "", "", f(r.PremiumShare))
	add("premium_mrr_share", "", "", "", f(r.PremiumMRR))
	add("upgrades", "", "", "", n(r.Upgrades))
	add("upgradable", "", "", "", n(r.Upgradable))
	add("upgrade_rate", "", "", "", f(r.UpgradeRate))
	add("arpa_cents", "", "", "", i(r.ARPACents))
	ltv := ""
	if r.LTVCents != nil {
		ltv = i(*r.LTVCents)
	}
	add("ltv_cents", "", "", "", ltv)
	for _, p := range r.Plans {
		add("mrr_cents", p.Tier, p.Interval, "", i(p.MRRCents))
		add("arr_cents", p.Tier, p.Interval, "", i(p.ARRCents))
		add("subscriptions", p.Tier, p.Interval, "", n(p.Subscriptions))
		add("seats", p.Tier, p.Interval, "", n(p.Seats))
	}
	for _, series := range [][]Point{r.Monthly, r.Daily} {
		for _, p := range series {
			add("mrr_cents", "", "", p.Label, i(p.MRRCents))
			add("subscriptions", "", "", p.Label, n(p.Subscriptions))
			add("new", "", "", p.Label, n(p.New))
			add("churned", "", "", p.Label, n(p.Churned))
			add("churn_rate", "", "", p.Label, f(p.ChurnRate))
		}
	}
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("business csv: %w", err)
	}
	return nil
}

// ServeCSV answers the report as a CSV download (poold-business-<date>.csv), rendered before
// anything is written so that a failure can still be answered as an error.
func ServeCSV(w http.ResponseWriter, r Report) error {
	var body bytes.Buffer
	if err := WriteCSV(&body, r); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="poold-business-`+r.At.Format("2006-01-02")+`.csv"`)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body.Bytes())
	return err
}
