package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"regexp"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/axiestudio/tenantpool/infra/egress"
	"github.com/axiestudio/tenantpool/pool"
)

// DefaultNetwork is the name of the tenants' bridge network when Config.Network is empty.
const DefaultNetwork = "tenantpool-tenants"

// DefaultBridge is the Linux interface of the tenants' bridge network on every host when
// Config.Bridge is empty: the egress policy's rules name it.
const DefaultBridge = "tp-tenants"

// ErrInvalidConfig marks a platform configuration the program refuses before registering any
// resource.
var ErrInvalidConfig = errors.New("invalid platform config")

// Config is everything the platform program needs. The caller (infra/cmd/platform, or a test)
// builds it; secrets are plain strings here and become Pulumi secrets inside the program.
type Config struct {
	// Domain is the apex tenants live under: tenants answer at <slug>.<Domain>. "localhost" (or a
	// name under .localhost) is local development: no Cloudflare, plain HTTP on port 80.
	Domain string
	// CompanyDomain is the company's own site (the shop), optional. It must not share its
	// registrable domain with Domain (see SameSite): a tenant on a sibling subdomain of the
	// company's domain could set cookies for the company's apex (cookie tossing).
	CompanyDomain string
	// Hosts are the Docker hosts. The first one is the primary: the wildcard record, the apex and
	// the Cloudflare for SaaS fallback origin point at it.
	Hosts []HostConfig
	// Network is the tenants' bridge network on every host (DefaultNetwork when empty).
	Network string
	// Bridge is the Linux interface name of that network on every host
	// (com.docker.network.bridge.name; DefaultBridge when empty), which the egress policy names.
	Bridge string
	// TenantResolvers are DNS resolvers on private addresses (a VPC's, a LAN's) that the tenants
	// may query on port 53 despite the egress policy: the hosts' upstream resolvers when they
	// are private, since Docker's embedded DNS forwards a tenant's queries from the tenant.
	TenantResolvers []string
	// EdgePorts are the unprivileged ports of the host that the edge proxy (Traefik, a non-root
	// user without capabilities) listens on; the hosts' firewall redirects the public ports 80
	// and 443 to them (DefaultEdgePorts when zero).
	EdgePorts EdgePorts
	// ProxyImage is the edge proxy (Traefik v3) image, pinned by digest: repo[:tag]@sha256:<hex>.
	ProxyImage string
	// PooldImage is the project's own image (pool/cmd/poold/deploy/Dockerfile), pinned by
	// digest: it runs the edge's Docker socket proxy (`poold edge docker-proxy`) on every host.
	PooldImage string
	// TLS selects how the edge proxy gets its certificate.
	TLS TLSConfig
	// Cloudflare is the zone of Domain. Required unless Domain is local; must be nil when it is.
	Cloudflare *CloudflareConfig
	// LandingAddress is where the apex record points (an IP address or a hostname); the primary
	// host's address when empty.
	LandingAddress string
}

// HostConfig is one Docker host as the operator configures it.
type HostConfig struct {
	// Name is a short DNS label naming the host (edge1, local).
	Name string `json:"name"`
	// DockerURL is how Pulumi reaches the Docker daemon: unix:///var/run/docker.sock or
	// ssh://user@host[:port].
	DockerURL string `json:"dockerUrl"`
	// SSHOpts are extra ssh options for an ssh:// DockerURL (e.g. "-o", "StrictHostKeyChecking=yes").
	SSHOpts []string `json:"sshOpts,omitempty"`
	// Address is the host's public address (IP or hostname) that DNS records point at.
	Address string `json:"address"`
	// Capacity is how many tenants the host may run; the daemon places tenants by it.
	Capacity int `json:"capacity"`
	// DockerAPIVersion is the Engine API version of the host's Docker daemon (empty:
	// MinDockerAPIVersion). It is carried in the hosts output, where tenant programs read it.
	DockerAPIVersion DockerAPIVersion `json:"dockerApiVersion,omitempty"`
}

// TLSMode is how the edge proxy terminates TLS.
type TLSMode string

