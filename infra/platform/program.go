package platform

import (
	"fmt"

	"github.com/pulumi/pulumi-cloudflare/sdk/v5/go/cloudflare"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Names the program gives to things on every host.
const (
	// EdgeContainerName is the edge proxy container on every host.
	EdgeContainerName = "tenantpool-edge"
	// ManagedLabel marks every container tenantpool manages; the proxy only routes to those.
	ManagedLabel = "tenantpool.managed"
	// SlugLabel and TierLabel name the tenant a container or volume belongs to; with
	// ManagedLabel they are how the daemon finds a tenant's things on a host without its stack.
	SlugLabel = "tenantpool.slug"
	TierLabel = "tenantpool.tier"
	// CustomDomainTargetLabel and FallbackOriginLabel are the first labels of the Cloudflare for
	// SaaS names under the domain.
	CustomDomainTargetLabel = "customers"
	FallbackOriginLabel     = "fallback"
)

const (
	acmeDir        = "/acme"
	certDir        = "/etc/traefik/certs"
	dynamicConfig  = "/etc/traefik/dynamic/tls.yml"
	pingPort       = 8082
	pingAddress    = "127.0.0.1:8082"
	certResolver   = "le"
	edgeLogMaxSize = "10m"
)

// Program returns the platform program for cfg. An invalid cfg fails the run before any resource
// is registered.
func Program(cfg Config) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		if err := cfg.Validate(); err != nil {
			return err
		}
		out, err := deploy(ctx, cfg)
		if err != nil {
			return err
		}
		ctx.Export(OutputDomain, pulumi.String(cfg.Domain))
		ctx.Export(OutputCompanyDomain, pulumi.String(cfg.CompanyDomain))
		ctx.Export(OutputHosts, out.hosts)
		ctx.Export(OutputNetworks, out.networks)
		ctx.Export(OutputCustomDomainTarget, out.customDomainTarget)
		ctx.Export(OutputScheme, pulumi.String(scheme(cfg.Domain)))
		return nil
	}
}

// scheme is the URL scheme tenants answer on: plain HTTP for a local domain.
func scheme(domain string) string {
	if IsLocalDomain(domain) {
		return "http"
	}
	return "https"
}

// outputs are the values the program exports, kept apart so that tests can await them.
type outputs struct {
	hosts              pulumi.MapArray
	networks           pulumi.StringMap
	customDomainTarget pulumi.StringOutput
}

func deploy(ctx *pulumi.Context, cfg Config) (*outputs, error) {
	out := &outputs{networks: pulumi.StringMap{}, customDomainTarget: pulumi.String("").ToStringOutput()}
	for i, h := range cfg.OutputHosts() {
		net, err := deployHost(ctx, cfg, cfg.Hosts[i])
		if err != nil {
			return nil, err
		}
		out.networks[h.Name] = net.Name
		host := pulumi.Map{
			"name":             pulumi.String(h.Name),
			"dockerUrl":        pulumi.String(h.DockerURL),
			"address":          pulumi.String(h.Address),
			"capacity":         pulumi.Int(h.Capacity),
			"network":          net.Name, // the same name, once the network exists
			"wildcardTarget":   pulumi.Bool(h.WildcardTarget),
			"dockerApiVersion": pulumi.String(string(h.DockerAPIVersion)),
		}
		if len(h.SSHOpts) > 0 {
			host["sshOpts"] = pulumi.ToStringArray(h.SSHOpts)
		}
		out.hosts = append(out.hosts, host)
	}
	if cfg.Cloudflare != nil {
		target, err := deployCloudflare(ctx, cfg)
		if err != nil {
			return nil, err
		}
		out.customDomainTarget = target
	}
	return out, nil
}

