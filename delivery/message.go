package delivery

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"strings"
	"time"
)

// Kind names a kind of e-mail; it selects the templates and is part of the dedupe key.
type Kind string

// The kinds of e-mail tenantpool sends.
const (
	// KindCredentials carries the login of a freshly claimed account (one per paid order).
	KindCredentials Kind = "credentials"
	// KindPaymentFailed tells a customer that a subscription payment failed
	// (Stripe's invoice.payment_failed).
	KindPaymentFailed Kind = "payment_failed"
	// KindOperatorAlert tells the operator that a tenant is flagged: it keeps failing its health
	// probe after the prober re-applied its stack. CustomerEmail is then the operator's address;
	// OrderID is the tenant's order and Ref tells one flag of the tenant from the next.
	KindOperatorAlert Kind = "operator_alert"
	// KindCustomDomain tells a customer about their own hostname (Hostname): the DNS records to
	// create (DomainStep "records"), that it is live ("live"), or that it needs action
	// ("action", with Reason). Ref is the hostname and the step.
	KindCustomDomain Kind = "custom_domain"
)

// The steps of a custom-domain e-mail (Message.DomainStep).
const (
	DomainRecords = "records"
	DomainLive    = "live"
	DomainAction  = "action"
)

// DNSRecord is one DNS record a customer creates for a custom domain.
type DNSRecord struct {
	Type, Name, Value string
}

// KindDowngradeNotice tells a customer whose plan moved to a tier with fewer custom domains
// which of their domains will be detached, and when (one per plan change).
const KindDowngradeNotice Kind = "downgrade_notice"

// Kinds lists every kind, in a stable order.
var Kinds = []Kind{KindCredentials, KindPaymentFailed, KindOperatorAlert, KindDowngradeNotice, KindCustomDomain}

// Message is everything one e-mail is rendered from. Templates see it as their data ("{{.LoginURL}}").
//
// Message holds a plaintext password: its String, GoString and LogValue methods leave it out, so
// logging a Message (or printing it with %v, %+v or %#v) never shows it.
type Message struct {
	Kind    Kind
	OrderID string // the order this e-mail belongs to; part of the dedupe key
	// Ref tells several e-mails of one kind for one order apart, e.g. the Stripe invoice id of a
	// failed payment (one notice per failed invoice). Empty for credentials.
	Ref string

	CustomerName  string // may be empty; used in the greeting and the To header
	CustomerEmail string // bare address, e.g. ada@example.com
	Tier          string

	LoginURL string // credentials: the account's login page
	Username string // credentials
	Password string // credentials; secret
	// Logins lists every account of an order of several seats (credentials); the fields above
	// then hold seat 1's. Empty for a single account, whose e-mail is unchanged.
	Logins []Login

	SupportContact string // e-mail address or URL; optional
	// UpsellURL, when set, adds the custom-domain upsell line with this link. The caller sets it
	// for tiers that can buy a custom domain upgrade; the templates do not look at the tier.
	UpsellURL string
	// BillingURL is where the customer updates the payment method (payment_failed); optional.
	BillingURL string

	// Operator alerts: the flagged tenant, how many health probes in a row failed, and the last
	// failure's reason. Never a secret.
	Slug      string
	TenantURL string
	Failures  int
	Reason    string

	// Custom domains: the hostname, the step (DomainRecords, DomainLive, DomainAction), the
	// records to create and the customer's domain page (optional). Reason says what needs
	// action. Never a secret.
	Hostname   string
	DomainStep string
	DNSRecords []DNSRecord
	DomainURL  string
	// Downgrade notices: the custom domains beyond the new tier's allowance and when they are
	// detached.
	Domains  []string
	DetachAt time.Time

	// From is the operator's sender address ("Axie Studio <hello@example.com>"). When empty the
	// Sender's configured From is used.
	From string
}

// Login is one account's login in a credentials e-mail of several seats. Password is secret.
type Login struct {
	Seat     int // 1-based
	LoginURL string
	Username string
	Password string
}

// String leaves the password out.
func (l Login) String() string { return fmt.Sprintf("seat %d: %s", l.Seat, l.Username) }

// GoString keeps %#v from printing the password.
func (l Login) GoString() string { return "delivery.Login{" + l.String() + "}" }

