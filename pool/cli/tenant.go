package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
	"github.com/axiestudio/tenantpool/pool/store"
)

// newTenant is `poold tenant preview|refresh|up ID|SLUG`: the tenant program on one existing
// tenant's stack, by hand, built exactly as the daemon builds it for that account.
func newTenant(e *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Run the Pulumi engine on one tenant's stack by hand, as the daemon would (preview, refresh, up)",
		Long: `Runs the tenant program (infra/tenant) on the stack of one existing account with the
daemon's provisioning settings (the same flags and environment as serve: --langflow-image,
--pulumi-backend, --platform-stack, …): the same stack, backend, secrets provider and spec, a
suspended account's spec staying suspended. An account that never got a stack is refused;
nothing creates one.`,
	}
	var yes bool
	verb := func(use, short string, run func(cmd *cobra.Command, p *pulumiprov.Provisioner, a pool.Account) error) *cobra.Command {
		return &cobra.Command{
			Use:   use + " ID|SLUG",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if _, err := e.provision.validate(e); err != nil {
					return err
				}
				return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
					a, err := accountByRef(ctx, s, args[0])
					if err != nil {
						return err
					}
					cfg, err := e.pulumiConfig(s, 1)
					if err != nil {
						return err
					}
					p, err := pulumiprov.New(ctx, cfg)
					if err != nil {
						return err
					}
					err = run(cmd, p, a)
					if errors.Is(err, pool.ErrNotFound) {
						return fmt.Errorf("account %s (%s) has no tenant stack: %w", a.Slug, a.State, err)
					}
					return err
				})
			},
		}
	}
	up := verb("up", "Update the tenant's stack (shows the preview and asks first unless --yes)", func(cmd *cobra.Command, p *pulumiprov.Provisioner, a pool.Account) error {
		if !yes {
			if err := p.Preview(cmd.Context(), a, e.Stdout); err != nil {
				return err
			}
			if err := confirm(cmd.InOrStdin(), e.Stdout, fmt.Sprintf("Update stack %s of %s account %s?", pulumiprov.StackName(a.Slug), a.State, a.Slug)); err != nil {
				return err
			}
		}
		url, err := p.Up(cmd.Context(), a, e.Stdout)
		if err != nil {
			return err
		}
		e.Log.Info("tenant stack updated by hand", "account", a.Slug, "tier", a.Tier, "state", a.State)
		fmt.Fprintf(e.Stdout, "%s: stack %s updated (%s); %s\n", a.Slug, pulumiprov.StackName(a.Slug), a.State, url)
		return nil
	})
	up.Flags().BoolVarP(&yes, "yes", "y", false, "do not show the preview and ask first")
	cmd.AddCommand(
		verb("preview", "Show what an update of the tenant's stack would change", func(cmd *cobra.Command, p *pulumiprov.Provisioner, a pool.Account) error {
			return p.Preview(cmd.Context(), a, e.Stdout)
		}),
		verb("refresh", "Read the real state of the tenant's resources into its stack", func(cmd *cobra.Command, p *pulumiprov.Provisioner, a pool.Account) error {
			return p.Refresh(cmd.Context(), a, e.Stdout)
		}),
		up,
	)
	return cmd
}

// accountByRef finds an account by id or slug.
func accountByRef(ctx context.Context, s *store.Store, ref string) (pool.Account, error) {
	var (
		a   pool.Account
		err error
	)
	if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
		a, err = s.Get(ctx, id)
	} else {
		a, err = s.GetBySlug(ctx, ref)
	}
	if errors.Is(err, pool.ErrNotFound) {
		return pool.Account{}, fmt.Errorf("no account with id or slug %q (poold list shows them): %w", ref, err)
	}
	return a, err
}