func deployHost(ctx *pulumi.Context, cfg Config, h HostConfig) (*docker.Network, error) {
	prov, err := docker.NewProvider(ctx, "docker-"+h.Name, &docker.ProviderArgs{
		Host:    pulumi.String(h.DockerURL),
		SshOpts: pulumi.ToStringArray(h.SSHOpts),
	})
	if err != nil {
		return nil, fmt.Errorf("host %s: docker provider: %w", h.Name, err)
	}
	onHost := pulumi.Provider(prov)

	net, err := docker.NewNetwork(ctx, "tenants-"+h.Name, &docker.NetworkArgs{
		Name:   pulumi.String(cfg.network()),
		Driver: pulumi.String("bridge"),
		Options: pulumi.StringMap{
			// Containers on this bridge cannot talk to each other; the host (the edge proxy)
			// still reaches every one of them.
			"com.docker.network.bridge.enable_icc": pulumi.String("false"),
			// A fixed interface name: the egress policy's rules name it (firewall.go).
			"com.docker.network.bridge.name": pulumi.String(cfg.bridge()),
		},
		Labels: docker.NetworkLabelArray{
			docker.NetworkLabelArgs{Label: pulumi.String(ManagedLabel), Value: pulumi.String("true")},
		},
	}, onHost)
	if err != nil {
		return nil, fmt.Errorf("host %s: network: %w", h.Name, err)
	}
	// The project's own image, pulled once per host: the firewall, the Docker socket proxy
	// and (ACME mode) the storage owner run it.
	poold, err := docker.NewRemoteImage(ctx, "poold-image-"+h.Name, &docker.RemoteImageArgs{
		Name:        pulumi.String(cfg.PooldImage),
		KeepLocally: pulumi.Bool(true),
	}, onHost)
	if err != nil {
		return nil, fmt.Errorf("host %s: poold image: %w", h.Name, err)
	}
	if err := deployFirewall(ctx, cfg, h, poold, onHost); err != nil {
		return nil, err
	}

	img, err := docker.NewRemoteImage(ctx, "edge-image-"+h.Name, &docker.RemoteImageArgs{
		Name:        pulumi.String(cfg.ProxyImage),
		KeepLocally: pulumi.Bool(true),
	}, onHost)
	if err != nil {
		return nil, fmt.Errorf("host %s: edge image: %w", h.Name, err)
	}

	// Traefik reaches the Docker Engine only through the socket proxy, on a socket in a volume
	// the two share (edge.go); the engine's own socket is not mounted.
	proxy, proxyVolume, err := deployDockerProxy(ctx, h, poold, onHost)
	if err != nil {
		return nil, err
	}
	args, envs, uploads := edgeConfig(cfg)
	var edgeDeps []pulumi.Resource
	volumes := docker.ContainerVolumeArray{
		docker.ContainerVolumeArgs{VolumeName: proxyVolume.Name, ContainerPath: pulumi.String(dockerAPIDir), ReadOnly: pulumi.Bool(true)},
	}
	if cfg.TLS.Mode == TLSACMEDNS01 {
		acme, err := docker.NewVolume(ctx, "edge-acme-"+h.Name, &docker.VolumeArgs{
			Name: pulumi.String("tenantpool-edge-acme"),
			Labels: docker.VolumeLabelArray{
				docker.VolumeLabelArgs{Label: pulumi.String(ManagedLabel), Value: pulumi.String("true")},
			},
		}, onHost)
		if err != nil {
			return nil, fmt.Errorf("host %s: acme volume: %w", h.Name, err)
		}
		volumes = append(volumes, docker.ContainerVolumeArgs{VolumeName: acme.Name, ContainerPath: pulumi.String(acmeDir)})
		owner, err := deployACMEOwner(ctx, h, poold, acme, onHost)
		if err != nil {
			return nil, err
		}
		edgeDeps = append(edgeDeps, owner)
	}

	_, err = docker.NewContainer(ctx, "edge-"+h.Name, &docker.ContainerArgs{
		Name:  pulumi.String(EdgeContainerName),
		Image: img.ImageId,
		// Host network mode: the proxy listens on the host's edge ports (the firewall redirects
		// 80 and 443 to them) and reaches
		// every tenant's bridge address (host-to-container traffic is not blocked by
		// enable_icc=false). No port mapping exists in this mode.
		NetworkMode: pulumi.String("host"),
		// Traefik's static configuration is its command line (edgeConfig), flags only: the
		// official images' entrypoints run traefik with them (the alpine image's entrypoint.sh
		// puts traefik before arguments that start with "-", the scratch image's is /traefik).
		// The environment carries only secrets its libraries read.
		Command: pulumi.ToStringArray(args),
		Envs:    envs,
		Uploads: uploads,
		Volumes: volumes,
		// Nobody, with no capability at all (see edgeUser).
		User:         pulumi.String(edgeUser),
		Capabilities: &docker.ContainerCapabilitiesArgs{Drops: pulumi.ToStringArray([]string{"ALL"})},
		Restart:      pulumi.String("unless-stopped"),
		Healthcheck: &docker.ContainerHealthcheckArgs{
			// Traefik reads one configuration source: the health check gets the ping flags too.
			Tests:       pulumi.ToStringArray(append([]string{"CMD", "traefik", "healthcheck"}, pingArgs()...)),
			Interval:    pulumi.String("30s"),
			Timeout:     pulumi.String("5s"),
			Retries:     pulumi.Int(3),
			StartPeriod: pulumi.String("10s"),
		},
		SecurityOpts: pulumi.ToStringArray([]string{"no-new-privileges:true"}),
		LogDriver:    pulumi.String("json-file"),
		LogOpts:      pulumi.StringMap{"max-size": pulumi.String(edgeLogMaxSize), "max-file": pulumi.String("3")},
		Labels: docker.ContainerLabelArray{
			docker.ContainerLabelArgs{Label: pulumi.String("tenantpool.role"), Value: pulumi.String("edge")},
		},
	}, onHost, pulumi.DeleteBeforeReplace(true), pulumi.DependsOn(append([]pulumi.Resource{proxy}, edgeDeps...)))
	if err != nil {
		return nil, fmt.Errorf("host %s: edge container: %w", h.Name, err)
	}
	return net, nil
}

