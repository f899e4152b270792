package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/store"
)

// ordersEnabled reports whether Stripe orders are configured (a webhook signing secret is set).
func (e *Env) ordersEnabled() bool {
	return e.Getenv("POOL_STRIPE_WEBHOOK_SECRET") != "" || e.Getenv("POOL_STRIPE_WEBHOOK_SECRET_FILE") != ""
}

// readSecretEnv returns the value of NAME, or the content of the file named by NAME_FILE.
func (e *Env) readSecretEnv(name string) (string, error) {
	v, file := e.Getenv(name), e.Getenv(name+"_FILE")
	if v != "" && file != "" {
		return "", fmt.Errorf("set %s or %s_FILE, not both", name, name)
	}
	if file == "" {
		return v, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(data)), nil
}

// ordersSettings are the Stripe orders settings read from the environment.
type ordersSettings struct {
	secrets []string
	prices  map[string]string
	grace   time.Duration
	smtp    delivery.Config
	tmpl    *delivery.Templates
}

// smtpSettings reads and validates the SMTP and template environment (e-mail to customers and
// to the operator), reporting every problem at once.
func (e *Env) smtpSettings() (ordersSettings, error) {
	var (
		o    ordersSettings
		errs []error
		err  error
	)
	bad := func(err error) { errs = append(errs, err) }
	o.smtp = delivery.Config{Host: e.Getenv("POOL_SMTP_HOST"), Username: e.Getenv("POOL_SMTP_USERNAME"), From: e.Getenv("POOL_SMTP_FROM")}
	if o.smtp.Host == "" {
		bad(errors.New("POOL_SMTP_HOST is required to send e-mail (Stripe orders, operator alerts)"))
	}
	if o.smtp.From == "" {
		bad(errors.New("POOL_SMTP_FROM is required to send e-mail (Stripe orders, operator alerts)"))
	}
	if o.smtp.TLS, err = delivery.ParseTLSMode(envOr(e.Getenv, "POOL_SMTP_TLS", "starttls")); err != nil {
		bad(fmt.Errorf("POOL_SMTP_TLS: %w", err))
	}
	if v := e.Getenv("POOL_SMTP_PORT"); v != "" {
		if o.smtp.Port, err = strconv.Atoi(v); err != nil || o.smtp.Port < 1 || o.smtp.Port > 65535 {
			bad(fmt.Errorf("POOL_SMTP_PORT %q: want a port number", v))
		}
	}
	if o.smtp.Password, err = e.readSecretEnv("POOL_SMTP_PASSWORD"); err != nil {
		bad(err)
	}
	if o.tmpl, err = delivery.LoadTemplates(e.Getenv("POOL_EMAIL_TEMPLATES")); err != nil {
		bad(fmt.Errorf("POOL_EMAIL_TEMPLATES: %w", err))
	}
	return o, errors.Join(errs...)
}

// ordersSettings reads and validates the orders environment, reporting every problem at once.
func (e *Env) ordersSettings() (ordersSettings, error) {
	o, err := e.smtpSettings()
	errs := []error{err}
	bad := func(err error) { errs = append(errs, err) }
	o.grace = 30 * 24 * time.Hour
	secrets, err := e.readSecretEnv("POOL_STRIPE_WEBHOOK_SECRET")
	if err != nil {
		bad(err)
	}
	for _, line := range strings.FieldsFunc(secrets, func(r rune) bool { return r == ',' || r == '\n' }) {
		if line = strings.TrimSpace(line); line != "" {
			if !strings.HasPrefix(line, "whsec_") {
				bad(errors.New("POOL_STRIPE_WEBHOOK_SECRET: every secret must start with whsec_"))
				break
			}
			o.secrets = append(o.secrets, line)
		}
	}
	if o.prices, err = orders.ParsePrices(e.Getenv("POOL_STRIPE_PRICES")); err != nil {
		bad(fmt.Errorf("POOL_STRIPE_PRICES: %w", err))
	}
	for id, tier := range o.prices {
		if _, err := e.Tiers.Get(tier); err != nil {
			bad(fmt.Errorf("POOL_STRIPE_PRICES: %s: %w", id, err))
		}
	}
	if v := e.Getenv("POOL_SUSPEND_GRACE"); v != "" {
		if o.grace, err = parseTimeout(v); err != nil {
			bad(fmt.Errorf("POOL_SUSPEND_GRACE: %w", err))
		}
	}
	return o, errors.Join(errs...)
}

// ordersService builds the Stripe orders service from the environment.
func (e *Env) ordersService(s *store.Store, prov pool.Provisioner, trigger func(), observe func(string, time.Duration, error)) (*orders.Service, error) {
	o, err := e.ordersSettings()
	// The tenants' Langflow rotates passwords, unless the provisioner knows better (the test
	// double's tenants have no Langflow).
	var rotator orders.Rotator = orders.LangflowRotator{Gate: langflow.NewGate(langflow.GateOptions{Logger: e.Log})}
	if r, ok := prov.(orders.Rotator); ok {
		rotator = r
	}
	suspender, ok := prov.(orders.Suspender)
	if !ok {
		err = errors.Join(err, errors.New("the provisioner cannot suspend tenants, which Stripe subscriptions need"))
	}
	if err != nil {
		return nil, err
	}
	sender, err := delivery.NewSender(o.smtp, o.tmpl)
	if err != nil {
		return nil, err
	}
	return orders.New(orders.Config{
		Store: s, Tiers: e.Tiers, Mailer: sender, Prefix: e.Prefix, Secrets: o.secrets, Prices: o.prices,
		Suspender: suspender, Rotator: rotator, Trigger: trigger, ObserveEmail: observe, Grace: o.grace, From: o.smtp.From,
		SupportContact: e.Getenv("POOL_SUPPORT_CONTACT"), UpsellURL: e.Getenv("POOL_UPSELL_URL"), BillingURL: e.Getenv("POOL_BILLING_URL"),
		Log: e.Log,
	})
}

func newOrders(e *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "orders", Short: "Stripe orders"}
	cmd.AddCommand(&cobra.Command{
		Use:   "resend ORDER",
		Short: "Send an order's credentials e-mail again, with a fresh password (the daemon sends it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !e.ordersEnabled() {
				return errors.New("Stripe orders are not configured (POOL_STRIPE_WEBHOOK_SECRET)")
			}
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				prov, err := e.Provisioner(ctx, s)
				if errors.Is(err, errNotConfigured) {
					prov = unprovisioned{err} // a resend needs no provisioning
				} else if err != nil {
					return err
				}
				svc, err := e.ordersService(s, prov, nil, nil)
				if err != nil {
					return err
				}
				n, err := svc.Resend(ctx, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "resend %d of order %s queued\n", n, args[0])
				return nil
			})
		},
	})
	return cmd
}

// adminAPI builds the admin API when POOL_ADMIN_TOKEN (or _FILE) is set; nil when it is not.
func (e *Env) adminAPI(s *store.Store, trigger func(), resend func(context.Context, string) (int, error)) (*admin.API, error) {
	raw, err := e.readSecretEnv("POOL_ADMIN_TOKEN")
	if err != nil {
		return nil, err
	}
	tokens := admin.ParseTokens(raw)
	if len(tokens) == 0 {
		return nil, nil
	}
	return admin.New(admin.Config{Store: s, Tiers: e.Tiers, Prefix: e.Prefix, Tokens: tokens, Resend: resend, Trigger: trigger, Log: e.Log})
}
