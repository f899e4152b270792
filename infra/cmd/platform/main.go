// Command platform is the thin main behind Pulumi.yaml: `pulumi up -s dev|prod` from the
// repository root runs it. It reads the stack configuration (namespace "tenantpool", files in
// stacks/), builds a platform.Config and runs platform.Program; the program itself never reads
// configuration.
//
// Stack configuration keys (tenantpool:<key>):
//
//	domain               apex domain; "localhost" for local development
//	hosts                list of {name, dockerUrl, address, capacity, sshOpts, dockerApiVersion};
//	                     the first is primary. dockerApiVersion is the host's Docker Engine API
//	                     version, quoted ("1.41"; default "1.41", Engine 20.10, the minimum)
//	network              tenants' network name (default tenantpool-tenants)
//	proxyImage           Traefik v3 image pinned by digest
//	landingAddress       apex record target (default: the primary host's address)
//	tls                  {mode: selfsigned | cloudflare-origin | acme-dns01, acmeEmail, acmeCaServer}
//	cloudflareZoneId     Cloudflare zone id (not for a local domain)
//	cloudflareApiToken   secret: Cloudflare API token (DNS edit, SSL and certificates edit)
//	originCertificate    PEM origin certificate (tls mode cloudflare-origin)
//	originPrivateKey     secret: its PEM private key
//	acmeDnsToken         secret: Cloudflare token for DNS-01 (tls mode acme-dns01)
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/axiestudio/tenantpool/infra/platform"
)

// Namespace is the stack configuration namespace (the project name).
const Namespace = "tenantpool"

func main() { pulumi.Run(run) }

func run(ctx *pulumi.Context) error {
	cfg, err := load(config.New(ctx, Namespace))
	if err != nil {
		return err
	}
	return platform.Program(cfg)(ctx)
}

// load builds the platform configuration from the stack configuration. Secrets are read as plain
// strings (the program turns them back into Pulumi secrets); platform.Config.Validate does the
// checking.
func load(c *config.Config) (platform.Config, error) {
	cfg := platform.Config{
		Domain:         c.Get("domain"),
		Network:        c.Get("network"),
		ProxyImage:     c.Get("proxyImage"),
		LandingAddress: c.Get("landingAddress"),
	}
	if err := c.TryObject("hosts", &cfg.Hosts); err != nil {
		return platform.Config{}, err
	}
	if err := c.GetObject("tls", &cfg.TLS); err != nil {
		return platform.Config{}, err
	}
	cfg.TLS.OriginCertificate = c.Get("originCertificate")
	cfg.TLS.OriginPrivateKey = c.Get("originPrivateKey")
	cfg.TLS.ACMEDNSToken = c.Get("acmeDnsToken")
	if zone := c.Get("cloudflareZoneId"); zone != "" {
		cfg.Cloudflare = &platform.CloudflareConfig{ZoneID: zone, APIToken: c.Get("cloudflareApiToken")}
	}
	return cfg, nil
}