// edgeConfig is Traefik's static configuration as command-line flags (one configuration
// source; flags keep the case of map keys such as the access log's field names, which
// environment variables lose), the environment of secrets Traefik's libraries read (a Pulumi
// secret, nil when there is none), and the files to upload into the container.
func edgeConfig(cfg Config) ([]string, pulumi.StringArrayInput, docker.ContainerUploadArray) {
	args := []string{
		// A release build of Traefik asks the internet for new versions and sends usage data.
		"--global.checknewversion=false",
		"--global.sendanonymoususage=false",
		"--providers.docker=true",
		"--providers.docker.endpoint=unix://" + dockerAPISocket,
		"--providers.docker.exposedbydefault=false",
		"--providers.docker.network=" + cfg.network(),
		"--providers.docker.constraints=Label(`" + ManagedLabel + "`,`true`)",
		// The hosts' firewall redirects the public 80 and 443 here (Config.FirewallCommand).
		fmt.Sprintf("--entrypoints.web.address=:%d", cfg.edgePorts().HTTP),
		fmt.Sprintf("--entrypoints.websecure.address=:%d", cfg.edgePorts().HTTPS),
		"--entrypoints.websecure.http.tls=true",
	}
	args = append(args, pingArgs()...)
	args = append(args,
		"--log.level=INFO",
		// Access log without query strings (Langflow API keys travel in them): JSON, the
		// request path and line (which carry the query) dropped, every header dropped.
		"--accesslog=true",
		"--accesslog.format=json",
		"--accesslog.fields.defaultmode=keep",
		"--accesslog.fields.names.RequestPath=drop",
		"--accesslog.fields.names.RequestLine=drop",
		"--accesslog.fields.headers.defaultmode=drop",
	)
	if cfg.TLS.Mode != TLSSelfSigned {
		args = append(args,
			"--entrypoints.web.http.redirections.entrypoint.to=websecure",
			"--entrypoints.web.http.redirections.entrypoint.scheme=https",
		)
	}
	var uploads docker.ContainerUploadArray
	var secrets []string
	switch cfg.TLS.Mode {
	case TLSCloudflareOrigin:
		args = append(args, "--providers.file.filename="+dynamicConfig)
		uploads = docker.ContainerUploadArray{
			docker.ContainerUploadArgs{File: pulumi.String(dynamicConfig), Content: pulumi.String(defaultCertificateYAML)},
			docker.ContainerUploadArgs{File: pulumi.String(certDir + "/origin.pem"), Content: pulumi.String(cfg.TLS.OriginCertificate)},
			docker.ContainerUploadArgs{
				File:    pulumi.String(certDir + "/origin.key"),
				Content: pulumi.ToSecret(pulumi.String(cfg.TLS.OriginPrivateKey)).(pulumi.StringOutput),
				// Uploads are root's: the non-root edge must be able to read it. The file is in
				// the container's own layer, where Traefik is the only process.
				Permissions: pulumi.String("0644"),
			},
		}
	case TLSACMEDNS01:
		r := "--certificatesresolvers." + certResolver + ".acme."
		args = append(args,
			"--entrypoints.websecure.http.tls.certresolver="+certResolver,
			"--entrypoints.websecure.http.tls.domains[0].main="+cfg.Domain,
			"--entrypoints.websecure.http.tls.domains[0].sans=*."+cfg.Domain,
			r+"email="+cfg.TLS.ACMEEmail,
			r+"storage="+acmeDir+"/acme.json",
			r+"dnschallenge.provider=cloudflare",
		)
		if cfg.TLS.ACMECAServer != "" {
			args = append(args, r+"caserver="+cfg.TLS.ACMECAServer)
		}
		// Read by the DNS-01 client (lego's Cloudflare provider).
		secrets = append(secrets, "CF_DNS_API_TOKEN="+cfg.TLS.ACMEDNSToken)
	}
	if len(secrets) == 0 {
		return args, nil, uploads
	}
	return args, pulumi.ToSecret(pulumi.ToStringArray(secrets)).(pulumi.StringArrayOutput), uploads
}

