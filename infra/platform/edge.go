package platform

import (
	"fmt"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The edge's Docker socket proxy on every host (package infra/dockerproxy, run as
// `poold edge docker-proxy` from PooldImage).
const (
	// DockerProxyContainerName is the proxy's container on every host.
	DockerProxyContainerName = "tenantpool-docker-proxy"
	// DockerAPIVolumeName is the volume the proxy and Traefik share: the proxy's socket is in
	// it, and nothing else mounts it.
	DockerAPIVolumeName = "tenantpool-edge-docker-api"
	dockerAPIDir        = "/run/tenantpool-edge"
	dockerAPISocket     = dockerAPIDir + "/docker.sock"
	engineSocket        = "/var/run/docker.sock"
)

// edgeUser is the user Traefik runs as: root, with every capability dropped but
// NET_BIND_SERVICE. In the host's network namespace (where it must be, to reach the tenants
// on their bridge) nothing lowers the privileged-port bound, and Docker grants a non-root
// user no ambient capability, so a non-root Traefik cannot bind :80 and :443 whatever
// capabilities it is given (TestEdgeUserBindsPrivilegedPorts shows both on a real engine).
// Without the Docker socket, with no-new-privileges and no other capability, its root owns
// nothing it can reach beyond its own volumes.
const edgeUser = "0:0"

// deployDockerProxy runs the Docker socket proxy on host h: the project's image, the engine's
// socket mounted, no network at all, listening on a socket in a volume only Traefik mounts
// besides it. It runs as root (the engine's socket is root's, mode 0660) with no capability,
// on a read-only root file system.
func deployDockerProxy(ctx *pulumi.Context, cfg Config, h HostConfig, onHost pulumi.ResourceOption) (*docker.Container, *docker.Volume, error) {
	img, err := docker.NewRemoteImage(ctx, "docker-proxy-image-"+h.Name, &docker.RemoteImageArgs{
		Name:        pulumi.String(cfg.PooldImage),
		KeepLocally: pulumi.Bool(true),
	}, onHost)
	if err != nil {
		return nil, nil, fmt.Errorf("host %s: docker proxy image: %w", h.Name, err)
	}
	vol, err := docker.NewVolume(ctx, "docker-api-"+h.Name, &docker.VolumeArgs{
		Name: pulumi.String(DockerAPIVolumeName),
		Labels: docker.VolumeLabelArray{
			docker.VolumeLabelArgs{Label: pulumi.String(ManagedLabel), Value: pulumi.String("true")},
		},
	}, onHost)
	if err != nil {
		return nil, nil, fmt.Errorf("host %s: docker API volume: %w", h.Name, err)
	}
	listen := "unix://" + dockerAPISocket
	c, err := docker.NewContainer(ctx, "docker-proxy-"+h.Name, &docker.ContainerArgs{
		Name:    pulumi.String(DockerProxyContainerName),
		Image:   img.ImageId,
		Command: pulumi.ToStringArray([]string{"edge", "docker-proxy", "--socket", engineSocket, "--listen", listen}),
		// No network: its one client reaches it through the shared volume.
		NetworkMode: pulumi.String("none"),
		Volumes: docker.ContainerVolumeArray{
			docker.ContainerVolumeArgs{HostPath: pulumi.String(engineSocket), ContainerPath: pulumi.String(engineSocket)},
			docker.ContainerVolumeArgs{VolumeName: vol.Name, ContainerPath: pulumi.String(dockerAPIDir)},
		},
		User:         pulumi.String("0:0"),
		Capabilities: &docker.ContainerCapabilitiesArgs{Drops: pulumi.ToStringArray([]string{"ALL"})},
		ReadOnly:     pulumi.Bool(true),
		SecurityOpts: pulumi.ToStringArray([]string{"no-new-privileges:true"}),
		Memory:       pulumi.Int(128),
		Restart:      pulumi.String("unless-stopped"),
		Healthcheck: &docker.ContainerHealthcheckArgs{
			// Through the proxy to the engine and back (the image's own check asks a daemon).
			Tests:       pulumi.ToStringArray([]string{"CMD", "poold", "edge", "ping", "--listen", listen}),
			Interval:    pulumi.String("30s"),
			Timeout:     pulumi.String("5s"),
			Retries:     pulumi.Int(3),
			StartPeriod: pulumi.String("10s"),
		},
		LogDriver: pulumi.String("json-file"),
		LogOpts:   pulumi.StringMap{"max-size": pulumi.String(edgeLogMaxSize), "max-file": pulumi.String("3")},
		Labels: docker.ContainerLabelArray{
			docker.ContainerLabelArgs{Label: pulumi.String("tenantpool.role"), Value: pulumi.String("docker-proxy")},
		},
	}, onHost, pulumi.DeleteBeforeReplace(true))
	if err != nil {
		return nil, nil, fmt.Errorf("host %s: docker proxy container: %w", h.Name, err)
	}
	return c, vol, nil
}
