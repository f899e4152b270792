package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
	"github.com/axiestudio/tenantpool/pool/store"
)

// newUpgrade is `poold upgrade start|status|pause|resume|abort`: rolling upgrades of sold
// tenants, recorded in the store and driven by the running daemon's leader.
func newUpgrade(e *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Rolling upgrade of sold tenants to a tier's current generation (start, status, pause, resume, abort)",
	}
	cmd.AddCommand(newUpgradeStart(e), newUpgradeStatus(e), newUpgradeSet(e, "pause", "Stop starting tenants (the ones in flight finish)"),
		newUpgradeSet(e, "resume", "Run a paused or held rolling upgrade again (a held one retries its failed tenant first)"),
		newUpgradeSet(e, "abort", "End a rolling upgrade: the tenants not started are skipped, upgraded ones stay upgraded"))
	return cmd
}

func newUpgradeStart(e *Env) *cobra.Command {
	var spec pool.RolloutSpec
	cmd := &cobra.Command{
		Use:   "start --to GENERATION",
		Short: "Start a rolling upgrade of the tier's sold tenants to its current generation",
		Long: `Records a rolling upgrade; the running daemon's leader drives it: the canary tenants
first, then batches, never more than --max-unavailable at once, only inside --window. Each
tenant's stack is re-applied with the new image on the same volume, then the health gate and a
login must pass; the first failure rolls that tenant back and holds the upgrade. The target must
be the tier's current generation (poold status, GET /admin/v1/generations), so this command
needs the daemon's provisioning settings (POOL_LANGFLOW_IMAGE first).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := spec.Validate(); err != nil {
				return err
			}
			if spec.Tier != "" {
				if _, err := e.Tiers.Get(spec.Tier); err != nil {
					return fmt.Errorf("--tier: %w", err)
				}
			}
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				build, err := e.build(ctx, s)
				if err != nil {
					return err
				}
				r, err := admin.StartUpgrade(ctx, s, e.Tiers, build, spec)
				if err != nil {
					return flagErr(err)
				}
				fmt.Fprintf(e.Stdout, "rolling upgrade %d started: %d tenants of tier %s to %s; the running daemon drives it (poold upgrade status)\n",
					r.ID, r.Total, r.Tier, r.Generation)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Generation, "to", "", "target generation: the tier's current one (required)")
	f.StringVar(&spec.Tier, "tier", "", "tier (default: the tier whose current generation --to is)")
	f.IntVar(&spec.Canary, "canary", pool.DefaultCanary, "tenants upgraded first, alone, before any batch (0 = none)")
	f.IntVar(&spec.Batch, "batch", pool.DefaultBatch, "tenants per batch; a batch starts when the one before it finished")
	f.IntVar(&spec.MaxUnavailable, "max-unavailable", pool.DefaultMaxUnavailable, "tenants re-imaged at the same time, at most")
	f.StringVar(&spec.Window, "window", "", `when steps may start: "[DAYS ]HH:MM-HH:MM[ ZONE]", e.g. "Sun 02:00-05:00" (UTC unless a zone is given); empty = any time`)
	return cmd
}

// build is what the daemon builds for a tier now (its current generation): the Pulumi
// provisioner's, configured as serve configures it but without reaching the platform (a test's
// double when injected).
func (e *Env) build(ctx context.Context, s *store.Store) (func(pool.Tier) pool.Build, error) {
	if e.opts.tenants != nil {
		tenants, err := e.opts.tenants(ctx, e, s)
		if err != nil {
			return nil, err
		}
		return tenants.Build, nil
	}
	cfg, err := e.pulumiConfig(s, 1)
	if err != nil {
		return nil, err
	}
	p, err := pulumiprov.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return p.Build, nil
}

// upgradeRef resolves an optional ID argument: the given one, else the active rolling upgrade
// (latest: else the newest one).
func upgradeRef(ctx context.Context, s *store.Store, args []string, latest bool) (int64, error) {
	if len(args) == 1 {
		id, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || id < 1 {
			return 0, fmt.Errorf("rolling upgrade %q: want its number", args[0])
		}
		return id, nil
	}
	id, err := s.ActiveRollout(ctx)
	if err != nil || id != 0 {
		return id, err
	}
	if latest {
		list, err := s.Rollouts(ctx, 1)
		if err != nil {
			return 0, err
		}
		if len(list) == 1 {
			return list[0].ID, nil
		}
	}
	return 0, fmt.Errorf("no active rolling upgrade: %w", pool.ErrNoRollout)
}

func newUpgradeStatus(e *Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [ID]",
		Short: "A rolling upgrade's progress and each tenant's state (default: the active one, else the newest)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				id, err := upgradeRef(ctx, s, args, true)
				if err != nil {
					return err
				}
				u, err := admin.UpgradeView(ctx, s, id, time.Now())
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(e.Stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(u)
				}
				printUpgrade(e, u)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON (as GET /admin/v1/upgrades/{id})")
	return cmd
}

func printUpgrade(e *Env, u admin.Upgrade) {
	fmt.Fprintf(e.Stdout, "rolling upgrade %d: tier %s to %s (%s)\n", u.ID, u.Tier, u.Generation, u.Image)
	fmt.Fprintf(e.Stdout, "state:     %s\n", u.State)
	fmt.Fprintf(e.Stdout, "progress:  %d/%d done, %d failed, %d skipped\n", u.Done, u.Total, u.Failed, u.Skipped)
	fmt.Fprintf(e.Stdout, "settings:  canary %d, batch %d, max-unavailable %d\n", u.Canary, u.Batch, u.MaxUnavailable)
	if u.Window != "" {
		open := "open"
		if !u.WindowOpen {
			open = "closed; opens " + u.NextWindow.UTC().Format("2006-01-02 15:04 UTC")
		}
		fmt.Fprintf(e.Stdout, "window:    %s (%s)\n", u.Window, open)
	}
	if u.LastError != "" {
		fmt.Fprintf(e.Stdout, "error:     %s\n", u.LastError)
	}
	w := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ACCOUNT\tBATCH\tSTATE\tFROM\tTO\tATTEMPTS\tERROR")
	for _, st := range u.Steps {
		batch := strconv.Itoa(st.Batch)
		if st.Batch == 0 {
			batch = "canary"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", st.Slug, batch, st.State, st.FromGeneration, st.ToGeneration, st.Attempts,
			strings.ReplaceAll(st.Error, "\n", " "))
	}
	w.Flush()
}

func newUpgradeSet(e *Env, action, short string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " [ID]",
		Short: short + " (default: the active one)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				id, err := upgradeRef(ctx, s, args, false)
				if err != nil {
					return err
				}
				r, err := admin.SetUpgradeState(ctx, s, id, action)
				if errors.Is(err, pool.ErrIllegalTransition) {
					return fmt.Errorf("cannot %s: %w", action, err)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "rolling upgrade %d: %s\n", r.ID, r.State)
				return nil
			})
		},
	}
}

// printActiveUpgrade is the rolling upgrade line of `poold status`: the active one, if any.
func printActiveUpgrade(ctx context.Context, e *Env, s *store.Store) error {
	id, err := s.ActiveRollout(ctx)
	if err != nil || id == 0 {
		return err
	}
	r, _, err := s.Rollout(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "\nrolling upgrade %d of tier %s to %s: %s, %d/%d done, %d failed, %d skipped (poold upgrade status)\n",
		r.ID, r.Tier, r.Generation, r.State, r.Done, r.Total, r.Failed, r.Skipped)
	return nil
}