// The TLS modes.
const (
	// TLSSelfSigned serves Traefik's self-signed default certificate on 443 and plain HTTP on 80
	// without redirect: local development only.
	TLSSelfSigned TLSMode = "selfsigned"
	// TLSCloudflareOrigin installs a Cloudflare origin certificate (for <domain> and *.<domain>)
	// as the default certificate; HTTP redirects to HTTPS.
	TLSCloudflareOrigin TLSMode = "cloudflare-origin"
	// TLSACMEDNS01 obtains a certificate for <domain> and *.<domain> from an ACME CA with the
	// DNS-01 challenge through Cloudflare; HTTP redirects to HTTPS.
	TLSACMEDNS01 TLSMode = "acme-dns01"
)

// TLSConfig configures the edge proxy's certificate. Only the fields of the chosen mode are used.
type TLSConfig struct {
	Mode TLSMode `json:"mode"`
	// OriginCertificate and OriginPrivateKey are the PEM certificate and key of a Cloudflare
	// origin certificate (TLSCloudflareOrigin). The key is a secret.
	OriginCertificate string `json:"-"`
	OriginPrivateKey  string `json:"-"`
	// ACMEEmail is the ACME account e-mail (TLSACMEDNS01).
	ACMEEmail string `json:"acmeEmail,omitempty"`
	// ACMECAServer overrides the ACME directory URL (default: Traefik's, Let's Encrypt).
	ACMECAServer string `json:"acmeCaServer,omitempty"`
	// ACMEDNSToken is a Cloudflare API token with Zone:DNS:Edit on the zone, used by the proxy
	// for DNS-01 (TLSACMEDNS01). A secret.
	ACMEDNSToken string `json:"-"`
}

// CloudflareConfig is a Cloudflare zone and a token that may manage it. It is shared with
// infra/tenant.
type CloudflareConfig struct {
	// ZoneID is the zone's id (32 hex digits).
	ZoneID string
	// APIToken is a Cloudflare API token (a secret) with DNS edit and SSL-and-certificates edit
	// (custom hostnames) on the zone.
	APIToken string
}

// Host is a Docker host as tenants and the daemon see it: one element of the platform's "hosts"
// output, and the Host of a tenant spec (tenant.Host is this type).
type Host struct {
	Name      string   `json:"name" yaml:"name"`
	DockerURL string   `json:"dockerUrl" yaml:"dockerUrl"`
	SSHOpts   []string `json:"sshOpts,omitempty" yaml:"sshOpts,omitempty"`
	Address   string   `json:"address" yaml:"address"`
	Capacity  int      `json:"capacity" yaml:"capacity"`
	// Network is the tenants' bridge network on this host.
	Network string `json:"network" yaml:"network"`
	// WildcardTarget is true for the primary host, which *.<domain> points at: its tenants need
	// no DNS record of their own.
	WildcardTarget bool `json:"wildcardTarget" yaml:"wildcardTarget"`
	// DockerAPIVersion is the Engine API version of the host's Docker daemon; empty means
	// MinDockerAPIVersion (a platform stack rolled out before the field existed, a config file
	// that leaves it out).
	DockerAPIVersion DockerAPIVersion `json:"dockerApiVersion,omitempty" yaml:"dockerApiVersion,omitempty"`
}

// LocalHost is the development host: the local Docker socket, as stacks/Pulumi.dev.yaml
// configures it (a test holds the two together). The daemon places tenants on it when it has
// neither a platform stack nor hosts.
func LocalHost() Host {
	return Host{Name: "local", DockerURL: "unix:///var/run/docker.sock", Address: "127.0.0.1", Capacity: 10,
		Network: DefaultNetwork, WildcardTarget: true, DockerAPIVersion: MinDockerAPIVersion}
}

// OutputHosts are the hosts as the "hosts" output states them (and DecodeHosts reads them back):
// the first host is the wildcard target, every host is on the tenants' network, and a host that
// states no Docker API version is output with MinDockerAPIVersion, what was assumed.
func (c Config) OutputHosts() []Host {
	out := make([]Host, len(c.Hosts))
	for i, h := range c.Hosts {
		out[i] = Host{Name: h.Name, DockerURL: h.DockerURL, SSHOpts: h.SSHOpts, Address: h.Address, Capacity: h.Capacity,
			Network: c.network(), WildcardTarget: i == 0, DockerAPIVersion: h.DockerAPIVersion.OrMin()}
	}
	return out
}

