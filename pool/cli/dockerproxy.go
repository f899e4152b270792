package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/infra/dockerproxy"
)

// DefaultDockerProxyListen is where the platform program's docker-proxy container listens: a
// unix socket in the volume it shares with Traefik only (infra/platform).
const DefaultDockerProxyListen = "unix:///run/tenantpool-edge/docker.sock"

// newEdgeDockerProxy is `poold edge docker-proxy`: the edge's Docker socket proxy
// (infra/dockerproxy), which the platform program runs on every host.
func newEdgeDockerProxy(e *Env) *cobra.Command {
	var socket, listen string
	proxy := &cobra.Command{
		Use:   "docker-proxy",
		Short: "Serve the read-only part of the Docker Engine API Traefik's Docker provider needs; refuse the rest with 403",
		Long: `Serve, on --listen, the Docker Engine API calls Traefik's Docker provider makes (GET /_ping,
/version, /containers/json, /containers/{id}/json, /events, with or without a /vX.Y prefix),
proxied to the engine at --socket. Every other method, path, query parameter, body or upgrade
is answered 403 and never reaches the engine. Runs until SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !filepath.IsAbs(socket) {
				return fmt.Errorf("--socket %q: want the absolute path of the Docker Engine's unix socket", socket)
			}
			l, err := dockerproxy.Listen(listen)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			e.Log.Info("docker proxy serving", "listen", listen, "socket", socket)
			return dockerproxy.Serve(cmd.Context(), l, dockerproxy.Handler(socket, e.Log))
		},
	}
	proxy.Flags().StringVar(&socket, "socket", "/var/run/docker.sock", "the Docker Engine's unix socket")
	proxy.Flags().StringVar(&listen, "listen", DefaultDockerProxyListen, "where to serve: unix:///path or tcp://host:port")
	return proxy
}

// newEdgePing is the proxy container's health check: GET /_ping through the proxy, so that
// both the proxy and the engine behind it answer.
func newEdgePing() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "ping",
		Short: "Ask the Docker proxy at --listen for the engine's /_ping; exit 1 unless it answers OK",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			return dockerproxy.Ping(ctx, listen)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", DefaultDockerProxyListen, "the proxy's address: unix:///path or tcp://host:port")
	return cmd
}
