package platform

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

const tRemoteImage = "docker:index/remoteImage:RemoteImage"

// Every host of a real domain runs the egress policy: poold's image, pinned, in the host's
// network namespace, root with NET_ADMIN as its only capability, read-only, no socket, restarted
// always, naming the tenants' bridge — which the network gets as its fixed interface name.
func TestFirewallPerHost(t *testing.T) {
	cfg := prodConfig()
	cfg.TenantResolvers = []string{"10.0.0.2"}
	m := run(t, cfg)
	for _, h := range cfg.Hosts {
		t.Run(h.Name, func(t *testing.T) {
			n := m.Get(t, tNetwork, "tenants-"+h.Name)
			opts, _ := n.Input("options")
			if got := opts.(map[string]any)["com.docker.network.bridge.name"]; got != DefaultBridge {
				t.Errorf("network bridge name = %v, want %s", got, DefaultBridge)
			}
			img := m.Get(t, tRemoteImage, "poold-image-"+h.Name)
			if img.String("name") != pooldImage {
				t.Errorf("firewall image = %q", img.String("name"))
			}
			c := m.Get(t, tContainer, "firewall-"+h.Name)
			if c.String("name") != FirewallContainerName || c.String("image") != "sha256:image-of-"+pooldImage {
				t.Errorf("firewall container %q of image %q", c.String("name"), c.String("image"))
			}
			want := []string{"edge", "firewall", "--bridge", DefaultBridge, "--interval", "30s", "--resolver", "10.0.0.2",
				"--redirect", "80:10080", "--redirect", "443:10443"}
			if got := c.Strings("command"); !slices.Equal(got, want) {
				t.Errorf("command = %q, want %q", got, want)
			}
			for k, v := range map[string]string{"networkMode": "host", "user": "0:0", "restart": "always"} {
				if c.String(k) != v {
					t.Errorf("%s = %q, want %q", k, c.String(k), v)
				}
			}
			if ro, _ := c.Input("readOnly"); ro != true {
				t.Error("root file system is writable")
			}
			caps, _ := c.Input("capabilities")
			if fmt.Sprint(caps) != "map[adds:[NET_ADMIN] drops:[ALL]]" {
				t.Errorf("capabilities = %v, want NET_ADMIN only", caps)
			}
			if so := c.Strings("securityOpts"); !slices.Equal(so, []string{"no-new-privileges:true"}) {
				t.Errorf("securityOpts = %v", so)
			}
			for _, k := range []string{"volumes", "mounts", "privileged", "envs", "ports", "devices"} {
				if v, _ := c.Input(k); v != nil && v != false && fmt.Sprint(v) != "[]" {
					t.Errorf("%s = %v: the firewall needs none", k, v)
				}
			}
			if !strings.Contains(c.Provider, "docker-"+h.Name) || !strings.Contains(img.Provider, "docker-"+h.Name) {
				t.Errorf("firewall on %q: want the host's provider", c.Provider)
			}
		})
	}
	if n := len(m.OfType(tContainer)); n != 3*len(cfg.Hosts) {
		t.Errorf("%d containers, want an edge proxy, a Docker socket proxy and a firewall per host", n)
	}
}

// A local platform runs the egress policy too, on the bridge it names, and redirects 80 and 443
// to the edge ports it sets: one setting renders both Traefik's entrypoints and the firewall's
// redirects.
func TestFirewallOnALocalPlatform(t *testing.T) {
	cfg := devConfig()
	cfg.Bridge = "tpdev0"
	cfg.EdgePorts = EdgePorts{HTTP: 18080, HTTPS: 18443}
	m := run(t, cfg)
	c := m.Get(t, tContainer, "firewall-local")
	if got := c.Strings("command"); !slices.Equal(got, []string{"edge", "firewall", "--bridge", "tpdev0", "--interval", "30s",
		"--redirect", "80:18080", "--redirect", "443:18443"}) {
		t.Errorf("command = %q", got)
	}
	a := args(t, m.Get(t, tContainer, "edge-local"))
	if a["entrypoints.web.address"] != ":18080" || a["entrypoints.websecure.address"] != ":18443" {
		t.Errorf("edge entrypoints %q and %q, want :18080 and :18443", a["entrypoints.web.address"], a["entrypoints.websecure.address"])
	}
	opts, _ := m.Get(t, tNetwork, "tenants-local").Input("options")
	if got := opts.(map[string]any)["com.docker.network.bridge.name"]; got != "tpdev0" {
		t.Errorf("network bridge name = %v", got)
	}
}
