package tenant

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
)

// ErrInvalidSpec marks a spec the program refuses before registering any resource.
var ErrInvalidSpec = errors.New("invalid tenant spec")

// DefaultStarterFlowsPath is where LANGFLOW_LOAD_FLOWS_PATH points when Spec.StarterFlowsPath is
// empty and no flows are uploaded (flows baked into the image).
const DefaultStarterFlowsPath = "/app/starter-flows"

// UploadedStarterFlowsPath is where uploaded flows (Spec.StarterFlows) go when
// Spec.StarterFlowsPath is empty: on the data volume, because the container's root filesystem
// is read-only and the Docker Engine refuses an upload to it ("container rootfs is marked
// read-only").
const UploadedStarterFlowsPath = DataDir + "/starter-flows"

// Minimum secret lengths Validate enforces.
const (
	MinPasswordLen  = 12
	MinSecretKeyLen = 32
)

// Host is the Docker host a tenant runs on, as the platform stack's "hosts" output describes it
// (platform.DecodeHosts).
type Host = platform.Host

// CloudflareConfig is the zone and API token; nil in a Spec means no Cloudflare (local domain).
type CloudflareConfig = platform.CloudflareConfig

// Spec is everything one tenant stack needs. The daemon builds it from an account row, its tier
// and the platform outputs. Secrets are plain strings here and become Pulumi secrets in the
// program.
type Spec struct {
	// Slug is the tenant's DNS label: it answers at <Slug>.<Domain>.
	Slug string
	// Domain is the platform's domain ("localhost" in development).
	Domain string
	// Tier gives the limits, the custom-domain allowance and whether branding is allowed.
	Tier pool.Tier
	// Host is the Docker host, from the platform outputs. Its DockerAPIVersion decides the
	// container's health check (StartIntervalAPIVersion).
	Host Host
	// Image is the Langflow image, pinned by digest (repo[:tag]@sha256:<hex>).
	Image string
	// OperatorUser and OperatorPassword create the Langflow superuser at the tenant's first start.
	// The password is a bootstrap value only: it sits in the container's environment, where the
	// customer's code can read it, so the daemon changes it through Langflow's API right after the
	// first healthy start and never uses it again (Langflow does not reset an existing superuser
	// from the environment). SecretKey is LANGFLOW_SECRET_KEY. Password and key are secrets.
	OperatorUser     string
	OperatorPassword string
	SecretKey        string
	// CustomDomains are the customer's own hostnames (at most Tier.CustomDomains); they need
	// Cloudflare.
	CustomDomains []string
	// ActiveDomains are the custom domains the tenant's router serves: those Cloudflare reports
	// active (hostname and certificate), a subset of CustomDomains. A domain still pending, or
	// moved or blocked, has its custom hostname at Cloudflare but no route here: a hostname is
	// routed to a tenant only once it is proven the tenant's customer's.
	ActiveDomains []string
	// Branding is white-label configuration (premium and up); zero for none.
	Branding Branding
	// Cloudflare is the zone; nil for no Cloudflare (a local domain).
	Cloudflare *CloudflareConfig
	// StarterFlowsPath is the directory in the container that LANGFLOW_LOAD_FLOWS_PATH names
	// (DefaultStarterFlowsPath when empty). The flows are either baked into the image there, or
	// given in StarterFlows.
	// Restart is an opaque token carried as a container label: changing it re-creates the
	// container (a restart on the same data volume), e.g. when the health probe re-applies a
	// tenant whose container runs but hangs. Empty = no label.
	Restart string
	// Suspended stops the tenant: the container is removed, the data volume is kept (a
	// subscription ended; resuming within the grace period brings it back).
	Suspended        bool
	StarterFlowsPath string
	// StarterFlows are flow files uploaded into StarterFlowsPath: file name (*.json) → content.
	StarterFlows map[string]string
}

