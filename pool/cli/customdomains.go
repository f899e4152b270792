package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/shop"
	"github.com/axiestudio/tenantpool/pool/store"
)

// domainSettings reads the custom-domain settings: on (non-nil) when POOL_CUSTOM_DOMAIN_TARGET
// is set, which then needs Cloudflare (--cloudflare-zone-id, POOL_CLOUDFLARE_API_TOKEN). It
// reads no key (config check writes nothing): domainsConfig adds the links' signing key.
func (e *Env) domainSettings() (*daemon.Domains, error) {
	target := e.Getenv("POOL_CUSTOM_DOMAIN_TARGET")
	if target == "" {
		return nil, nil
	}
	var errs []error
	f := e.provision
	cf, err := f.cloudflareSettings(e)
	if err != nil {
		errs = append(errs, err)
	} else if cf == nil {
		errs = append(errs, fmt.Errorf("POOL_CUSTOM_DOMAIN_TARGET is set: custom domains need Cloudflare for SaaS; %s", cloudflareHint))
	}
	if _, err := pool.NormalizeHostname(target); err != nil {
		errs = append(errs, fmt.Errorf("POOL_CUSTOM_DOMAIN_TARGET: %w", err))
	}
	d := &daemon.Domains{Target: target, APIURL: e.Getenv("POOL_CLOUDFLARE_API_URL"), Platform: []string{f.domain}}
	if f.companyDomain != "" {
		d.Platform = append(d.Platform, f.companyDomain)
	}
	if cf != nil {
		d.Cloudflare = *cf
	}
	if v := e.Getenv("POOL_CUSTOM_DOMAIN_EXPIRY"); v != "" {
		if d.Expiry, err = time.ParseDuration(v); err != nil || d.Expiry < time.Hour {
			errs = append(errs, fmt.Errorf("POOL_CUSTOM_DOMAIN_EXPIRY %q: want a duration of at least 1h, e.g. 168h", v))
		}
	}
	if u := e.Getenv("POOL_PUBLIC_URL"); u != "" {
		if d.PublicURL, err = shop.ParsePublicURL(u); err != nil {
			errs = append(errs, fmt.Errorf("POOL_PUBLIC_URL: %w", err))
		}
	}
	if d.APIURL != "" {
		if _, err := shop.ParsePublicURL(d.APIURL); err != nil {
			errs = append(errs, fmt.Errorf("POOL_CLOUDFLARE_API_URL: %w", err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return d, nil
}

// domainsConfig adds the custom-domain settings to cfg.
func (e *Env) domainsConfig(cfg *daemon.Config) error {
	d, err := e.domainSettings()
	if err != nil || d == nil {
		return err
	}
	keyring, err := e.Keyring()
	if err != nil {
		return err
	}
	d.SigningKey = keyring.Oldest()
	cfg.Domains = d
	return nil
}

// domainOps are the custom-domain operations on s; an error when custom domains are off.
func (e *Env) domainOps(s *store.Store) (*admin.DomainOps, error) {
	d, err := e.domainSettings()
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, errors.New("custom domains are off: set POOL_CUSTOM_DOMAIN_TARGET (the CNAME target, the zone's fallback origin) and Cloudflare (" + cloudflareHint + ")")
	}
	return admin.NewDomainOps(s, e.Tiers, &admin.Domains{Platform: d.Platform}, e.Log), nil
}

func newDomains(e *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "domains",
		Short: "Custom domains of sold accounts: attach, detach, list (a running daemon applies them)",
	}
	attach := &cobra.Command{
		Use:   "attach ID|SLUG HOSTNAME",
		Short: "Attach a customer's own hostname to an account (within its tier's allowance); the customer is e-mailed the DNS records",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				ops, err := e.domainOps(s)
				if err != nil {
					return err
				}
				d, err := ops.AttachDomain(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "%s attached to %s (%s); the daemon applies it and e-mails the DNS records\n", d.Hostname, d.Slug, d.State)
				return nil
			})
		},
	}
	detach := &cobra.Command{
		Use:   "detach ID|SLUG HOSTNAME",
		Short: "Detach a hostname: the daemon removes its route and Cloudflare custom hostname, then frees the name",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				ops, err := e.domainOps(s)
				if err != nil {
					return err
				}
				d, err := ops.DetachDomain(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "%s detaching from %s\n", d.Hostname, d.Slug)
				return nil
			})
		},
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [ID|SLUG]",
		Short: "List custom domains (of one account, or all) with their state and Cloudflare's status",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				ref := ""
				if len(args) == 1 {
					ref = args[0]
				}
				// Listing needs no Cloudflare: it only reads the store.
				ds, err := admin.NewDomainOps(s, e.Tiers, &admin.Domains{}, e.Log).ListDomains(ctx, ref)
				if err != nil {
					return err
				}
				views := make([]admin.DomainView, 0, len(ds))
				for _, d := range ds {
					views = append(views, admin.ViewDomain(d))
				}
				if asJSON {
					enc := json.NewEncoder(e.Stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(views)
				}
				tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ACCOUNT\tHOSTNAME\tSTATE\tCLOUDFLARE\tSSL\tREASON")
				for _, v := range views {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Account, v.Hostname, v.State, v.CFStatus, v.SSLStatus, v.Reason)
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "JSON instead of a table")
	cmd.AddCommand(attach, detach, list)
	return cmd
}