// Validate reports every problem with the host; nothing secret is quoted.
func (h Host) Validate() error {
	var errs []error
	if !pool.ValidLabel(h.Name) {
		errs = append(errs, fmt.Errorf("host name %q must be a lowercase DNS label", h.Name))
	}
	if err := ValidateDockerURL(h.DockerURL); err != nil {
		errs = append(errs, fmt.Errorf("host %s: %w", h.Name, err))
	}
	if h.Network == "" {
		errs = append(errs, fmt.Errorf("host %s: network is empty", h.Name))
	}
	if err := h.DockerAPIVersion.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("host %s: %w", h.Name, err))
	}
	return errors.Join(errs...)
}

// Output keys of the platform stack.
const (
	OutputDomain             = "domain"
	OutputCompanyDomain      = "companyDomain"
	OutputHosts              = "hosts"
	OutputNetworks           = "networks"
	OutputCustomDomainTarget = "customDomainTarget"
	OutputScheme             = "scheme"
)

// DecodeHosts converts the value of the "hosts" stack output (as the Automation API returns it:
// []any of map[string]any) into hosts.
func DecodeHosts(v any) ([]Host, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("decode hosts output: %w", err)
	}
	var hs []Host
	if err := json.Unmarshal(b, &hs); err != nil {
		return nil, fmt.Errorf("decode hosts output: %w", err)
	}
	return hs, nil
}

// IsLocalDomain reports whether d is localhost or a name under it, which browsers resolve to the
// loopback address without DNS (RFC 6761).
func IsLocalDomain(d string) bool { return d == "localhost" || strings.HasSuffix(d, ".localhost") }

// ValidateDomain checks that d is a lowercase DNS name of one or more labels, without a trailing
// dot.
func ValidateDomain(d string) error {
	if d == "" {
		return errors.New("domain is empty")
	}
	if len(d) > 253 {
		return fmt.Errorf("domain %q is longer than 253 characters", d)
	}
	for l := range strings.SplitSeq(d, ".") {
		if !pool.ValidLabel(l) {
			return fmt.Errorf("domain %q: %q is not a lowercase DNS label", d, l)
		}
	}
	return nil
}

// Site is the registrable domain of d (eTLD+1 by the public suffix list: example.co.uk for
// shop.example.co.uk), or d itself when d has none (localhost, a public suffix).
func Site(d string) string {
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	s, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return s
}

// notPublicSuffix refuses a domain that is itself a public suffix (com, co.uk, github.io):
// nobody owns one, and every site under it is a site of its own.
func notPublicSuffix(what, d string) error {
	if ValidateDomain(d) != nil {
		return nil // reported already
	}
	if ps, _ := publicsuffix.PublicSuffix(d); ps == d {
		return fmt.Errorf("%s %s is a public suffix, not a domain one can register: use a name under it (e.g. example.%s)", what, d, d)
	}
	return nil
}

// SameSite reports whether the tenant domain and the company domain share a registrable domain,
// and which: then a tenant's site and the company's are one site for browsers (cookies set for
// the registrable domain reach both).
func SameSite(tenantDomain, companyDomain string) (bool, string) {
	a, b := Site(tenantDomain), Site(companyDomain)
	return a == b, a
}

var pinnedImageRE = regexp.MustCompile(`^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[0-9a-f]{64}$`)

// ValidatePinnedImage checks that image is pinned by digest: repo[:tag]@sha256:<64 hex digits>.
func ValidatePinnedImage(image string) error {
	if !pinnedImageRE.MatchString(image) {
		return fmt.Errorf("image %q must be pinned by digest (repo[:tag]@sha256:<64 hex digits>)", image)
	}
	return nil
}

// ValidateDockerURL accepts unix:///absolute/path and ssh://[user@]host[:port].
func ValidateDockerURL(u string) error {
	switch {
	case strings.HasPrefix(u, "unix:///") && len(u) > len("unix:///"):
		return nil
	case strings.HasPrefix(u, "ssh://"):
		rest := strings.TrimPrefix(u, "ssh://")
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			rest = rest[i+1:]
		}
		if rest != "" && !strings.ContainsAny(rest, "/ ") {
			return nil
		}
	}
	return fmt.Errorf("docker URL %q must be unix:///path or ssh://[user@]host[:port]", u)
}

// validAddress accepts an IP address or a DNS name.
func validAddress(a string) bool {
	return net.ParseIP(a) != nil || ValidateDomain(a) == nil
}

