package platform

import (
	"fmt"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/egress"
)

// FirewallContainerName is the container on every host that keeps the tenants' egress policy
// applied.
const FirewallContainerName = "tenantpool-firewall"

// FirewallCommand is the poold command line (after the image's entrypoint, poold) the firewall
// container runs: the egress policy of the tenants' bridge, applied again every
// egress.DefaultInterval, with the redirects of the public ports 80 and 443 to the edge's
// (EdgePorts).
func (c Config) FirewallCommand() []string {
	cmd := []string{"edge", "firewall", "--bridge", c.bridge(), "--interval", egress.DefaultInterval.String()}
	for _, r := range c.TenantResolvers {
		cmd = append(cmd, "--resolver", r)
	}
	for _, r := range c.redirects() {
		cmd = append(cmd, "--redirect", r.String())
	}
	return cmd
}

// deployFirewall runs the egress policy on a host: poold's image in the host's network
// namespace (the rules are the host's), as root with NET_ADMIN as its only capability (enough
// for nftables over netlink), a read-only root file system, no Docker socket and no volume. It
// restarts always: the policy must outlive a crash, and a dockerd restart starts it again,
// after which its first act is to write the table again.
func deployFirewall(ctx *pulumi.Context, cfg Config, h HostConfig, img *docker.RemoteImage, onHost pulumi.ResourceOption) error {
	_, err := docker.NewContainer(ctx, "firewall-"+h.Name, &docker.ContainerArgs{
		Name:        pulumi.String(FirewallContainerName),
		Image:       img.ImageId,
		Command:     pulumi.ToStringArray(cfg.FirewallCommand()),
		NetworkMode: pulumi.String("host"),
		// The image runs as the unprivileged user poold; a capability only takes effect for root.
		User: pulumi.String("0:0"),
		Capabilities: &docker.ContainerCapabilitiesArgs{
			Drops: pulumi.ToStringArray([]string{"ALL"}),
			Adds:  pulumi.ToStringArray([]string{"NET_ADMIN"}),
		},
		ReadOnly:     pulumi.Bool(true),
		SecurityOpts: pulumi.ToStringArray([]string{"no-new-privileges:true"}),
		Restart:      pulumi.String("always"),
		// The image's health check asks a daemon's /readyz; this container serves none.
		Healthcheck: &docker.ContainerHealthcheckArgs{Tests: pulumi.ToStringArray([]string{"NONE"})},
		LogDriver:   pulumi.String("json-file"),
		LogOpts:     pulumi.StringMap{"max-size": pulumi.String(edgeLogMaxSize), "max-file": pulumi.String("3")},
		Labels: docker.ContainerLabelArray{
			docker.ContainerLabelArgs{Label: pulumi.String("tenantpool.role"), Value: pulumi.String("firewall")},
		},
	}, onHost)
	if err != nil {
		return fmt.Errorf("host %s: firewall container: %w", h.Name, err)
	}
	return nil
}
