package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/pool/business"
	"github.com/axiestudio/tenantpool/pool/store"
)

// newBusiness is `poold business [--csv | --json]`: the business figures (pool/business) of the
// store, as a summary, CSV or JSON.
func newBusiness(e *Env) *cobra.Command {
	var asCSV, asJSON bool
	cmd := &cobra.Command{
		Use:   "business",
		Short: "Business figures from the stored orders: MRR, ARR, churn, ARPA, LTV, premium share, upgrades (amounts from the tiers' prices)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asCSV && asJSON {
				return flagErr(fmt.Errorf("--csv and --json: choose one"))
			}
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				r, err := business.New(s, e.Tiers, nil).Report(ctx)
				if err != nil {
					return err
				}
				switch {
				case asCSV:
					return business.WriteCSV(e.Stdout, r)
				case asJSON:
					enc := json.NewEncoder(e.Stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(r)
				}
				return writeBusiness(e, r)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asCSV, "csv", false, "every figure and both series as CSV (figure,tier,interval,period,value)")
	f.BoolVar(&asJSON, "json", false, "the report as JSON (as GET /admin/v1/business)")
	return cmd
}

// writeBusiness prints the headline figures and the plans.
func writeBusiness(e *Env, r business.Report) error {
	m := func(c int64) string { return business.Money(c, r.Currency) }
	pct := func(v float64) string { return fmt.Sprintf("%.1f %%", v*100) }
	w := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	ltv := "— (no churn in 30 days)"
	if r.LTVCents != nil {
		ltv = m(*r.LTVCents)
	}
	for _, row := range [][2]string{
		{"MRR", m(r.MRRCents)}, {"ARR", m(r.ARRCents)},
		{"paying subscriptions", fmt.Sprintf("%d (%d seats, %d past due)", r.Subscriptions, r.Seats, r.PastDue)},
		{"new / churned, 30 days", fmt.Sprintf("%d / %d", r.New30d, r.Churned30d)},
		{"churn rate, 30 days", pct(r.ChurnRate)},
		{"ARPA", m(r.ARPACents)}, {"LTV (ARPA / churn)", ltv},
		{"premium share", fmt.Sprintf("%s of subscriptions, %s of MRR", pct(r.PremiumShare), pct(r.PremiumMRR))},
		{"upgrade rate", fmt.Sprintf("%s (%d of %d)", pct(r.UpgradeRate), r.Upgrades, r.Upgradable)},
		{"not in MRR", fmt.Sprintf("%d unpriced, %d trialing, %d held, %d one-time, %d manual", r.Unpriced, r.Trialing, r.Held, r.OneTime, r.Manual)},
	} {
		fmt.Fprintf(w, "%s\t%s\n", row[0], row[1])
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "TIER\tINTERVAL\tSUBSCRIPTIONS\tSEATS\tMRR\tARR")
	for _, p := range r.Plans {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\n", p.Tier, p.Interval, p.Subscriptions, p.Seats, m(p.MRRCents), m(p.ARRCents))
	}
	return w.Flush()
}