// RecordType is the DNS record type that points a name at address: A, AAAA or CNAME.
func RecordType(address string) string {
	ip := net.ParseIP(address)
	switch {
	case ip == nil:
		return "CNAME"
	case ip.To4() != nil:
		return "A"
	default:
		return "AAAA"
	}
}

var zoneIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Validate reports every problem with the Cloudflare settings; the token is never quoted.
func (c CloudflareConfig) Validate() error {
	var errs []error
	if !zoneIDRE.MatchString(c.ZoneID) {
		errs = append(errs, fmt.Errorf("cloudflare zone id %q must be 32 lowercase hex digits", c.ZoneID))
	}
	if strings.TrimSpace(c.APIToken) == "" {
		errs = append(errs, errors.New("cloudflare API token (secret) is missing"))
	}
	return errors.Join(errs...)
}

// EdgePorts are the host ports the edge's entrypoints listen on in place of 80 and 443.
type EdgePorts struct {
	HTTP  int `json:"http"`
	HTTPS int `json:"https"`
}

// DefaultEdgePorts are the edge's ports when Config.EdgePorts is zero: clear of poold's 8080 and
// 9090 and of the edge's ping entrypoint.
var DefaultEdgePorts = EdgePorts{HTTP: 10080, HTTPS: 10443}

// edgePorts returns the edge's ports.
func (c Config) edgePorts() EdgePorts {
	if c.EdgePorts == (EdgePorts{}) {
		return DefaultEdgePorts
	}
	return c.EdgePorts
}

// redirects are the firewall's redirects of the public ports to the edge's.
func (c Config) redirects() []egress.Redirect {
	p := c.edgePorts()
	return []egress.Redirect{{From: 80, To: uint16(p.HTTP)}, {From: 443, To: uint16(p.HTTPS)}}
}

// validate reports every problem with the edge's ports: each unprivileged (1024–65535, so a
// user without capabilities can bind it), the two distinct, neither the ping entrypoint's.
func (p EdgePorts) validate() error {
	var errs []error
	for _, x := range []struct {
		name string
		port int
	}{{"http", p.HTTP}, {"https", p.HTTPS}} {
		if x.port < 1024 || x.port > 65535 {
			errs = append(errs, fmt.Errorf("edge port %s %d must be an unprivileged port, 1024–65535", x.name, x.port))
		}
		if x.port == pingPort {
			errs = append(errs, fmt.Errorf("edge port %s %d is the edge's ping port", x.name, x.port))
		}
	}
	if p.HTTP == p.HTTPS {
		errs = append(errs, fmt.Errorf("edge ports http and https are both %d", p.HTTP))
	}
	return errors.Join(errs...)
}

// bridge returns the tenants' bridge interface name.
func (c Config) bridge() string {
	if c.Bridge == "" {
		return DefaultBridge
	}
	return c.Bridge
}

// network returns the tenants' network name.
func (c Config) network() string {
	if c.Network == "" {
		return DefaultNetwork
	}
	return c.Network
}

