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

// edgeUser is the user Traefik runs as, with no capability at all: nobody:nogroup, which can
// bind the edge's ports because they are unprivileged (EdgePorts; the hosts' firewall redirects
// 80 and 443 to them), and which owns the ACME storage in ACME mode (deployACMEOwner)
// (TestEdgeUserBindsItsPorts shows the ports on a real engine).
const edgeUser = "65534:65534"

// deployACMEOwner hands the ACME volume (created by the engine, owned by root) to edgeUser
// before Traefik starts: a one-shot container of the project's image runs `poold edge
// acme-storage` as root with CAP_CHOWN only, no network, a read-only root, and the provider
// waits for it to finish (attach). It runs again only when the volume or the image change; the
// command is idempotent and keeps the certificates.
func deployACMEOwner(ctx *pulumi.Context, h HostConfig, img *docker.RemoteImage, acme *docker.Volume, onHost pulumi.ResourceOption) (*docker.Container, error) {
	c, err := docker.NewContainer(ctx, "edge-acme-owner-"+h.Name, &docker.ContainerArgs{
		Name:         pulumi.String("tenantpool-edge-acme-owner"),
		Image:        img.ImageId,
		Command:      pulumi.ToStringArray([]string{"edge", "acme-storage", "--dir", acmeDir, "--owner", edgeUser}),
		NetworkMode:  pulumi.String("none"),
		Volumes:      docker.ContainerVolumeArray{docker.ContainerVolumeArgs{VolumeName: acme.Name, ContainerPath: pulumi.String(acmeDir)}},
		User:         pulumi.String("0:0"),
		Capabilities: &docker.ContainerCapabilitiesArgs{Drops: pulumi.ToStringArray([]string{"ALL"}), Adds: pulumi.ToStringArray([]string{"CHOWN"})},
		ReadOnly:     pulumi.Bool(true),
		SecurityOpts: pulumi.ToStringArray([]string{"no-new-privileges:true"}),
		Attach:       pulumi.Bool(true),
		MustRun:      pulumi.Bool(false),
		Restart:      pulumi.String("no"),
		Labels: docker.ContainerLabelArray{
			docker.ContainerLabelArgs{Label: pulumi.String("tenantpool.role"), Value: pulumi.String("acme-owner")},
		},
	}, onHost, pulumi.DeleteBeforeReplace(true))
	if err != nil {
		return nil, fmt.Errorf("host %s: acme owner container: %w", h.Name, err)
	}
	return c, nil
}

// deployDockerProxy runs the Docker socket proxy on host h: the project's image, the engine's
// socket mounted, no network at all, listening on a socket in a volume only Traefik mounts
// besides it. It runs as root (the engine's socket is root's, mode 0660) with no capability,
// on a read-only root file system.
func deployDockerProxy(ctx *pulumi.Context, h HostConfig, img *docker.RemoteImage, onHost pulumi.ResourceOption) (*docker.Container, *docker.Volume, error) {
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
