package cli_test

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/infra/egress"
	"github.com/axiestudio/tenantpool/infra/platform"
)

// Bad flags of `poold edge firewall` are refused, every problem at once, before anything is
// written.
func TestEdgeFirewallRefusesBadFlags(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--once"}, []string{"bridge name"}},
		{[]string{"--bridge", "eth0/x", "--resolver", "dns.example", "--interval", "10ms", "--once"},
			[]string{"interface name", `"dns.example" is not an IP address`, "--interval 10ms"}},
		{[]string{"--bridge", "tp-tenants", "--once", "--remove"}, []string{"exclude each other"}},
		{[]string{"--bridge", "tp-tenants", "--table", "no table", "--once"}, []string{"table name"}},
		{[]string{"--bridge", "tp-tenants", "--resolver", "127.0.0.53", "--once"}, []string{"not a unicast address"}},
		{[]string{"--bridge", "tp-tenants", "--redirect", "443", "--redirect", "80:99999", "--once"}, []string{`--redirect: redirect "443"`, `"99999" is not a port`}},
		{[]string{"--bridge", "tp-tenants", "--redirect", "443:10443", "--redirect", "443:10444", "--once"}, []string{"redirected twice"}},
	} {
		_, err := h.run(context.Background(), append([]string{"edge", "firewall"}, c.args...)...)
		if err == nil {
			t.Errorf("%v: accepted", c.args)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not say %q", c.args, err, w)
			}
		}
	}
}

// --print shows the rule set and writes nothing.
func TestEdgeFirewallPrint(t *testing.T) {
	h := newHarness(t)
	out, err := h.run(context.Background(), "edge", "firewall", "--bridge", "tp-tenants", "--resolver", "10.0.0.2", "--redirect", "443:10443", "--print")
	if err != nil {
		t.Fatal(err)
	}
	p := egress.Policy{Bridge: "tp-tenants", Resolvers: mustResolvers(t, "10.0.0.2"), Redirects: []egress.Redirect{{From: 443, To: 10443}}}
	if out != egress.Ruleset(p) {
		t.Errorf("--print wrote\n%s\nwant\n%s", out, egress.Ruleset(p))
	}
}

// --once writes the table, --remove deletes it (as root; the real traffic test is in
// infra/egress).
func TestEdgeFirewallOnceAndRemove(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("POOL_TEST_REQUIRE_ALL") == "1" {
			t.Fatal("POOL_TEST_REQUIRE_ALL=1 but not root: nftables needs it")
		}
		t.Skip("not root")
	}
	h := newHarness(t)
	p := egress.Policy{Table: "tenantpool_clitest", Bridge: "tpclitest0"}
	t.Cleanup(func() { _ = egress.Remove(p) })
	if _, err := h.run(context.Background(), "edge", "firewall", "--bridge", p.Bridge, "--table", p.Table, "--once"); err != nil {
		t.Fatal(err)
	}
	if ok, err := egress.Installed(p); !ok || err != nil {
		t.Fatalf("after --once: installed %v, %v", ok, err)
	}
	if _, err := h.run(context.Background(), "edge", "firewall", "--table", p.Table, "--remove"); err != nil {
		t.Fatal(err)
	}
	if ok, err := egress.Installed(p); ok || err != nil {
		t.Fatalf("after --remove: installed %v, %v", ok, err)
	}
	if out, err := exec.Command("nft", "list", "tables").CombinedOutput(); err == nil && strings.Contains(string(out), p.Table) {
		t.Errorf("table %s still listed:\n%s", p.Table, out)
	}
}

func mustResolvers(t *testing.T, s ...string) []netip.Addr {
	t.Helper()
	a, err := egress.ParseResolvers(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The command line the platform program gives every host's firewall container is one poold
// accepts, and it applies the policy of the platform's bridge and resolvers, with the redirects
// of 80 and 443 to the edge's ports.
func TestEdgeFirewallAcceptsThePlatformsCommand(t *testing.T) {
	cfg := platform.Config{Bridge: "tp-tenants", TenantResolvers: []string{"10.0.0.2", "fd00::53"}}
	h := newHarness(t)
	out, err := h.run(context.Background(), append(cfg.FirewallCommand(), "--print")...)
	if err != nil {
		t.Fatalf("poold %v --print: %v", cfg.FirewallCommand(), err)
	}
	want := egress.Ruleset(egress.Policy{Bridge: "tp-tenants", Resolvers: mustResolvers(t, "10.0.0.2", "fd00::53"),
		Redirects: []egress.Redirect{{From: 80, To: 10080}, {From: 443, To: 10443}}})
	if out != want {
		t.Errorf("the platform's firewall command prints\n%s\nwant\n%s", out, want)
	}
}
