package cli

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
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
				_, err := checkDomains(e.provision.domain, e.provision.companyDomain)
				add(err)
			} else {
				add(err)
				if e.provision.platformStack != "" && set.cloudflare == nil {
					fmt.Fprintf(e.Stdout, "note: the hosts of platform stack %s are checked when serve starts: "+
						"a host other than its first (the wildcard target) needs Cloudflare: %s\n", e.provision.platformStack, cloudflareHint)
				}
			}
			// A malformed --company-domain is among validate's problems, unless it stopped at a
			// missing image; a platform stack's domains are checked when serve starts.
			if warn, err := checkDomains(e.provision.domain, e.provision.companyDomain); err == nil && warn != "" && e.provision.platformStack == "" {
				fmt.Fprintf(e.Stdout, "warning: %s\n", warn)
			}
			if c, err := e.shopSettings(); err != nil {
				add(err)
			} else if c == nil {
				fmt.Fprintln(e.Stdout, "note: storefront disabled (it needs POOL_STRIPE_API_KEY and POOL_PUBLIC_URL)")
			}
			if d, err := e.domainSettings(); err != nil {
				add(err)
			} else if d == nil {
				fmt.Fprintln(e.Stdout, "note: custom domains disabled (they need POOL_CUSTOM_DOMAIN_TARGET and Cloudflare)")
			}
			add(e.checkStorageQuotas(cmd.Context()))
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
			_, err := e.adminTokens()
			add(err)
			// The keyring is checked, never created here: config check writes nothing.
			add(e.checkKeyring())
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
			for _, name := range e.Tiers.Names() {
				if fl := e.Flows[name]; len(fl) > 0 {
					fmt.Fprintf(e.Stdout, "note: tier %s: %d starter flow(s), imported into every new studio (`poold flows deliver --tier %s` for existing ones)\n", name, len(fl), name)
				}
			}
			fmt.Fprintln(e.Stdout, "configuration ok")
			return nil
		},
	}
	f.register(check.Flags(), e.Getenv)
	cmd.AddCommand(check)
	return cmd
}

// checkStorageQuotas asks the engine of every configured host (its /info) whether it can size
// what the tiers size (disk_mb, volume_mb), and reports each tier a host cannot serve, with
// what to do. A host it cannot reach is a warning; a platform stack's hosts are checked as
// tenants are placed.
func (e *Env) checkStorageQuotas(ctx context.Context) error {
	var sized []pool.Tier
	for _, n := range e.Tiers.Names() {
		if t := e.Tiers[n]; t.SizesStorage() {
			sized = append(sized, t)
		}
	}
	if len(sized) == 0 {
		return nil
	}
	dial, hosts := e.dockerDial(), e.provision.hosts(e)
	if dial == nil || len(hosts) == 0 {
		fmt.Fprintln(e.Stdout, "note: tiers size storage (disk_mb, volume_mb): each host's engine is checked as tenants are placed")
		return nil
	}
	var errs []error
	for _, h := range hosts {
		in, err := func() (dockerhost.Info, error) {
			c, err := dial(h.DockerURL)
			if err != nil {
				return dockerhost.Info{}, err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			return c.Info(ctx)
		}()
		if err != nil {
			fmt.Fprintf(e.Stdout, "warning: host %s: cannot ask its engine whether it can size storage: %v\n", h.Name, err)
			continue
		}
		q := in.Quotas()
		for _, t := range sized {
			if t.DiskMB > 0 && !q.Layer || t.VolumeMB > 0 && !q.Volume {
				errs = append(errs, fmt.Errorf("tier %s on host %s: %s", t.Name, h.Name, q.Why))
			}
		}
	}
	return errors.Join(errs...)
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
			client := http.DefaultClient
			if strings.HasPrefix(url, "https://") {
				// Readiness of this host's own daemon, whose certificate names the public host
				// (or is self-signed): nothing secret is sent or read.
				client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
			}
			resp, err := client.Do(req)
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
	// /readyz is on the admin listener.
	addr := envOr(e.Getenv, "POOL_ADMIN_LISTEN", defaultAdminListen)
	addr = strings.Replace(addr, "0.0.0.0:", "127.0.0.1:", 1)
	if strings.HasPrefix(addr, ":") || strings.HasPrefix(addr, "[::]:") {
		addr = "127.0.0.1:" + addr[strings.LastIndex(addr, ":")+1:]
	}
	scheme := "http"
	if e.Getenv("POOL_ADMIN_TLS_CERT") != "" {
		scheme = "https"
	}
	cmd.Flags().StringVar(&url, "url", scheme+"://"+addr+"/readyz", "readiness URL (default: /readyz on POOL_ADMIN_LISTEN)")
	return cmd
}
