// Package egress is the tenants' egress policy on a Docker host: a tenant reaches the public
// internet (its LLM APIs) and nothing else — not the host, not private, shared (CGNAT),
// link-local, loopback or reserved addresses (the cloud metadata address among them), IPv4 and
// IPv6 alike.
//
// The policy is a dedicated nftables table, `table inet tenantpool`, of two base chains keyed on
// the tenants' bridge interface (the platform gives the tenants' network a fixed bridge name):
//
//   - input (tenant → host, any of the host's addresses): only replies to connections the host
//     opened (ct state established,related; the edge proxy's connections to the tenants) and the
//     IPv6 neighbour discovery a container needs to reach its gateway; everything else is
//     dropped, so a tenant reaches no port of the host (poold, sshd, databases, Docker's API);
//   - forward (tenant → elsewhere): optional DNS resolvers on private addresses are accepted on
//     port 53, then every destination in BlockedPrefixes is dropped; the rest (the public
//     internet) is left to Docker's own rules.
//
// A drop in any base chain is final in nftables, whatever other tables (Docker's iptables-nft
// rules) accept, so the table needs no ordering against them. Apply replaces the table in one
// netlink transaction (add, delete, add with its chains and rules): there is no instant without
// the policy once it was applied, and applying it again is idempotent. Run applies it at once
// and again on every tick, so a flushed ruleset or a restarted dockerd never leaves tenants open
// for longer than one interval.
//
// The rules are written with github.com/google/nftables over netlink: no nft binary is needed,
// so the policy runs from the poold image (`poold edge firewall`) in a host-network container
// with NET_ADMIN only. Rules renders the same rules as nft(8) text, for tests and for
// `poold edge firewall --print`.
package egress
