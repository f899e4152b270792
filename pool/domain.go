package pool

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// DomainState is where a customer's own hostname is in its life:
//
//	requested ──stack applied──▶ pending ──Cloudflare: active──▶ active
//	     │                          └──moved, blocked, expired──▶ failed
//	     └─(any state) detach──▶ detaching ──stack applied──▶ (row deleted)
type DomainState string

// The custom-domain states.
const (
	// DomainRequested: the row is taken (the hostname is this tenant's), its stack is not yet
	// applied with the Cloudflare custom hostname.
	DomainRequested DomainState = "requested"
	// DomainPending: Cloudflare has the custom hostname; the customer's DNS records are awaited.
	DomainPending DomainState = "pending"
	// DomainActive: Cloudflare says the hostname and its certificate are active; the tenant's
	// router serves it.
	DomainActive DomainState = "active"
	// DomainFailed: Cloudflare moved or blocked it, or it was not verified in time; it is not
	// routed and waits for the customer (or the operator) to detach it.
	DomainFailed DomainState = "failed"
	// DomainDetaching: an operator, the customer or a downgrade detached it; the next apply of
	// the stack removes its routing and hostname, then the row goes.
	DomainDetaching DomainState = "detaching"
)

// CustomDomain is one hostname of a customer's own attached to a tenant. Its hostname is
// unique across all tenants: the row is the hostname's lock.
type CustomDomain struct {
	ID        int64
	AccountID int64
	Slug      string // the account's slug (listings)
	Hostname  string
	State     DomainState
	// Contact is the customer's e-mail address the DNS records and status changes go to; empty
	// for none (an operator's manual sale without an address).
	Contact string
	// CFStatus and SSLStatus are Cloudflare's last reported status of the custom hostname and
	// its certificate; Reason is the last problem (a failure's cause, an apply's error).
	CFStatus, SSLStatus, Reason string
	// Notified is the last state the customer was e-mailed about ("" none yet).
	Notified string
	// Attempts counts the checks since the state last changed (backoff).
	Attempts    int
	RequestedAt time.Time
	UpdatedAt   time.Time
	CheckAt     time.Time
}

// Custom-domain errors.
var (
	ErrInvalidHostname = errors.New("invalid hostname")
	ErrDomainTaken     = errors.New("the hostname is already attached to another tenant")
	ErrDomainAllowance = errors.New("the tier's custom-domain allowance is used up")
)

// NormalizeHostname turns what a customer typed into the hostname to attach, or refuses it
// with an error wrapping ErrInvalidHostname: surrounding space and one trailing dot go,
// letters are lowercased, an internationalised name becomes its A-label (punycode). It must be
// a public hostname of at least two labels under a public suffix, not an IP
// address, not a public suffix itself, at most 253 characters, and neither one of platform nor
// under it (the platform's own domains: the tenants' domain, the company's).
func NormalizeHostname(raw string, platform ...string) (string, error) {
	bad := func(format string, a ...any) (string, error) {
		return "", fmt.Errorf("%w: %s", ErrInvalidHostname, fmt.Sprintf(format, a...))
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return bad("empty")
	}
	if strings.ContainsAny(s, "/:@ \t\r\n*") {
		return bad("%q must be a bare hostname (no scheme, port, path or wildcard)", raw)
	}
	s = strings.TrimSuffix(s, ".")
	if _, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return bad("%q is an IP address, not a hostname", raw)
	}
	h, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return bad("%q is not a valid internationalised hostname: %v", raw, err)
	}
	h = strings.ToLower(h)
	if len(h) > 253 {
		return bad("%q is longer than 253 characters", raw)
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return bad("%q needs a dot: a name such as ai.yourcompany.com", raw)
	}
	for _, l := range labels {
		if !ValidLabel(l) {
			return bad("%q: %q is not a DNS label (letters, digits, hyphens; at most 63)", raw, l)
		}
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return bad("%q is an IP address, not a hostname", raw)
	}
	suffix, icann := publicsuffix.PublicSuffix(h)
	if !icann && !strings.Contains(suffix, ".") {
		return bad("%q is not under a public top-level domain", raw)
	}
	if suffix == h {
		return bad("%q is a public suffix, not a hostname of yours", raw)
	}
	for _, p := range platform {
		p = strings.TrimSuffix(strings.ToLower(p), ".")
		if p != "" && (h == p || strings.HasSuffix(h, "."+p)) {
			return bad("%q is one of the platform's own names (%s)", raw, p)
		}
	}
	return h, nil
}

// Routed reports whether the hostname is served by the tenant (Cloudflare says active).
func (d CustomDomain) Routed() bool { return d.State == DomainActive }

// Kept reports whether the tenant's stack keeps the hostname at Cloudflare: every state but
// detaching.
func (d CustomDomain) Kept() bool { return d.State != DomainDetaching }

// DomainUpdate is what a check of a domain found. The store changes the row only when it is
// still in state From (a detach meanwhile wins).
type DomainUpdate struct {
	From                        DomainState
	State                       DomainState
	CFStatus, SSLStatus, Reason string
	Notified                    string
	Attempts                    int
	CheckAt                     time.Time
}
