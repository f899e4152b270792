package cli

import "github.com/spf13/cobra"

// newEdge is `poold edge`: what runs on every Docker host beside the tenants.
func newEdge(e *Env) *cobra.Command {
	edge := &cobra.Command{Use: "edge", Short: "Programs the edge runs on every Docker host"}
	edge.AddCommand(newEdgeDockerProxy(e), newEdgePing())
	return edge
}
