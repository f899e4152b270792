package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/shop"
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
	// The Stripe API: its key (POOL_STRIPE_API_KEY, also used by the storefront), an optional
	// base URL override (tests: stripe-mock), and the mode events must be in.
	apiKey   string
	apiURL   string
	livemode bool
	maxSeats int
	pastDue  time.Duration
	term     time.Duration
	smtp     delivery.Config
	tmpl     *delivery.Templates
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
	errs = append(errs, e.stripeAPISettings(&o))
	for _, d := range []struct {
		name string
		to   *time.Duration
		def  time.Duration
	}{{"POOL_SUSPEND_GRACE", &o.grace, 30 * 24 * time.Hour}, {"POOL_PAST_DUE_GRACE", &o.pastDue, 7 * 24 * time.Hour},
		{"POOL_PAYMENT_TERM", &o.term, 30 * 24 * time.Hour}} {
		*d.to = d.def
		if v := e.Getenv(d.name); v != "" {
			if *d.to, err = parseTimeout(v); err != nil {
				bad(fmt.Errorf("%s: %w", d.name, err))
			}
		}
	}
	return o, errors.Join(errs...)
}

// stripeAPISettings reads the Stripe API key (POOL_STRIPE_API_KEY / _FILE), the API base URL
// override (POOL_STRIPE_API_URL) and the mode (POOL_STRIPE_LIVEMODE, else the key's prefix).
func (e *Env) stripeAPISettings(o *ordersSettings) error {
	var errs []error
	bad := func(err error) { errs = append(errs, err) }
	key, err := e.readSecretEnv("POOL_STRIPE_API_KEY")
	if err != nil {
		bad(err)
	}
	live, known := orders.LivemodeOfKey(key)
	switch {
	case err != nil:
	case key == "":
		bad(errors.New("POOL_STRIPE_API_KEY is required with Stripe orders: the line items of a paid session are read from the Stripe API"))
	case !known:
		bad(errors.New("POOL_STRIPE_API_KEY: want a secret or restricted key (sk_live_, sk_test_, rk_live_, rk_test_)"))
	}
	o.apiKey, o.livemode = key, live
	if v := strings.TrimSpace(e.Getenv("POOL_STRIPE_LIVEMODE")); v != "" {
		b, err := strconv.ParseBool(v)
		switch {
		case err != nil:
			bad(fmt.Errorf("POOL_STRIPE_LIVEMODE %q: want true or false", v))
		case known && b != live:
			bad(fmt.Errorf("POOL_STRIPE_LIVEMODE=%t disagrees with the mode of POOL_STRIPE_API_KEY", b))
		default:
			o.livemode = b
		}
	}
	if v := e.Getenv("POOL_STRIPE_API_URL"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			bad(fmt.Errorf("POOL_STRIPE_API_URL %q: want an http(s) URL", v))
		} else {
			o.apiURL = strings.TrimSuffix(v, "/")
		}
	}
	o.maxSeats = 50
	if v := e.Getenv("POOL_MAX_SEATS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			bad(fmt.Errorf("POOL_MAX_SEATS %q: want a number from 1 to 10000", v))
		} else {
			o.maxSeats = n
		}
	}
	return errors.Join(errs...)
}

// mailConfig adds the e-mail and Stripe orders settings of the environment to cfg: Stripe
// orders when a webhook secret is set, the SMTP server when orders or operator alerts need it.
func (e *Env) mailConfig(cfg *daemon.Config) error {
	var o ordersSettings
	switch {
	case e.ordersEnabled():
		var err error
		if o, err = e.ordersSettings(); err != nil {
			return err
		}
		cfg.Orders = &daemon.Orders{Secrets: o.secrets, Prices: o.prices, Grace: o.grace,
			StripeAPIKey: o.apiKey, StripeAPIURL: o.apiURL, Livemode: o.livemode, MaxSeats: o.maxSeats,
			PastDueGrace: o.pastDue, PaymentTerm: o.term,
			SupportContact: e.Getenv("POOL_SUPPORT_CONTACT"), UpsellURL: e.upsellURL(), BillingURL: e.Getenv("POOL_BILLING_URL")}
	case cfg.OperatorEmail != "":
		var err error
		if o, err = e.smtpSettings(); err != nil {
			return err
		}
	default:
		return nil
	}
	cfg.Mail = &daemon.Mail{SMTP: o.smtp, Templates: o.tmpl}
	return nil
}

func newOrders(e *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "orders", Short: "Stripe orders"}
	var state string
	list := &cobra.Command{
		Use:   "list",
		Short: "List orders, oldest first, with why a held order waits for the operator",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := store.OrderFilter{State: store.OrderState(state)}
			switch f.State {
			case "", store.OrderHeld, store.OrderPending, store.OrderClaimed, store.OrderDelivered:
			default:
				return fmt.Errorf("--state %q: want held, pending, claimed or delivered", state)
			}
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				os, err := s.ListOrders(ctx, f)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ORDER\tSTATE\tTIER\tSEATS\tEMAIL\tACCOUNT\tENDED\tREASON")
				for _, o := range os {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\n", o.ID, o.State, o.Tier, max(o.Seats, 1), o.CustomerEmail,
						o.AccountID, o.Ended, o.LastError)
				}
				return w.Flush()
			})
		},
	}
	list.Flags().StringVar(&state, "state", "", "only orders in this state (held, pending, claimed, delivered)")
	cmd.AddCommand(list)
	cmd.AddCommand(&cobra.Command{
		Use:   "resend ORDER",
		Short: "Send an order's credentials e-mail again, with a fresh password (the daemon sends it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !e.ordersEnabled() {
				return errors.New("Stripe orders are not configured (POOL_STRIPE_WEBHOOK_SECRET)")
			}
			cfg := daemon.Config{Log: e.Log, Tiers: e.Tiers, Prefix: e.Prefix}
			if err := e.mailConfig(&cfg); err != nil {
				return err
			}
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				n, err := daemon.Resend(ctx, cfg, s, args[0])
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

// upsellURL is the Basic customers' upgrade link in the credentials e-mail: POOL_UPSELL_URL,
// else, with the storefront's public URL, the Buy button (POST /buy/<tier>: a link cannot
// POST) of the tier with the fewest custom domains above none on the pricing page,
// <POOL_PUBLIC_URL>/pricing#tp-tier-<tier>.
func (e *Env) upsellURL() string {
	if u := e.Getenv("POOL_UPSELL_URL"); u != "" {
		return u
	}
	base, err := shop.ParsePublicURL(e.Getenv("POOL_PUBLIC_URL"))
	if err != nil || base == "" {
		return ""
	}
	var up *pool.Tier
	for _, t := range e.Tiers {
		if t.CustomDomains > 0 && (up == nil || t.CustomDomains < up.CustomDomains || (t.CustomDomains == up.CustomDomains && t.Name < up.Name)) {
			up = &t
		}
	}
	if up == nil {
		return ""
	}
	return strings.TrimSuffix(base, "/") + "/pricing#tp-tier-" + up.Name
}