// pingArgs are the ping endpoint's flags, which `traefik healthcheck` needs too.
func pingArgs() []string {
	return []string{"--entrypoints.ping.address=" + pingAddress, "--ping=true", "--ping.entrypoint=ping"}
}

const defaultCertificateYAML = `# Written by tenantpool (infra/platform): the Cloudflare origin certificate is the default one.
tls:
  stores:
    default:
      defaultCertificate:
        certFile: ` + certDir + `/origin.pem
        keyFile: ` + certDir + `/origin.key
`

// deployCloudflare creates the zone's records and the Cloudflare for SaaS fallback origin, and
// returns the CNAME target customers point their custom domains at.
func deployCloudflare(ctx *pulumi.Context, cfg Config) (pulumi.StringOutput, error) {
	cf := cfg.Cloudflare
	prov, err := cloudflare.NewProvider(ctx, "cloudflare", &cloudflare.ProviderArgs{
		ApiToken: pulumi.ToSecret(pulumi.String(cf.APIToken)).(pulumi.StringOutput),
	})
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("cloudflare provider: %w", err)
	}
	opt := pulumi.Provider(prov)
	primary := cfg.Hosts[0]
	landing := cfg.LandingAddress
	if landing == "" {
		landing = primary.Address
	}
	record := func(name, fqdn, address, comment string, opts ...pulumi.ResourceOption) (*cloudflare.Record, error) {
		r, err := cloudflare.NewRecord(ctx, name, &cloudflare.RecordArgs{
			ZoneId:  pulumi.String(cf.ZoneID),
			Name:    pulumi.String(fqdn),
			Type:    pulumi.String(RecordType(address)),
			Content: pulumi.String(address),
			Proxied: pulumi.Bool(true),
			Ttl:     pulumi.Int(1), // automatic, required for proxied records
			Comment: pulumi.String(comment),
		}, append([]pulumi.ResourceOption{opt}, opts...)...)
		if err != nil {
			return nil, fmt.Errorf("dns record %s: %w", fqdn, err)
		}
		return r, nil
	}
	if _, err := record("wildcard", "*."+cfg.Domain, primary.Address, "tenantpool: tenants on the primary host "+primary.Name); err != nil {
		return pulumi.StringOutput{}, err
	}
	if _, err := record("apex", cfg.Domain, landing, "tenantpool: landing page"); err != nil {
		return pulumi.StringOutput{}, err
	}
	fallbackName := FallbackOriginLabel + "." + cfg.Domain
	fallback, err := record("fallback-origin", fallbackName, primary.Address, "tenantpool: Cloudflare for SaaS fallback origin")
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	if _, err := cloudflare.NewCustomHostnameFallbackOrigin(ctx, "fallback-origin", &cloudflare.CustomHostnameFallbackOriginArgs{
		ZoneId: pulumi.String(cf.ZoneID),
		Origin: pulumi.String(fallbackName),
	}, opt, pulumi.DependsOn([]pulumi.Resource{fallback})); err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("custom hostname fallback origin: %w", err)
	}
	targetName := CustomDomainTargetLabel + "." + cfg.Domain
	if _, err := record("custom-domain-target", targetName, fallbackName, "tenantpool: customers' custom domains CNAME here", pulumi.DependsOn([]pulumi.Resource{fallback})); err != nil {
		return pulumi.StringOutput{}, err
	}
	return pulumi.String(targetName).ToStringOutput(), nil
}
