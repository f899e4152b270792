package egress

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/infra/internal/pulumitest"
)

func TestRulesetGolden(t *testing.T) {
	p := Policy{Bridge: "tp-tenants", Resolvers: []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::53")}}
	pulumitest.Golden(t, "ruleset-resolvers.nft", Ruleset(p))
	pulumitest.Golden(t, "ruleset.nft", Ruleset(Policy{Bridge: "tp-tenants"}))
	pulumitest.Golden(t, "ruleset-redirects.nft", Ruleset(Policy{Bridge: "tp-tenants",
		Redirects: []Redirect{{From: 80, To: 10080}, {From: 443, To: 10443}}}))
}

func TestParseRedirects(t *testing.T) {
	got, err := ParseRedirects([]string{"80:10080", " 443:10443"})
	if err != nil || len(got) != 2 || got[0] != (Redirect{80, 10080}) || got[1] != (Redirect{443, 10443}) {
		t.Fatalf("ParseRedirects = %v, %v", got, err)
	}
	_, err = ParseRedirects([]string{"80", "0:10", "443:70000", "a:1"})
	for _, want := range []string{`"80": want FROM:TO`, `"0" is not a port`, `"70000" is not a port`, `"a" is not a port`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRedirects: %v, want an error saying %s", err, want)
		}
	}
}

// TestBlockedDestinations: every range the issue names is dropped, the public internet is not.
func TestBlockedDestinations(t *testing.T) {
	blocked := func(a netip.Addr) bool {
		for _, b := range BlockedPrefixes() {
			if b.Prefix.Contains(a) {
				return true
			}
		}
		return false
	}
	for _, a := range []string{
		"10.1.2.3", "172.17.0.1", "172.31.255.254", "192.168.1.1", // RFC 1918, Docker's bridges
		"100.64.0.1", "100.127.255.254", "100.100.100.200", // CGNAT, Alibaba's metadata
		"169.254.169.254", "169.254.0.1", "127.0.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255",
		"::1", "::", "fd00:ec2::254", "fc00::1", "fe80::1", "ff02::1", "::ffff:10.0.0.1", "::ffff:8.8.8.8",
	} {
		if !blocked(netip.MustParseAddr(a)) {
			t.Errorf("%s is not blocked", a)
		}
	}
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "104.16.0.1", "198.51.100.7", "100.63.255.255", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "2001:4860:4860::8888"} {
		if blocked(netip.MustParseAddr(a)) {
			t.Errorf("%s (public) is blocked", a)
		}
	}
}

func TestRulesEveryOneOnTheBridge(t *testing.T) {
	p := Policy{Bridge: "tp-tenants", Resolvers: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}
	rules := Rules(p)
	var last Rule
	for _, r := range rules {
		if r.Chain == ChainInput {
			last = r
		}
		if !strings.HasPrefix(r.Text(p.Bridge), `iifname "tp-tenants" `) {
			t.Errorf("rule %q is not keyed on the bridge", r.Text(p.Bridge))
		}
	}
	if last.Verdict != Drop || last.Replies || last.Daddr.IsValid() || last.Proto != "" {
		t.Errorf("the input chain must end in a drop of everything else, ends in %q", last.Text(p.Bridge))
	}
	if n := len(rules); n != 4+2*2*len(p.Resolvers)+len(BlockedPrefixes()) {
		t.Errorf("%d rules", n)
	}
}

func TestPolicyValidate(t *testing.T) {
	ok := []Policy{
		{Bridge: "tp-tenants"},
		{Bridge: "tp-tenants", Redirects: []Redirect{{From: 80, To: 10080}, {From: 443, To: 10443}}},
		{Bridge: "tenantpool0", Table: "tenantpool_2", Resolvers: []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::2")}},
	}
	for _, p := range ok {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	for _, c := range []struct {
		p    Policy
		want string
	}{
		{Policy{}, "bridge name"},
		{Policy{Bridge: "a-bridge-name-too-long"}, "1–15"},
		{Policy{Bridge: "eth0/x"}, "interface name"},
		{Policy{Bridge: "br0 x"}, "interface name"},
		{Policy{Bridge: "-br"}, "interface name"},
		{Policy{Bridge: "br0", Table: "bad table"}, "table name"},
		{Policy{Bridge: "br0", Resolvers: []netip.Addr{netip.MustParseAddr("127.0.0.53")}}, "not a unicast address"},
		{Policy{Bridge: "br0", Resolvers: []netip.Addr{netip.MustParseAddr("fe80::1%eth0")}}, "zoned"},
		{Policy{Bridge: "br0", Resolvers: []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.2")}}, "twice"},
		{Policy{Bridge: "br0", Resolvers: []netip.Addr{{}}}, "invalid address"},
		{Policy{Bridge: "br0", Redirects: []Redirect{{From: 443, To: 443}}}, "redirected to itself"},
		{Policy{Bridge: "br0", Redirects: []Redirect{{From: 443, To: 10443}, {From: 443, To: 10444}}}, "redirected twice"},
		{Policy{Bridge: "br0", Redirects: []Redirect{{From: 80, To: 443}, {From: 443, To: 10443}}}, "is redirected itself"},
		{Policy{Bridge: "br0", Redirects: []Redirect{{From: 0, To: 10443}}}, "ports are 1–65535"},
	} {
		err := c.p.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", c.p, err, c.want)
		}
	}
	if _, err := ParseResolvers([]string{"10.0.0.2", "dns.example"}); err == nil || !strings.Contains(err.Error(), `"dns.example"`) {
		t.Errorf("ParseResolvers of a name: %v", err)
	}
	if got, err := ParseResolvers([]string{"::ffff:10.0.0.2"}); err != nil || got[0] != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("ParseResolvers of a mapped address = %v, %v", got, err)
	}
}
