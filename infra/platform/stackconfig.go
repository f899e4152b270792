package platform

// Namespace is the stack configuration namespace of the platform: the project name in
// Pulumi.yaml. Keys are tenantpool:<key>.
const Namespace = "tenantpool"

// StackConfig reads stack configuration values of one namespace, keys without the namespace.
// Object values are JSON, as Pulumi stores them. *config.Config (a running program's view,
// `pulumi up` through infra/cmd/platform) satisfies it, and so does the stack configuration the
// Automation API driver (infra/deploy) reads from the stack file before it runs the program.
type StackConfig interface {
	// Get returns the value of key, "" when it is not set.
	Get(key string) string
	// GetObject decodes the value of key into output; a key that is not set leaves output as is.
	GetObject(key string, output any) error
	// TryObject decodes the value of key into output; a key that is not set is an error.
	TryObject(key string, output any) error
}

// ConfigFromStack builds the platform configuration from the stack configuration (keys are
// listed in infra/cmd/platform's package comment). Secrets are read as plain strings (the
// program turns them back into Pulumi secrets); Config.Validate does the checking.
func ConfigFromStack(c StackConfig) (Config, error) {
	cfg := Config{
		Domain:         c.Get("domain"),
		CompanyDomain:  c.Get("companyDomain"),
		Network:        c.Get("network"),
		Bridge:         c.Get("bridge"),
		ProxyImage:     c.Get("proxyImage"),
		PooldImage:     c.Get("pooldImage"),
		LandingAddress: c.Get("landingAddress"),
	}
	if err := c.GetObject("tenantResolvers", &cfg.TenantResolvers); err != nil {
		return Config{}, err
	}
	if err := c.GetObject("edgePorts", &cfg.EdgePorts); err != nil {
		return Config{}, err
	}
	if err := c.TryObject("hosts", &cfg.Hosts); err != nil {
		return Config{}, err
	}
	if err := c.GetObject("tls", &cfg.TLS); err != nil {
		return Config{}, err
	}
	cfg.TLS.OriginCertificate = c.Get("originCertificate")
	cfg.TLS.OriginPrivateKey = c.Get("originPrivateKey")
	cfg.TLS.ACMEDNSToken = c.Get("acmeDnsToken")
	if zone := c.Get("cloudflareZoneId"); zone != "" {
		cfg.Cloudflare = &CloudflareConfig{ZoneID: zone, APIToken: c.Get("cloudflareApiToken")}
	}
	return cfg, nil
}
