package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
)

func newAccounts(e *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "accounts", Short: "One account at a time"}
	cmd.AddCommand(newSetTier(e))
	return cmd
}

// newSetTier is the operator's plan change: the same store path as a Stripe price change and
// the admin API (store.ChangePlan). The running daemon works the re-apply job.
func newSetTier(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "set-tier ID|SLUG TIER",
		Short: "Move a sold account to another tier in place: same account, stack and data volume, its stack re-applied by the daemon",
		Long: "Move a sold account (claimed, delivered or suspended) to another tier in place. The account and its order get the\n" +
			"tier at once; the running daemon re-applies the same stack on the same data volume with the tier's memory, CPUs,\n" +
			"limits and branding (a suspended tenant gets it when it starts again). Moving to a tier with fewer custom domains\n" +
			"e-mails the customer and detaches the excess domains after POOL_DOWNGRADE_NOTICE (default 72h).",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := e.Tiers.Get(args[1]); err != nil {
				return err
			}
			notice, err := e.downgradeNotice()
			if err != nil {
				return err
			}
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				a, err := accountByRef(ctx, s, args[0])
				if err != nil {
					return err
				}
				c, changed, err := s.ChangePlan(ctx, a.ID, store.PlanRequest{Source: pool.PlanByOperator, ToTier: args[1], Tiers: e.Tiers, Notice: notice})
				if err != nil {
					return err
				}
				if !changed {
					fmt.Fprintf(e.Stdout, "%s is already %s: nothing changed\n", a.Slug, args[1])
					return nil
				}
				e.Log.Info("plan changed by the operator; re-apply queued", "account", a.Slug, "tier", c.ToTier, "from", c.FromTier)
				fmt.Fprintf(e.Stdout, "%s: %s → %s; the daemon re-applies its stack on the same volume (change %d)\n", a.Slug, c.FromTier, c.ToTier, c.ID)
				if !c.DetachAt.IsZero() {
					fmt.Fprintf(e.Stdout, "custom domains beyond the %s allowance are detached after %s; the customer is e-mailed now\n",
						c.ToTier, c.DetachAt.UTC().Format(time.RFC3339))
				}
				return nil
			})
		},
	}
}

// downgradeNotice is POOL_DOWNGRADE_NOTICE: how long a downgraded account keeps the custom
// domains beyond its new tier's allowance.
func (e *Env) downgradeNotice() (time.Duration, error) {
	v := e.Getenv("POOL_DOWNGRADE_NOTICE")
	if v == "" {
		return pool.DefaultDowngradeNotice, nil
	}
	d, err := parseTimeout(v)
	if err != nil {
		return 0, fmt.Errorf("POOL_DOWNGRADE_NOTICE: %w", err)
	}
	return d, nil
}
