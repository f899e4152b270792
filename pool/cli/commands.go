package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/store"
)

func newBatchCreate(e *Env) *cobra.Command {
	var (
		count        int
		prefix, tier string
		noWait       bool
		timeout      string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create and provision N accounts of a tier (the operator's mass-user action)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if prefix == "" {
				prefix = e.Prefix
			}
			if err := flagErr(admin.ValidateBatch(e.Tiers, count, prefix, tier)); err != nil {
				return err
			}
			wait, err := parseTimeout(timeout)
			if err != nil {
				return fmt.Errorf("--timeout: %w", err)
			}
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				as, err := s.CreateAccounts(ctx, tier, prefix, count)
				if err != nil {
					return err
				}
				e.Log.Info("batch created", "tier", tier, "count", len(as), "first", as[0].Slug, "last", as[len(as)-1].Slug)
				fmt.Fprintf(e.Stdout, "created %d %s accounts: %s … %s\n", len(as), tier, as[0].Slug, as[len(as)-1].Slug)
				if noWait {
					return nil
				}
				ctx, cancel := context.WithTimeout(ctx, wait)
				defer cancel()
				return waitBatch(ctx, e, s, as)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&count, "count", 0, "how many accounts (1-500)")
	f.StringVar(&prefix, "prefix", "", "slug prefix (default: slug_prefix from the config, \"client\")")
	f.StringVar(&tier, "tier", "basic", "tier of the new accounts")
	f.BoolVar(&noWait, "no-wait", false, "return once the accounts are queued")
	f.StringVar(&timeout, "timeout", "60m", "how long to wait for the batch to finish")
	cmd.MarkFlagRequired("count")
	return cmd
}

// waitBatch shows progress until every account is ready or failed. When no daemon is working
// the queue (this process can take the reconcile leadership), it works the jobs itself.
func waitBatch(ctx context.Context, e *Env, s *store.Store, as []pool.Account) error {
	lead, err := s.TryLead(ctx)
	if err != nil {
		return err
	}
	if lead {
		cfg := daemon.Config{Tiers: e.Tiers, Flows: e.Flows, Log: e.Log, ProvisionConcurrency: 4,
			Tenants: func(ctx context.Context, s *store.Store) (pool.Tenants, error) { return e.tenants(ctx, s, 4) }}
		if e.opts.jobs != nil {
			e.opts.jobs(&cfg.Jobs)
		}
		stop, err := daemon.StartJobs(ctx, cfg, s)
		if err != nil {
			return fmt.Errorf("no daemon is running to provision the batch, and this process cannot: %w", err)
		}
		defer stop()
		fmt.Fprintln(e.Stderr, "no daemon running: provisioning in this process")
	} else {
		fmt.Fprintln(e.Stderr, "the running daemon provisions the batch; waiting")
	}
	bar := progressbar.NewOptions(len(as), progressbar.OptionSetWriter(e.Stderr),
		progressbar.OptionSetDescription("provisioning"), progressbar.OptionShowCount())
	pending := map[int64]bool{}
	for _, a := range as {
		pending[a.ID] = true
	}
	var ready, failed int
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			fmt.Fprintln(e.Stderr)
			return fmt.Errorf("stopped waiting with %d still provisioning (%d ready, %d failed): they continue in the background: %w",
				len(pending), ready, failed, ctx.Err())
		case <-tick.C:
		}
		for id := range pending {
			a, err := s.Get(ctx, id)
			if err != nil {
				return err
			}
			switch a.State {
			case pool.StateProvisioning:
				continue
			case pool.StateFailed:
				failed++
				e.Log.Warn("account failed", "account", a.Slug, "err", a.LastError)
			default:
				ready++
			}
			delete(pending, id)
			bar.Add(1)
		}
	}
	bar.Finish()
	fmt.Fprintf(e.Stdout, "\n%d ready, %d failed\n", ready, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d accounts failed (see `poold list --state failed`)", failed, len(as))
	}
	return nil
}

func newList(e *Env) *cobra.Command {
	var tier, state string
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List accounts (no passwords)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := admin.ValidateList(e.Tiers, tier, state, limit)
			if err := flagErr(err); err != nil {
				return err
			}
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				as, err := s.List(ctx, f)
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]admin.Account, len(as))
					for i, a := range as {
						out[i] = admin.AccountView(a)
					}
					enc := json.NewEncoder(e.Stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(out)
				}
				w := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tSLUG\tTIER\tSTATE\tURL\tORDER\tATTEMPTS\tLAST ERROR")
				for _, a := range as {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.ID, a.Slug, a.Tier, a.State, a.URL, a.OrderID, a.Attempts, a.LastError)
				}
				return w.Flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&tier, "tier", "", "only this tier")
	f.StringVar(&state, "state", "", "only this state")
	f.BoolVar(&asJSON, "json", false, "JSON instead of a table")
	f.IntVar(&limit, "limit", 0, "at most this many (0 = all)")
	return cmd
}