// Validate reports every problem with the configuration, wrapped in ErrInvalidConfig. Secrets are
// never quoted.
func (c Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(ValidateDomain(c.Domain))
	local := IsLocalDomain(c.Domain)
	if !local {
		add(notPublicSuffix("domain", c.Domain))
	}
	if len(c.Hosts) == 0 {
		add(errors.New("no hosts configured"))
	}
	seen := map[string]bool{}
	for i, h := range c.Hosts {
		if !pool.ValidLabel(h.Name) {
			add(fmt.Errorf("hosts[%d]: name %q must be a lowercase DNS label", i, h.Name))
		} else if seen[h.Name] {
			add(fmt.Errorf("hosts[%d]: host %s defined twice", i, h.Name))
		}
		seen[h.Name] = true
		if err := ValidateDockerURL(h.DockerURL); err != nil {
			add(fmt.Errorf("host %s: %w", h.Name, err))
		}
		if !validAddress(h.Address) {
			add(fmt.Errorf("host %s: address %q must be an IP address or a DNS name", h.Name, h.Address))
		}
		if h.Capacity < 1 {
			add(fmt.Errorf("host %s: capacity %d must be ≥ 1", h.Name, h.Capacity))
		}
		if len(h.SSHOpts) > 0 && !strings.HasPrefix(h.DockerURL, "ssh://") {
			add(fmt.Errorf("host %s: sshOpts given for a non-ssh docker URL", h.Name))
		}
		if err := h.DockerAPIVersion.Validate(); err != nil {
			add(fmt.Errorf("host %s: %w", h.Name, err))
		}
	}
	if c.Network != "" && !regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`).MatchString(c.Network) {
		add(fmt.Errorf("network name %q is not a valid Docker network name", c.Network))
	}
	add(ValidatePinnedImage(c.ProxyImage))
	if err := ValidatePinnedImage(c.PooldImage); err != nil {
		add(fmt.Errorf("poold image (the edge's Docker proxy): %w", err))
	}
	if c.Bridge != "" {
		add(egress.ValidateBridge(c.Bridge))
	}
	resolvers, err := egress.ParseResolvers(c.TenantResolvers)
	add(err)
	if c.EdgePorts != (EdgePorts{}) {
		add(c.EdgePorts.validate())
	}
	if err == nil {
		add(egress.Policy{Bridge: c.bridge(), Resolvers: resolvers}.Validate())
	}
	if c.CompanyDomain != "" {
		if err := ValidateDomain(c.CompanyDomain); err != nil {
			add(fmt.Errorf("company domain: %w", err))
		} else if err := notPublicSuffix("company domain", c.CompanyDomain); err != nil {
			add(err)
		} else if same, site := SameSite(c.Domain, c.CompanyDomain); same {
			add(fmt.Errorf("tenant domain %s and company domain %s are the same site (%s): a tenant could set cookies for the company's site; give tenants a registrable domain of their own (e.g. tenants on example.app, the shop on example.com)", c.Domain, c.CompanyDomain, site))
		}
	}
	if c.LandingAddress != "" && !validAddress(c.LandingAddress) {
		add(fmt.Errorf("landing address %q must be an IP address or a DNS name", c.LandingAddress))
	}

	switch {
	case local && c.Cloudflare != nil:
		add(fmt.Errorf("domain %s is local: Cloudflare must not be configured", c.Domain))
	case !local && c.Cloudflare == nil:
		add(fmt.Errorf("domain %s needs Cloudflare (zone id and API token)", c.Domain))
	case c.Cloudflare != nil:
		add(c.Cloudflare.Validate())
	}

	switch c.TLS.Mode {
	case TLSSelfSigned:
		if !local {
			add(fmt.Errorf("tls mode %s is for a local domain only; use %s or %s for %s", TLSSelfSigned, TLSCloudflareOrigin, TLSACMEDNS01, c.Domain))
		}
	case TLSCloudflareOrigin:
		if local {
			add(fmt.Errorf("tls mode %s needs a Cloudflare domain, not %s", c.TLS.Mode, c.Domain))
		}
		if !strings.Contains(c.TLS.OriginCertificate, "BEGIN CERTIFICATE") {
			add(errors.New("tls: origin certificate is missing or not PEM"))
		}
		if !strings.Contains(c.TLS.OriginPrivateKey, "PRIVATE KEY") {
			add(errors.New("tls: origin private key (secret) is missing or not PEM"))
		}
	case TLSACMEDNS01:
		if local {
			add(fmt.Errorf("tls mode %s needs a Cloudflare domain, not %s", c.TLS.Mode, c.Domain))
		}
		if _, err := mail.ParseAddress(c.TLS.ACMEEmail); err != nil || strings.ContainsAny(c.TLS.ACMEEmail, "<> ") {
			add(fmt.Errorf("tls: acme e-mail %q is not a plain e-mail address", c.TLS.ACMEEmail))
		}
		if strings.TrimSpace(c.TLS.ACMEDNSToken) == "" {
			add(errors.New("tls: acme DNS token (secret) is missing"))
		}
		if c.TLS.ACMECAServer != "" && !strings.HasPrefix(c.TLS.ACMECAServer, "https://") {
			add(fmt.Errorf("tls: acme CA server %q must be an https URL", c.TLS.ACMECAServer))
		}
	default:
		add(fmt.Errorf("tls mode %q must be one of %s, %s, %s", c.TLS.Mode, TLSSelfSigned, TLSCloudflareOrigin, TLSACMEDNS01))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}
