// Package tenant is the Pulumi program of one tenant: one Langflow container on one Docker host
// of the platform (package infra/platform), with its data volume, routing labels, and the
// Cloudflare records and custom hostnames it needs.
//
// Program(Spec) returns a pulumi.RunFunc. The daemon runs it as an Automation API inline program,
// one stack per tenant, with a Spec built from the account row and the platform's stack outputs;
// the program never reads configuration itself. Spec.Validate runs first and an invalid spec
// registers no resource at all (errors wrap ErrInvalidSpec; the provisioner treats them as
// permanent).
//
// Resources, on the host's Docker provider: the Langflow image (pinned by digest, kept on the
// host when the tenant is destroyed since other tenants share it), a named data volume, and the
// Langflow container: auto-login, sign-up and new-user activation off, the operator superuser,
// its password and the secret key as Pulumi secrets, the starter flows (uploaded onto the data
// volume), memory and CPU limits and the rest of the tier's limits (see Confinement), restart
// unless-stopped, a health check on /health_check run with the image's
// Python, every 2 s while the container starts (Traefik routes only healthy containers) — a
// start interval from Docker API 1.44, the whole interval on older engines, as the host's
// DockerAPIVersion says — Traefik routing labels for <slug>.<domain> and each custom domain, and no published
// port. With Cloudflare: a proxied DNS record <slug>.<domain> when the host is not the wildcard's
// target, and a Cloudflare for SaaS custom hostname per custom domain (at most the tier's
// allowance).
//
// # Confinement
//
// The container runs as the unprivileged uid 1000 (User) with every capability dropped and
// no-new-privileges, on a read-only root filesystem whose only writable places are the data
// volume and a tmpfs /tmp of the tier's size. The tier's limits are rendered as a nofile (and,
// when set, nproc) ulimit, CPU shares, the writable layer's size (storage option) and the data
// volume's size (the local driver's size option, an xfs project quota). The pids limit and the
// I/O weight are not inputs of the Docker provider: Spec.EngineResources hands them to the
// provisioner, which sets them through the Engine API once the container exists.
//
// # Isolation
//
// The container's only network is the host's tenants network (network mode and the single
// advanced network entry both name it; it is not attached to Docker's default bridge). The
// platform creates that bridge with com.docker.network.bridge.enable_icc=false, so Docker drops
// traffic between tenant containers, while the edge proxy, in the host's network namespace, still
// reaches each container's bridge address. No port is published, so a tenant is reachable only
// through the proxy, by its hostnames.
//
// # Branding
//
// Spec.Branding (premium and up; the account's settings, pool.Brand) reaches the container as
// TENANTPOOL_BRAND_APP_NAME, TENANTPOOL_BRAND_LOGO_URL and TENANTPOOL_BRAND_PRIMARY_COLOR. Stock
// Langflow ignores them: the project's image layer (infra/cmd/langflow-brand) applies them to the
// studio's frontend before Langflow starts.
package tenant