// DedupeKey identifies this e-mail across replays and restarts: the job queue must hold at most
// one delivery job per key, and the Message-ID is derived from it.
func (m Message) DedupeKey() string {
	k := string(m.Kind) + ":" + m.OrderID
	if m.Ref != "" {
		k += ":" + m.Ref
	}
	return k
}

// MessageID returns the Message-ID (without angle brackets) that Send puts on this e-mail. It is
// a pure function of the dedupe key and the sender domain, so a resend carries the same id.
func (m Message) MessageID(from string) string {
	sum := sha256.Sum256([]byte(m.DedupeKey()))
	domain := "tenantpool.invalid"
	if a, err := mail.ParseAddress(from); err == nil {
		if i := strings.LastIndexByte(a.Address, '@'); i >= 0 && i < len(a.Address)-1 {
			domain = a.Address[i+1:]
		}
	}
	return fmt.Sprintf("%s.%s@%s", strings.ReplaceAll(string(m.Kind), "_", "-"), hex.EncodeToString(sum[:16]), domain)
}

// String describes the e-mail without any secret.
func (m Message) String() string {
	return fmt.Sprintf("%s e-mail for order %q", m.Kind, m.OrderID)
}

// GoString keeps %#v from printing the password.
func (m Message) GoString() string { return "delivery.Message{" + m.String() + "}" }

// LogValue implements slog.LogValuer: identifying fields only, never the password.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kind", string(m.Kind)),
		slog.String("order", m.OrderID),
		slog.String("tier", m.Tier),
	)
}

// errInvalid marks a message that can never be sent as it is.
var errInvalid = errors.New("invalid message")

// Validate reports what is missing or malformed. An invalid message is a permanent failure.
func (m Message) Validate() error {
	var problems []string
	known := false
	for _, k := range Kinds {
		known = known || m.Kind == k
	}
	if !known {
		problems = append(problems, fmt.Sprintf("unknown kind %q", m.Kind))
	}
	if m.OrderID == "" {
		problems = append(problems, "no order id")
	}
	if a, err := mail.ParseAddress(m.CustomerEmail); err != nil || a.Name != "" || a.Address != m.CustomerEmail {
		problems = append(problems, fmt.Sprintf("customer e-mail %q is not a bare address", m.CustomerEmail))
	}
	if m.From != "" {
		if _, err := mail.ParseAddress(m.From); err != nil {
			problems = append(problems, fmt.Sprintf("from address %q is invalid", m.From))
		}
	}
	if m.Kind == KindCredentials {
		if !isWebURL(m.LoginURL) {
			problems = append(problems, fmt.Sprintf("login URL %q is not an http(s) URL", m.LoginURL))
		}
		if m.Username == "" {
			problems = append(problems, "no username")
		}
		if m.Password == "" {
			problems = append(problems, "no password")
		}
		for _, l := range m.Logins {
			if !isWebURL(l.LoginURL) || l.Username == "" || l.Password == "" {
				problems = append(problems, fmt.Sprintf("login of seat %d is incomplete", l.Seat))
			}
		}
	}
	if m.Kind == KindDowngradeNotice && (len(m.Domains) == 0 || m.DetachAt.IsZero()) {
		problems = append(problems, "no domains or detach time")
	}
	if m.Kind == KindOperatorAlert {
		if m.Slug == "" {
			problems = append(problems, "no tenant slug")
		}
		if m.Reason == "" {
			problems = append(problems, "no reason")
		}
	}
	if m.Kind == KindCustomDomain {
		if m.Hostname == "" {
			problems = append(problems, "no hostname")
		}
		switch m.DomainStep {
		case DomainRecords:
			if len(m.DNSRecords) == 0 {
				problems = append(problems, "no DNS records")
			}
		case DomainLive:
		case DomainAction:
			if m.Reason == "" {
				problems = append(problems, "no reason")
			}
		default:
			problems = append(problems, fmt.Sprintf("unknown domain step %q", m.DomainStep))
		}
	}
	for _, opt := range []struct{ name, url string }{{"domain page URL", m.DomainURL}, {"upsell URL", m.UpsellURL}, {"billing URL", m.BillingURL}, {"tenant URL", m.TenantURL}} {
		if opt.url != "" && !isWebURL(opt.url) {
			problems = append(problems, fmt.Sprintf("%s %q is not an http(s) URL", opt.name, opt.url))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", errInvalid, strings.Join(problems, "; "))
	}
	return nil
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
