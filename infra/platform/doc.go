// Package platform is the Pulumi program of the shared platform: everything tenants run on, and
// nothing that belongs to one tenant.
//
// Program(Config) returns a pulumi.RunFunc (style: one program, two drivers). The operator rolls
// it out with `pulumi up -s dev|prod` through the thin main in infra/cmd/platform, which reads the
// stack configuration and builds Config; the program never reads configuration itself.
//
// Per Docker host it creates:
//
//   - a docker.Provider (unix:// or ssh:// URL);
//   - the tenants' bridge network, with inter-container communication disabled
//     (com.docker.network.bridge.enable_icc=false) and a fixed bridge interface name
//     (com.docker.network.bridge.name, Config.Bridge);
//   - the tenants' egress policy (firewall.go): `poold edge firewall` (package infra/egress) from
//     Config.PooldImage, in the host network with NET_ADMIN only, so tenants reach the public
//     internet and neither the host nor private, link-local or metadata addresses;
//   - the Docker socket proxy (edge.go): `poold edge docker-proxy` (package infra/dockerproxy)
//     from Config.PooldImage, with no network and no capability, on a read-only root, listening
//     on a unix socket in a volume only it and Traefik mount; it lets through the reads Traefik's
//     Docker provider makes and refuses everything else;
//   - the edge proxy: Traefik v3 in host network mode, configured only by command-line flags
//     (environment variables would lowercase map keys), reading routing labels through the socket
//     proxy (only containers labelled tenantpool.managed=true and traefik.enable=true), listening
//     on the unprivileged edge ports (Config.EdgePorts, default 10080 and 10443; the firewall
//     redirects the host's 80 and 443 to them) as nobody with every capability dropped,
//     without version checks or usage reports, its JSON access log without the request path,
//     line and headers (query strings carry API keys), with TLS from a Cloudflare origin
//     certificate, ACME DNS-01 through Cloudflare, or Traefik's self-signed default certificate
//     for local development.
//
// With Cloudflare (any domain but localhost) it also creates the proxied wildcard record
// *.<domain> and the apex record pointing at the primary (first) host, and the Cloudflare for
// SaaS pieces that customers' custom domains use: the fallback origin fallback.<domain> and the
// CNAME target customers.<domain> that customers point their domains at.
//
// # Tenant isolation
//
// Every tenant container (package infra/tenant) joins the host's tenants network as its only
// network (network mode set to that network, so it is not also attached to Docker's default
// bridge, where inter-container traffic is allowed) and publishes no port. Because the network has
// enable_icc=false, Docker drops traffic between two containers of that bridge: one tenant cannot
// open a connection to another tenant's address. Traffic between the host and a container is not
// affected by that option, so Traefik, which runs in the host's network namespace, reaches every
// tenant at its bridge address (TRAEFIK_PROVIDERS_DOCKER_NETWORK names the network whose address
// it uses). A tenant reaches another tenant only the way the public does, through the edge proxy
// and its hostname. Nothing a tenant stack creates modifies the platform stack: a tenant only
// references the network by name.
//
// Stack outputs (read by the daemon; keys are the Output* constants): the domain, the hosts
// (name, Docker URL, address, capacity in tenants, network, whether the host is the wildcard
// target, and the Engine API version of its Docker daemon — MinDockerAPIVersion when the
// operator gave none — which tenant programs adapt to), the network name per host, and the custom-domain CNAME target. DecodeHosts turns the
// hosts output back into []Host.
package platform