// Branding is white-label configuration the container receives as TENANTPOOL_BRAND_* variables;
// the project's image layer (infra/cmd/langflow-brand) applies them to the studio's frontend.
type Branding struct {
	// AppName replaces "Langflow" in the UI (at most 64 characters).
	AppName string
	// LogoURL is an https URL of the logo, or a small data URL (pool.Brand's rules).
	LogoURL string
	// PrimaryColor is a #rrggbb colour.
	PrimaryColor string
}

// IsZero reports whether no branding is set.
func (b Branding) IsZero() bool { return b == Branding{} }

// Env is the branding as container environment, in a fixed order; empty fields are left out.
func (b Branding) Env() []string {
	var env []string
	for _, kv := range [][2]string{
		{"TENANTPOOL_BRAND_APP_NAME", b.AppName},
		{"TENANTPOOL_BRAND_LOGO_URL", b.LogoURL},
		{"TENANTPOOL_BRAND_PRIMARY_COLOR", b.PrimaryColor},
	} {
		if kv[1] != "" {
			env = append(env, kv[0]+"="+kv[1])
		}
	}
	return env
}

var (
	operatorRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{2,63}$`)
	flowFileRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\.json$`)
)

func (b Branding) validate() []error {
	if err := (pool.Brand{Name: b.AppName, Logo: b.LogoURL, Color: b.PrimaryColor}).Validate(); err != nil {
		return []error{fmt.Errorf("branding: %w", err)}
	}
	return nil
}

// Hostname is the tenant's own hostname, <slug>.<domain>.
func (s Spec) Hostname() string { return s.Slug + "." + s.Domain }

// URL is where the tenant answers: https, or http on a local domain.
func (s Spec) URL() string {
	scheme := "https"
	if platform.IsLocalDomain(s.Domain) {
		scheme = "http"
	}
	return scheme + "://" + s.Hostname()
}

// ContainerName is the tenant's container (and, with a suffix, volume) name on its host.
func (s Spec) ContainerName() string { return "tenant-" + s.Slug }

// VolumeName is the tenant's named data volume.
func (s Spec) VolumeName() string { return "tenant-" + s.Slug + "-data" }

func (s Spec) flowsPath() string {
	switch {
	case s.StarterFlowsPath != "":
		return s.StarterFlowsPath
	case len(s.StarterFlows) > 0:
		return UploadedStarterFlowsPath
	}
	return DefaultStarterFlowsPath
}

// ErrNeedsCloudflare marks a host whose tenants need a DNS record of their own (it is not the
// wildcard target of a real domain) while no Cloudflare zone is configured.
var ErrNeedsCloudflare = errors.New("Cloudflare is needed")