func newExport(e *Env) *cobra.Command {
	var path, tier string
	var count int
	var all bool
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export ready accounts' credentials to CSV; they become reserved and are never sold by the webhook",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("--csv FILE is required")
			}
			if _, err := os.Lstat(path); err == nil {
				return fmt.Errorf("--csv %s: file exists; refusing to overwrite credentials", path)
			}
			n, err := admin.ValidateExport(e.Tiers, tier, count, all)
			if err := flagErr(err); err != nil {
				return err
			}
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				var tmp string
				as, err := s.Reserve(ctx, tier, n, func(as []pool.Account) error {
					if len(as) == 0 {
						return errors.New("no ready account to export")
					}
					var buf bytes.Buffer
					if err := admin.WriteCSV(&buf, as); err != nil {
						return err
					}
					var err error
					tmp, err = writeTemp0600(path, buf.Bytes())
					return err
				})
				if err != nil {
					if tmp != "" {
						os.Remove(tmp)
					}
					return fmt.Errorf("export: %w", err)
				}
				if err := os.Rename(tmp, path); err != nil {
					return fmt.Errorf("export: %d accounts are reserved and their credentials are in %s (rename failed: %w)", len(as), tmp, err)
				}
				e.Log.Info("accounts exported and reserved", "count", len(as), "file", path)
				fmt.Fprintf(e.Stdout, "exported %d accounts to %s (now reserved)\n", len(as), path)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&path, "csv", "", "output file (created with mode 0600; must not exist)")
	f.StringVar(&tier, "tier", "", "only this tier (default: all)")
	f.IntVar(&count, "count", 0, "export at most this many ready accounts (≥ 1); this or --all is required")
	f.BoolVar(&all, "all", false, "export every ready account (of --tier, else of every tier)")
	return cmd
}

func newClaim(e *Env) *cobra.Command {
	var order, tier string
	cmd := &cobra.Command{
		Use:   "claim",
		Short: "Claim one ready account for an order (manual sale); prints its credentials",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagErr(admin.ValidateClaim(e.Tiers, order, tier)); err != nil {
				return err
			}
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				tenants := daemon.RotateOnly(daemon.Config{Log: e.Log})
				if e.opts.tenants != nil {
					var err error
					if tenants, err = e.opts.tenants(ctx, e, s); err != nil {
						return err
					}
				}
				a, created, err := admin.Claim(ctx, s, tenants, order, tier)
				if err != nil {
					return err
				}
				e.Log.Info("account claimed", "account", a.Slug, "tier", a.Tier, "order", a.OrderID, "new", created)
				fmt.Fprintf(e.Stdout, "order:    %s\naccount:  %s\nurl:      %s\nusername: %s\npassword: %s\n", a.OrderID, a.Slug, a.URL, a.CustomerUser, a.CustomerPassword)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&order, "order", "", "order id, stored as manual:<id> (the same order always gets the same account; Stripe's cs_… ids are refused)")
	f.StringVar(&tier, "tier", "basic", "tier")
	return cmd
}

func newRetire(e *Env) *cobra.Command {
	var force, now bool
	cmd := &cobra.Command{
		Use:   "retire ID|SLUG",
		Short: "Retire an account and tear its tenant down (a sold one needs --force, and is kept stopped for POOL_SUSPEND_GRACE unless --now)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			grace, err := e.suspendGrace()
			if err != nil {
				return err
			}
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				id, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil {
					a, gerr := s.GetBySlug(ctx, args[0])
					if gerr != nil {
						return gerr
					}
					id = a.ID
				}
				a, how, err := s.RequestRetire(ctx, id, store.RetireRequest{Force: force, Now: now, Grace: grace})
				if errors.Is(err, pool.ErrForceRequired) {
					return fmt.Errorf("%w: retiring it destroys a customer's tenant and data; add --force to stop it now and "+
						"destroy it after %s (POOL_SUSPEND_GRACE), or --force --now to destroy it at once", err, grace)
				}
				if err != nil {
					return err
				}
				if how == pool.RetireAfterGrace {
					e.Log.Warn("sold account retired: tenant suspended, destroyed after the grace", "account", a.Slug,
						"destroy_after", a.RetireAt.Format(time.RFC3339))
					fmt.Fprintf(e.Stdout, "suspended %s: its tenant is being stopped, its data kept until %s, then destroyed "+
						"(`poold retire --force --now %s` destroys it at once)\n", a.Slug, a.RetireAt.Format(time.RFC3339), a.Slug)
					return nil
				}
				e.Log.Info("account retired", "account", a.Slug, "forced", force)
				fmt.Fprintf(e.Stdout, "retired %s; teardown queued\n", a.Slug)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&force, "force", false, "retire a sold account (claimed, delivered, suspended or reserved): its tenant is stopped at once, its data kept, and destroyed after POOL_SUSPEND_GRACE")
	f.BoolVar(&now, "now", false, "with --force: destroy a sold account at once, without the grace")
	return cmd
}

