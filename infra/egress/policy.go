package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// TableName is the nftables table (family inet) that holds the policy unless Policy.Table names
// another. Nothing else of the host is touched.
const TableName = "tenantpool"

// The base chains of the table.
const (
	ChainInput   = "input"
	ChainForward = "forward"
)

// Policy is the egress policy of one Docker host's tenants.
type Policy struct {
	// Table is the nftables table (family inet) of the policy; TableName when empty. Two
	// policies need two tables (a host with two tenants' bridges, tests running side by side).
	Table string
	// Bridge is the Linux interface of the tenants' bridge network
	// (com.docker.network.bridge.name).
	Bridge string
	// Resolvers are DNS servers on otherwise blocked addresses (a cloud VPC resolver, a LAN's)
	// that the tenants may query on port 53 (UDP and TCP). Docker's embedded DNS forwards a
	// tenant's queries from the tenant's own network namespace, so a private upstream resolver
	// of the host is blocked like any private address unless it is listed here.
	Resolvers []netip.Addr
	// Redirects are the host's TCP ports served on other ports of the host (the edge's 80 and
	// 443), in a NAT chain of the same table; none, no NAT chain.
	Redirects []Redirect
}

// bridgeRE is what a Linux interface name may be here: at most 15 bytes (IFNAMSIZ-1), no '/',
// no white space, no ':' (alias syntax).
var bridgeRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$`)

// ValidateBridge checks that name can be a Linux interface name.
func ValidateBridge(name string) error {
	if !bridgeRE.MatchString(name) {
		return fmt.Errorf("bridge name %q must be a Linux interface name: 1–15 letters, digits, '_', '.', '-', starting with a letter or digit", name)
	}
	return nil
}

// table is the policy's table name.
func (p Policy) table() string {
	if p.Table == "" {
		return TableName
	}
	return p.Table
}

var tableRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]{0,62}$`)

// Validate reports every problem with the policy.
func (p Policy) Validate() error {
	var errs []error
	if p.Table != "" && !tableRE.MatchString(p.Table) {
		errs = append(errs, fmt.Errorf("table name %q must be a letter then up to 62 letters, digits, '_' or '-'", p.Table))
	}
	if err := ValidateBridge(p.Bridge); err != nil {
		errs = append(errs, err)
	}
	seen := map[netip.Addr]bool{}
	for _, r := range p.Resolvers {
		switch {
		case !r.IsValid():
			errs = append(errs, errors.New("resolver: invalid address"))
		case r.Zone() != "":
			errs = append(errs, fmt.Errorf("resolver %s: a zoned address cannot be routed from the bridge", r))
		case r.IsUnspecified() || r.IsLoopback() || r.IsMulticast():
			errs = append(errs, fmt.Errorf("resolver %s: not a unicast address a tenant can reach", r))
		case seen[r]:
			errs = append(errs, fmt.Errorf("resolver %s listed twice", r))
		}
		seen[r] = true
	}
	errs = append(errs, validateRedirects(p.Redirects)...)
	return errors.Join(errs...)
}

// ParseResolvers parses a list of IP addresses.
func ParseResolvers(list []string) ([]netip.Addr, error) {
	var out []netip.Addr
	var errs []error
	for _, s := range list {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			errs = append(errs, fmt.Errorf("resolver %q is not an IP address", s))
			continue
		}
		out = append(out, a.Unmap())
	}
	return out, errors.Join(errs...)
}

// Blocked is one destination range tenants may not reach, with why.
type Blocked struct {
	Prefix netip.Prefix
	Why    string
}

