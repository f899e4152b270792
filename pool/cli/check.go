package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/secret"
)

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func newConfig(e *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Configuration"}
	var f serveFlags
	check := &cobra.Command{
		Use:         "check",
		Short:       "Validate the configuration serve would run with and report every problem at once",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{reportsAll: "true"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			var problems []error
			add := func(err error) {
				if err != nil {
					problems = append(problems, err)
				}
			}
			problems = append(problems, e.envErrs...)
			add(f.validate())
			if set, err := e.provision.validate(e); errors.Is(err, daemon.ErrNotConfigured) {
				fmt.Fprintf(e.Stdout, "warning: %v (the daemon will serve but not top the pool up)\n", err)
			} else {
				add(err)
				if e.provision.platformStack != "" && set.cloudflare == nil {
					fmt.Fprintf(e.Stdout, "note: the hosts of platform stack %s are checked when serve starts: "+
						"a host other than its first (the wildcard target) needs Cloudflare: %s\n", e.provision.platformStack, cloudflareHint)
				}
			}
			if c, err := e.shopSettings(); err != nil {
				add(err)
			} else if c == nil {
				fmt.Fprintln(e.Stdout, "note: storefront disabled (it needs POOL_STRIPE_API_KEY and POOL_PUBLIC_URL)")
			}
			if e.ordersEnabled() {
				_, err := e.ordersSettings()
				add(err)
			} else {
				fmt.Fprintln(e.Stdout, "note: Stripe orders disabled (POOL_STRIPE_WEBHOOK_SECRET not set)")
				if e.Getenv("POOL_OPERATOR_EMAIL") != "" {
					_, err := e.smtpSettings()
					add(err)
				}
			}
			if raw, err := e.readSecretEnv("POOL_ADMIN_TOKEN"); err != nil {
				add(err)
			} else if tokens := admin.ParseTokens(raw); len(tokens) > 0 {
				add(admin.CheckTokens(tokens))
			}
			// The key is checked, never created here: config check writes nothing.
			if env := e.Getenv("POOL_SECRET_KEY"); env != "" {
				_, err := secret.LoadKey(env, "")
				add(err)
			} else if path := filepath.Join(e.DataDir, "secret.key"); fileExists(path) {
				_, err := secret.LoadKey("", path)
				add(err)
			}
			add(e.checkDatabase(cmd.Context()))
			if len(problems) > 0 {
				var b strings.Builder
				fmt.Fprintf(&b, "%d problem(s):", len(problems))
				for _, p := range problems {
					for _, line := range strings.Split(p.Error(), "\n") {
						b.WriteString("\n  - " + line)
					}
				}
				return errors.New(b.String())
			}
			fmt.Fprintln(e.Stdout, "configuration ok")
			return nil
		},
	}
	f.register(check.Flags(), e.Getenv)
	cmd.AddCommand(check)
	return cmd
}

// checkDatabase connects (PostgreSQL) without migrating anything.
func (e *Env) checkDatabase(ctx context.Context) error {
	if e.DatabaseURL == "" {
		return nil // SQLite: the file is created on first run
	}
	db, err := sql.Open("pgx", e.DatabaseURL)
	if err != nil {
		return fmt.Errorf("--database-url: %w", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("--database-url: cannot connect: %w", err)
	}
	return nil
}

func newHealth(e *Env) *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Ask a running daemon's /readyz (for container health checks); exit 1 when not ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return fmt.Errorf("--url: %w", err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s answered %s", url, resp.Status)
			}
			fmt.Fprintln(e.Stdout, "ready")
			return nil
		},
	}
	addr := envOr(e.Getenv, "POOL_LISTEN", "127.0.0.1:8080")
	addr = strings.Replace(addr, "0.0.0.0:", "127.0.0.1:", 1)
	cmd.Flags().StringVar(&url, "url", "http://"+addr+"/readyz", "readiness URL")
	return cmd
}
