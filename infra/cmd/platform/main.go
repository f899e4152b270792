// Command platform is the thin main behind Pulumi.yaml: `pulumi up -s dev|prod` from the
// repository root runs it (this needs the official Pulumi CLI with its Go language host;
// `poold platform up --stack dev|prod` runs the same program without one). It reads the stack
// configuration (namespace "tenantpool", files in stacks/) with platform.ConfigFromStack and
// runs platform.Program; the program itself never reads configuration.
//
// Stack configuration keys (tenantpool:<key>):
//
//	domain               the tenants' apex domain; "localhost" for local development
//	companyDomain        the company's own site and shop (optional); refused when it shares
//	                     its registrable domain with domain
//	hosts                list of {name, dockerUrl, address, capacity, sshOpts, dockerApiVersion};
//	                     the first is primary. dockerApiVersion is the host's Docker Engine API
//	                     version, quoted ("1.41"; default "1.41", Engine 20.10, the minimum)
//	network              tenants' network name (default tenantpool-tenants)
//	bridge               its Linux bridge interface on every host (default tp-tenants)
//	tenantResolvers      DNS resolvers on private addresses tenants may query on port 53
//	edgePorts            {http, https}: the unprivileged host ports Traefik (non-root, no
//	                     capability) listens on; every host's firewall redirects 80 and 443
//	                     to them (default {http: 10080, https: 10443})
//	proxyImage           Traefik v3 image pinned by digest
//	pooldImage           the project's own image (pool/cmd/poold/deploy/Dockerfile) pinned by
//	                     digest: it runs the edge's Docker socket proxy and the tenants'
//	                     egress policy (poold edge firewall) on every host
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

func main() { pulumi.Run(run) }

// run is the program `pulumi up` runs: the stack configuration, loaded the same way as by
// `poold platform` (infra/deploy), then platform.Program.
func run(ctx *pulumi.Context) error {
	cfg, err := platform.ConfigFromStack(config.New(ctx, platform.Namespace))
	if err != nil {
		return err
	}
	return platform.Program(cfg)(ctx)
}