// ValidateDNS reports, for every host at once, what the tenants placed on it would lack for
// their names under domain with the Cloudflare settings cf (nil: none). It is the DNS rule of
// Validate, so a daemon can refuse a configuration before it places any tenant: a host that is
// not the wildcard target of a real domain needs Cloudflare and an address for each tenant's
// record (errors.Is ErrNeedsCloudflare when Cloudflare is missing); a local domain must not have
// Cloudflare. The errors wrap ErrInvalidSpec: every spec on such a host would be refused.
func ValidateDNS(domain string, cf *CloudflareConfig, hosts ...Host) error {
	var errs []error
	if len(hosts) == 0 {
		errs = dnsErrors(domain, cf, Host{WildcardTarget: true})
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		for _, err := range dnsErrors(domain, cf, h) {
			// The domain's and the zone's problems are the same for every host: say them once.
			if msg := err.Error(); !seen[msg] {
				seen[msg] = true
				errs = append(errs, err)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidSpec, errors.Join(errs...))
}

// dnsErrors are the problems of a tenant's DNS name on host h under domain, with cf.
func dnsErrors(domain string, cf *CloudflareConfig, h Host) []error {
	var errs []error
	local := platform.IsLocalDomain(domain)
	switch {
	case local && cf != nil:
		errs = append(errs, fmt.Errorf("domain %s is local: Cloudflare must not be configured", domain))
	case cf != nil:
		if err := cf.Validate(); err != nil {
			errs = append(errs, err)
		}
	case !local && !h.WildcardTarget:
		errs = append(errs, fmt.Errorf("host %s is not the wildcard target: %w for the tenant's DNS record", h.Name, ErrNeedsCloudflare))
	}
	if cf != nil && !h.WildcardTarget && h.Address == "" {
		errs = append(errs, fmt.Errorf("host %s has no address for the tenant's DNS record", h.Name))
	}
	return errs
}

// Validate reports every problem with the spec, wrapped in ErrInvalidSpec. Secret values are
// never quoted.
func (s Spec) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if !pool.ValidLabel(s.Slug) {
		add(fmt.Errorf("slug %q must be a lowercase DNS label", s.Slug))
	}
	add(platform.ValidateDomain(s.Domain))

	if s.Tier.Name == "" {
		add(fmt.Errorf("%w: the spec has no tier", pool.ErrUnknownTier))
	} else {
		add(s.Tier.Validate())
	}
	add(s.Host.Validate())
	add(platform.ValidatePinnedImage(s.Image))

	if !operatorRE.MatchString(s.OperatorUser) {
		add(fmt.Errorf("operator user %q must be 3-64 letters, digits or _.@-", s.OperatorUser))
	}
	if len(s.OperatorPassword) < MinPasswordLen {
		add(fmt.Errorf("operator password (secret) is missing or shorter than %d characters", MinPasswordLen))
	}
	if len(s.SecretKey) < MinSecretKeyLen {
		add(fmt.Errorf("secret key (secret) is missing or shorter than %d characters", MinSecretKeyLen))
	}

	errs = append(errs, dnsErrors(s.Domain, s.Cloudflare, s.Host)...)

	if n := len(s.CustomDomains); n > 0 {
		if n > s.Tier.CustomDomains {
			add(fmt.Errorf("%d custom domains, tier %s allows %d", n, s.Tier.Name, s.Tier.CustomDomains))
		}
		if s.Cloudflare == nil {
			add(errors.New("custom domains need Cloudflare (Cloudflare for SaaS custom hostnames)"))
		}
	}
	for i, d := range s.CustomDomains {
		switch err := platform.ValidateDomain(d); {
		case err != nil:
			add(fmt.Errorf("custom domain %d: %w", i+1, err))
		case !strings.Contains(d, "."):
			add(fmt.Errorf("custom domain %q must have at least two labels", d))
		case d == s.Domain || strings.HasSuffix(d, "."+s.Domain):
			add(fmt.Errorf("custom domain %q is inside the platform domain %s", d, s.Domain))
		case slices.Index(s.CustomDomains, d) != i:
			add(fmt.Errorf("custom domain %q is listed twice", d))
		}
	}

	for _, d := range s.ActiveDomains {
		if !slices.Contains(s.CustomDomains, d) {
			add(fmt.Errorf("active domain %q is not one of the custom domains", d))
		}
	}

	if !s.Branding.IsZero() && !s.Tier.Branding {
		add(fmt.Errorf("tier %s does not include branding", s.Tier.Name))
	}
	errs = append(errs, s.Branding.validate()...)

	if p := s.flowsPath(); !path.IsAbs(p) || path.Clean(p) != p {
		add(fmt.Errorf("starter flows path %q must be a clean absolute path", p))
	}
	if p := s.flowsPath(); len(s.StarterFlows) > 0 && !strings.HasPrefix(p+"/", DataDir+"/") {
		add(fmt.Errorf("starter flows path %q must be under %s to upload flows: the root filesystem is read-only", p, DataDir))
	}
	for name := range s.StarterFlows {
		if !flowFileRE.MatchString(name) {
			add(fmt.Errorf("starter flow file name %q must be a plain *.json name", name))
		}
	}

	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidSpec, errors.Join(errs...))
}