// suspendGrace is POOL_SUSPEND_GRACE: how long a sold tenant is kept stopped before it is
// destroyed (an operator's retirement here; a cancelled subscription's in the orders settings).
func (e *Env) suspendGrace() (time.Duration, error) {
	v := e.Getenv("POOL_SUSPEND_GRACE")
	if v == "" {
		return pool.DefaultSuspendGrace, nil
	}
	d, err := parseTimeout(v)
	if err != nil {
		return 0, fmt.Errorf("POOL_SUSPEND_GRACE: %w", err)
	}
	return d, nil
}

func newPause(e *Env, paused bool) *cobra.Command {
	use, short := "resume TIER", "Resume reconciling a tier (also clears its failure streak)"
	if paused {
		use, short = "pause TIER", "Stop creating and retiring accounts of a tier (claims continue)"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := e.Tiers.Get(args[0]); err != nil {
				return err
			}
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				if err := s.SetPaused(ctx, args[0], paused); err != nil {
					return err
				}
				verb := "resumed"
				if paused {
					verb = "paused"
				}
				e.Log.Info("tier "+verb, "tier", args[0])
				fmt.Fprintf(e.Stdout, "%s %s\n", verb, args[0])
				return nil
			})
		},
	}
}

func newStatus(e *Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Per-tier counts and targets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				counts, status, err := s.Counts(ctx)
				if err != nil {
					return err
				}
				c, err := s.Capacity(ctx, time.Now(), e.Tiers, hostCapacities(e.Hosts))
				if err != nil {
					return err
				}
				rows := admin.WithCapacity(admin.StatusRows(e.Tiers, counts, status), c)
				if asJSON {
					enc := json.NewEncoder(e.Stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(rows)
				}
				w := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "TIER\tREADY/TARGET\tMAX\tIN FLIGHT/MAX\tCLAIMED\tDELIVERED\tRESERVED\tSUSPENDED\tFAILED\tRETIRED\tSTATUS")
				for _, r := range rows {
					flag := "ok"
					switch {
					case r.Paused:
						flag = "paused"
					case r.ConsecutiveFailures > 0:
						flag = fmt.Sprintf("%d consecutive failures", r.ConsecutiveFailures)
					}
					n := r.Counts
					fmt.Fprintf(w, "%s\t%d/%d\t%d\t%d/%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.Tier, n["ready"], r.ReadyTarget, r.MaxTotal,
						n["provisioning"], r.MaxInFlight, n["claimed"], n["delivered"], n["reserved"], n["suspended"], n["failed"], n["retired"], flag)
				}
				if err := w.Flush(); err != nil {
					return err
				}
				printCapacity(e.Stdout, c)
				if err := printGenerations(ctx, e, s); err != nil {
					return err
				}
				return printActiveUpgrade(ctx, e, s)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON instead of a table")
	return cmd
}

// hostCapacities are the configured hosts as the capacity signal sees them (nil: none
// configured, the capacity is unknown).
func hostCapacities(hosts []platform.Host) []pool.HostCapacity {
	var out []pool.HostCapacity
	for _, h := range hosts {
		out = append(out, pool.HostCapacity{Name: h.Name, Capacity: h.Capacity})
	}
	return out
}

// printCapacity prints every tier's ready target and refill signal, then the hosts' forecast:
//
//	basic    target 10: 3.1 sales/h (last 3h) × 0.9 h mean provisioning = 2.8 + 7 margin (stock-outs ≤ 0.1 %); refill in ~30m (2 missing)
//	premium  target 2: min_ready (fixed); CANNOT REFILL within 1h: hosts have room for 1 of the 2 accounts the pool needs
//	hosts: 8 of 20 places free; full in ~0.9 h at 8.0 sales/h
func printCapacity(out io.Writer, c pool.Capacity) {
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, r := range c.Tiers {
		refill := r.Why
		if r.Short {
			refill = fmt.Sprintf("CANNOT REFILL within %s: %s", pool.ShortDuration(r.Within), r.Why)
		}
		fmt.Fprintf(w, "%s\t%s; %s\n", r.Tier, r.Target.Why, refill)
	}
	w.Flush()
	fmt.Fprintln(out, c.Forecast())
}

// flagErr renders a shared validation error with the CLI's flag names.
func flagErr(err error) error {
	var fe *admin.FieldError
	if errors.As(err, &fe) {
		return fe.Flag()
	}
	return err
}
