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

// ordersService builds the Stripe orders service from the environment. Every problem is
// reported at once.
func (e *Env) ordersService(s *store.Store, prov pool.Provisioner, trigger func(), observe func(string, time.Duration, error)) (*orders.Service, error) {
	var errs []error
	bad := func(err error) { errs = append(errs, err) }

	secrets, err := e.readSecretEnv("POOL_STRIPE_WEBHOOK_SECRET")
	if err != nil {
		bad(err)
	}
	var secretList []string
	for _, line := range strings.FieldsFunc(secrets, func(r rune) bool { return r == ',' || r == '\n' }) {
		if line = strings.TrimSpace(line); line != "" {
			if !strings.HasPrefix(line, "whsec_") {
				bad(errors.New("POOL_STRIPE_WEBHOOK_SECRET: every secret must start with whsec_"))
				break
			}
			secretList = append(secretList, line)
		}
	}
	prices, err := orders.ParsePrices(e.Getenv("POOL_STRIPE_PRICES"))
	if err != nil {
		bad(fmt.Errorf("POOL_STRIPE_PRICES: %w", err))
	}
	grace := 30 * 24 * time.Hour
	if v := e.Getenv("POOL_SUSPEND_GRACE"); v != "" {
		if grace, err = parseTimeout(v); err != nil {
			bad(fmt.Errorf("POOL_SUSPEND_GRACE: %w", err))
		}
	}
	smtp := delivery.Config{Host: e.Getenv("POOL_SMTP_HOST"), Username: e.Getenv("POOL_SMTP_USERNAME"), From: e.Getenv("POOL_SMTP_FROM")}
	if smtp.Host == "" {
		bad(errors.New("POOL_SMTP_HOST is required when Stripe orders are enabled"))
	}
	if smtp.From == "" {
		bad(errors.New("POOL_SMTP_FROM is required when Stripe orders are enabled"))
	}
	if smtp.TLS, err = delivery.ParseTLSMode(envOr(e.Getenv, "POOL_SMTP_TLS", "starttls")); err != nil {
		bad(fmt.Errorf("POOL_SMTP_TLS: %w", err))
	}
	if v := e.Getenv("POOL_SMTP_PORT"); v != "" {
		if smtp.Port, err = strconv.Atoi(v); err != nil || smtp.Port < 1 || smtp.Port > 65535 {
			bad(fmt.Errorf("POOL_SMTP_PORT %q: want a port number", v))
		}
	}
	if smtp.Password, err = e.readSecretEnv("POOL_SMTP_PASSWORD"); err != nil {
		bad(err)
	}
	tmpl, err := delivery.LoadTemplates(e.Getenv("POOL_EMAIL_TEMPLATES"))
	if err != nil {
		bad(fmt.Errorf("POOL_EMAIL_TEMPLATES: %w", err))
	}
	// The tenants' Langflow rotates passwords, unless the provisioner knows better (the test
	// double's tenants have no Langflow).
	var rotator orders.Rotator = orders.LangflowRotator{Gate: langflow.NewGate(langflow.GateOptions{Logger: e.Log})}
	if r, ok := prov.(orders.Rotator); ok {
		rotator = r
	}
	suspender, ok := prov.(orders.Suspender)
	if !ok {
		bad(errors.New("the provisioner cannot suspend tenants, which Stripe subscriptions need"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sender, err := delivery.NewSender(smtp, tmpl)
	if err != nil {
		return nil, err
	}
	return orders.New(orders.Config{
		Store: s, Tiers: e.Tiers, Mailer: sender, Prefix: e.Prefix, Secrets: secretList, Prices: prices,
		Suspender: suspender, Rotator: rotator,
		Trigger: trigger, ObserveEmail: observe, Grace: grace, From: smtp.From,
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