// BlockedPrefixes are the destinations the forward chain drops: everything that is not the
// public internet. The host's own addresses, whatever they are, are covered by the input chain.
func BlockedPrefixes() []Blocked {
	return []Blocked{
		{netip.MustParsePrefix("0.0.0.0/8"), "this network"},
		{netip.MustParsePrefix("10.0.0.0/8"), "private (RFC 1918)"},
		{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT, RFC 6598)"},
		{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
		{netip.MustParsePrefix("169.254.0.0/16"), "link-local, cloud metadata 169.254.169.254"},
		{netip.MustParsePrefix("172.16.0.0/12"), "private (RFC 1918), Docker's networks"},
		{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
		{netip.MustParsePrefix("192.168.0.0/16"), "private (RFC 1918)"},
		{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking (RFC 2544)"},
		{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved, broadcast"},
		{netip.MustParsePrefix("::/128"), "unspecified"},
		{netip.MustParsePrefix("::1/128"), "loopback"},
		{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped"},
		{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64 (RFC 8215)"},
		{netip.MustParsePrefix("100::/64"), "discard-only"},
		{netip.MustParsePrefix("fc00::/7"), "unique local (ULA), cloud metadata fd00:ec2::254"},
		{netip.MustParsePrefix("fe80::/10"), "link-local"},
		{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated)"},
		{netip.MustParsePrefix("ff00::/8"), "multicast"},
	}
}

// Verdict is what a rule does with a matching packet.
type Verdict string

// The verdicts.
const (
	Accept Verdict = "accept"
	Drop   Verdict = "drop"
)

// Rule is one rule of the table, every match optional except the bridge (every rule matches
// packets that came in on the tenants' bridge only).
type Rule struct {
	Chain string
	// Replies matches ct state established,related.
	Replies bool
	// Daddr matches the destination address range (IPv4 or IPv6: it implies the family).
	Daddr netip.Prefix
	// Proto is the layer 4 protocol: "", "tcp", "udp" or "icmpv6".
	Proto string
	// Dport matches the TCP or UDP destination port (0: any).
	Dport uint16
	// ICMPv6Type matches the ICMPv6 type (Proto "icmpv6"; 0: any).
	ICMPv6Type uint8
	Verdict    Verdict
	Comment    string
}

// ICMPv6 neighbour discovery, which an IPv6 container needs to reach its gateway.
const (
	icmpv6NeighborSolicit uint8 = 135
	icmpv6NeighborAdvert  uint8 = 136
)

// Rules is the policy as rules, in their order, per chain. The policy must be valid.
func Rules(p Policy) []Rule {
	// A listed resolver may be the host itself (input) or elsewhere (forward).
	resolvers := func(chain string) []Rule {
		var out []Rule
		for _, r := range p.Resolvers {
			for _, proto := range []string{"udp", "tcp"} {
				out = append(out, Rule{Chain: chain, Daddr: netip.PrefixFrom(r, r.BitLen()), Proto: proto, Dport: 53,
					Verdict: Accept, Comment: "DNS resolver"})
			}
		}
		return out
	}
	rules := []Rule{
		{Chain: ChainInput, Replies: true, Verdict: Accept, Comment: "tenant to host: replies to the host's own connections only"},
		{Chain: ChainInput, Proto: "icmpv6", ICMPv6Type: icmpv6NeighborSolicit, Verdict: Accept, Comment: "IPv6 neighbour discovery"},
		{Chain: ChainInput, Proto: "icmpv6", ICMPv6Type: icmpv6NeighborAdvert, Verdict: Accept, Comment: "IPv6 neighbour discovery"},
	}
	rules = append(rules, resolvers(ChainInput)...)
	rules = append(rules, Rule{Chain: ChainInput, Verdict: Drop, Comment: "tenant to host: nothing else"})
	rules = append(rules, resolvers(ChainForward)...)
	for _, b := range BlockedPrefixes() {
		rules = append(rules, Rule{Chain: ChainForward, Daddr: b.Prefix, Verdict: Drop, Comment: b.Why})
	}
	return rules
}

// Text renders rule r of a policy on bridge as nft(8) would list it (without handles).
func (r Rule) Text(bridge string) string {
	parts := []string{fmt.Sprintf("iifname %q", bridge)}
	if r.Replies {
		parts = append(parts, "ct state established,related")
	}
	if r.Daddr.IsValid() {
		fam := "ip"
		if r.Daddr.Addr().Is6() {
			fam = "ip6"
		}
		d := r.Daddr.String()
		if r.Daddr.IsSingleIP() {
			d = r.Daddr.Addr().String()
		}
		parts = append(parts, fam+" daddr "+d)
	}
	switch {
	case r.Proto == "icmpv6" && r.ICMPv6Type != 0:
		parts = append(parts, "icmpv6 type "+icmpv6Name(r.ICMPv6Type))
	case r.Proto != "" && r.Dport != 0:
		parts = append(parts, fmt.Sprintf("%s dport %d", r.Proto, r.Dport))
	case r.Proto != "":
		parts = append(parts, "meta l4proto "+r.Proto)
	}
	parts = append(parts, string(r.Verdict))
	if r.Comment != "" {
		parts = append(parts, fmt.Sprintf("comment %q", r.Comment))
	}
	return strings.Join(parts, " ")
}

func icmpv6Name(t uint8) string {
	switch t {
	case icmpv6NeighborSolicit:
		return "nd-neighbor-solicit"
	case icmpv6NeighborAdvert:
		return "nd-neighbor-advert"
	}
	return fmt.Sprint(t)
}

// Ruleset renders the whole table of a policy as an nft(8) script.
func Ruleset(p Policy) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", p.table())
	for i, chain := range []string{ChainInput, ChainForward} {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority filter; policy accept;\n", chain, chain)
		for _, r := range Rules(p) {
			if r.Chain == chain {
				fmt.Fprintf(&b, "\t\t%s\n", r.Text(p.Bridge))
			}
		}
		b.WriteString("\t}\n")
	}
	for _, chain := range []string{ChainPrerouting, ChainOutput} {
		if len(p.Redirects) == 0 {
			break
		}
		// Priority -100 on both hooks; nft names it dstnat on prerouting only.
		prio := "dstnat"
		if chain == ChainOutput {
			prio = "-100"
		}
		fmt.Fprintf(&b, "\n\tchain %s {\n\t\ttype nat hook %s priority %s; policy accept;\n", chain, chain, prio)
		for _, r := range p.Redirects {
			fmt.Fprintf(&b, "\t\t%s\n", r.Text(p.Bridge))
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}
