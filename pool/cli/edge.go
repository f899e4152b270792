package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/coder/quartz"
	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/infra/egress"
)

// newEdge is `poold edge`: what runs on every Docker host beside the tenants.
func newEdge(e *Env) *cobra.Command {
	edge := &cobra.Command{Use: "edge", Short: "Programs the edge runs on every Docker host"}
	edge.AddCommand(newEdgeDockerProxy(e), newEdgePing(), newEdgeFirewall(e), newEdgeACMEStorage())
	return edge
}

// newEdgeFirewall is `poold edge firewall`: the tenants' egress policy (infra/egress), run by the
// platform program as a host-network container with NET_ADMIN only.
func newEdgeFirewall(e *Env) *cobra.Command {
	var (
		table     string
		bridge    string
		resolvers []string
		redirects []string
		interval  time.Duration
		once      bool
		print     bool
		remove    bool
	)
	fw := &cobra.Command{
		Use:   "firewall --bridge NAME",
		Short: "Apply the tenants' egress policy (nftables table inet " + egress.TableName + ") and keep it applied",
		Long: `Writes the nftables table inet ` + egress.TableName + ` on this host: tenants on the bridge --bridge
reach the public internet and nothing else — no port of the host, no private, CGNAT,
link-local (cloud metadata), loopback, multicast or reserved address, IPv4 or IPv6. The table is
replaced in one transaction, and again every --interval, so a flushed ruleset or a restarted
dockerd is mended within one interval. Each --redirect FROM:TO serves the host's TCP port FROM on
its port TO for clients from outside (a NAT prerouting chain in the same table; not for the
tenants, and not for connections the host opens to itself): the edge listens on unprivileged
ports as a user without capabilities. Needs CAP_NET_ADMIN in the host's network namespace.
--once applies it and exits; --print shows the rules and changes nothing; --remove deletes the
table (the tenants are then open again).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var errs []error
			if n := countTrue(once, print, remove); n > 1 {
				errs = append(errs, errors.New("--once, --print and --remove exclude each other"))
			}
			if interval < time.Second {
				errs = append(errs, fmt.Errorf("--interval %s: must be at least 1s", interval))
			}
			addrs, err := egress.ParseResolvers(resolvers)
			if err != nil {
				errs = append(errs, fmt.Errorf("--resolver: %w", err))
			}
			redirs, err := egress.ParseRedirects(redirects)
			if err != nil {
				errs = append(errs, fmt.Errorf("--redirect: %w", err))
			}
			p := egress.Policy{Table: table, Bridge: bridge, Resolvers: addrs, Redirects: redirs}
			if remove {
				p.Bridge = "x" // --remove needs only the table
			}
			if err := p.Validate(); err != nil {
				errs = append(errs, err)
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			switch {
			case print:
				_, err := fmt.Fprint(e.Stdout, egress.Ruleset(p))
				return err
			case remove:
				if err := egress.Remove(p); err != nil {
					return err
				}
				e.Log.Warn("egress policy removed: tenants reach the host and private addresses again", "table", "inet "+table)
				return nil
			case once:
				if err := egress.Apply(p); err != nil {
					return err
				}
				e.Log.Info("egress policy applied", "bridge", p.Bridge, "table", "inet "+table, "rules", len(egress.Rules(p)))
				return nil
			}
			return egress.Run(cmd.Context(), quartz.NewReal(), interval, p, e.Log)
		},
	}
	f := fw.Flags()
	f.StringVar(&table, "table", egress.TableName, "the nftables table (family inet) of the policy; one per tenants' bridge")
	f.StringVar(&bridge, "bridge", "", "the tenants' bridge interface (the platform's com.docker.network.bridge.name)")
	f.StringSliceVar(&resolvers, "resolver", nil, "a DNS resolver on a private address the tenants may query on port 53 (repeatable)")
	f.StringArrayVar(&redirects, "redirect", nil, "FROM:TO: serve the host's TCP port FROM on its port TO for clients not on the bridge (repeatable)")
	f.DurationVar(&interval, "interval", egress.DefaultInterval, "how often the policy is applied again")
	f.BoolVar(&once, "once", false, "apply the policy once and exit")
	f.BoolVar(&print, "print", false, "print the rules as an nft script and change nothing")
	f.BoolVar(&remove, "remove", false, "delete the table (tenants are open again)")
	return fw
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
