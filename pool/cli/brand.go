package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store"
)

// accountRef resolves an account id or slug.
func accountRef(ctx context.Context, s *store.Store, ref string) (pool.Account, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return s.Get(ctx, id)
	}
	return s.GetBySlug(ctx, ref)
}

// newBrand is `poold brand show|set`: an account's white-label settings.
func newBrand(e *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "brand", Short: "An account's white-label settings: product name, logo and colour its customer sees (premium and up)"}

	var asJSON bool
	show := &cobra.Command{
		Use:   "show ID|SLUG",
		Short: "Show an account's brand",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				a, err := accountRef(ctx, s, args[0])
				if err != nil {
					return err
				}
				b, err := s.Brand(ctx, a.ID)
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(e.Stdout).Encode(map[string]any{"account": a.Slug, "tier": a.Tier, "brand": b})
				}
				if b.IsZero() {
					fmt.Fprintf(e.Stdout, "%s (%s): no brand\n", a.Slug, a.Tier)
					return nil
				}
				logo := b.Logo
				if len(logo) > 80 {
					logo = logo[:60] + fmt.Sprintf("… (%d characters)", len(b.Logo))
				}
				fmt.Fprintf(e.Stdout, "%s (%s)\n  name:   %s\n  logo:   %s\n  colour: %s\n", a.Slug, a.Tier, b.Name, logo, b.Color)
				return nil
			})
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var (
		name, logo, logoFile, color string
		clear                       bool
	)
	set := &cobra.Command{
		Use:   "set ID|SLUG [--name N] [--logo URL | --logo-file FILE] [--color #rrggbb] | --clear",
		Short: "Save an account's brand; a sold tenant is re-applied (durable job) so its studio shows it",
		Long: "Flags not given keep their saved values; an empty value (--name '') removes that field, --clear removes the brand. " +
			"The logo is an https URL, or a small image file (--logo-file: PNG, JPEG, GIF, WebP, SVG or ICO, at most 16 KiB) stored inline. " +
			"A claimed or delivered account's tenant is re-applied with the change (its container restarts); any other account's " +
			"tenant gets it when it is next provisioned or resumed. Tiers without branding are refused.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			if clear && (f.Changed("name") || f.Changed("logo") || f.Changed("logo-file") || f.Changed("color")) {
				return fmt.Errorf("--clear takes no other flag")
			}
			if f.Changed("logo") && f.Changed("logo-file") {
				return fmt.Errorf("give --logo or --logo-file, not both")
			}
			if !clear && !f.Changed("name") && !f.Changed("logo") && !f.Changed("logo-file") && !f.Changed("color") {
				return fmt.Errorf("nothing to set: give --name, --logo, --logo-file, --color or --clear")
			}
			if f.Changed("logo-file") {
				var err error
				if logo, err = dataURL(logoFile); err != nil {
					return err
				}
			}
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				a, err := accountRef(ctx, s, args[0])
				if err != nil {
					return err
				}
				b, err := s.Brand(ctx, a.ID)
				if err != nil {
					return err
				}
				switch {
				case clear:
					b = pool.Brand{}
				default:
					if f.Changed("name") {
						b.Name = name
					}
					if f.Changed("logo") || f.Changed("logo-file") {
						b.Logo = logo
					}
					if f.Changed("color") {
						b.Color = color
					}
				}
				res, err := s.SetBrand(ctx, a.ID, b, func(tier string) error {
					t, err := e.Tiers.Get(tier)
					if err != nil {
						return err
					}
					return pool.CheckBrandTier(b, t)
				})
				if err != nil {
					return err
				}
				e.Log.Info("account brand saved", "account", a.Slug, "tier", a.Tier, "reapply", res.Reapply)
				switch {
				case res.Reapply:
					fmt.Fprintf(e.Stdout, "%s: brand saved; its tenant is re-applied by the daemon's jobs (the studio restarts)\n", a.Slug)
				default:
					fmt.Fprintf(e.Stdout, "%s: brand saved; it is %s, so the brand reaches its tenant when it is next provisioned or resumed\n", a.Slug, a.State)
				}
				return nil
			})
		},
	}
	set.Flags().StringVar(&name, "name", "", "product name shown instead of Langflow (at most 64 characters)")
	set.Flags().StringVar(&logo, "logo", "", "https URL of the logo (also the favicon)")
	set.Flags().StringVar(&logoFile, "logo-file", "", "image file stored inline as the logo (at most 16 KiB)")
	set.Flags().StringVar(&color, "color", "", "primary colour, #rrggbb")
	set.Flags().BoolVar(&clear, "clear", false, "remove the brand")
	cmd.AddCommand(show, set)
	return cmd
}

// dataURL reads a small image file as a data: URL (validated by pool.Brand.Validate).
func dataURL(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.Size() > pool.MaxBrandLogoBytes {
		return "", fmt.Errorf("%s: %d bytes, at most %d: host it and give --logo https://…", path, st.Size(), pool.MaxBrandLogoBytes)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	typ := mime.TypeByExtension(filepath.Ext(path))
	switch filepath.Ext(path) {
	case ".svg":
		typ = "image/svg+xml"
	case ".ico":
		typ = "image/x-icon"
	}
	if typ == "" {
		typ = http.DetectContentType(raw)
	}
	if t, _, err := mime.ParseMediaType(typ); err == nil {
		typ = t
	}
	return "data:" + typ + ";base64," + base64.StdEncoding.EncodeToString(raw), nil
}

// newFlows is `poold flows deliver --tier T`: the starter flows' import into existing studios.
func newFlows(e *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "flows", Short: "Starter flows (a tier's starter_flows directory)"}
	var tier string
	deliver := &cobra.Command{
		Use:   "deliver --tier T",
		Short: "Import the tier's starter flows into every existing studio of the tier (durable jobs; flows already there are skipped)",
		Long: "New studios get their tier's starter flows when they are provisioned. This enqueues the import for the tier's " +
			"existing ones (ready, claimed, delivered, reserved): each studio gets, as its customer, the flows whose names it lacks. " +
			"A running daemon works the jobs.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := e.Tiers.Get(tier)
			if err != nil {
				return err
			}
			if t.StarterFlows == "" {
				return fmt.Errorf("tier %s has no starter_flows directory in the configuration", tier)
			}
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				n, err := s.EnqueueFlows(ctx, tier)
				if err != nil {
					return err
				}
				e.Log.Info("starter flows import enqueued", "tier", tier, "accounts", n)
				fmt.Fprintf(e.Stdout, "starter flows of %s: %d studios to import into (%d flows each at most)\n", tier, n, len(e.Flows[tier]))
				return nil
			})
		},
	}
	deliver.Flags().StringVar(&tier, "tier", "", "the tier (required)")
	_ = deliver.MarkFlagRequired("tier")
	cmd.AddCommand(deliver)
	return cmd
}
