package platform

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/internal/pulumitest"
)

const (
	tContainer      = "docker:index/container:Container"
	tNetwork        = "docker:index/network:Network"
	tVolume         = "docker:index/volume:Volume"
	tDockerProvider = "pulumi:providers:docker"
	tCFProvider     = "pulumi:providers:cloudflare"
	tRecord         = "cloudflare:index/record:Record"
	tFallback       = "cloudflare:index/customHostnameFallbackOrigin:CustomHostnameFallbackOrigin"

	proxyImage = "traefik:v3.5@sha256:2222222222222222222222222222222222222222222222222222222222222222"
	pooldImage = "tenantpool/poold:1@sha256:3333333333333333333333333333333333333333333333333333333333333333"
	zoneID     = "0123456789abcdef0123456789abcdef"
	cfToken    = "cloudflare-token-do-not-log"
	originKey  = "-----BEGIN PRIVATE KEY-----\norigin-key-do-not-log\n-----END PRIVATE KEY-----\n"
	originCert = "-----BEGIN CERTIFICATE-----\norigin-cert\n-----END CERTIFICATE-----\n"
	dnsToken   = "acme-dns-token-do-not-log"
)

var secrets = []string{cfToken, "origin-key-do-not-log", dnsToken}

func devConfig() Config {
	return Config{
		Domain:     "localhost",
		Hosts:      []HostConfig{{Name: "local", DockerURL: "unix:///var/run/docker.sock", Address: "127.0.0.1", Capacity: 10}},
		ProxyImage: proxyImage,
		PooldImage: pooldImage,
		TLS:        TLSConfig{Mode: TLSSelfSigned},
	}
}

func prodConfig() Config {
	ssh := []string{"-o", "StrictHostKeyChecking=yes"}
	return Config{
		Domain:        "axiestudio.com",
		CompanyDomain: "axiestudio.se",
		Hosts: []HostConfig{
			{Name: "edge1", DockerURL: "ssh://deploy@203.0.113.10", SSHOpts: ssh, Address: "203.0.113.10", Capacity: 40, DockerAPIVersion: "1.47"},
			{Name: "edge2", DockerURL: "ssh://deploy@203.0.113.20:2222", SSHOpts: ssh, Address: "203.0.113.20", Capacity: 30, DockerAPIVersion: "1.41"},
		},
		ProxyImage: proxyImage,
		PooldImage: pooldImage,
		TLS:        TLSConfig{Mode: TLSCloudflareOrigin, OriginCertificate: originCert, OriginPrivateKey: originKey},
		Cloudflare: &CloudflareConfig{ZoneID: zoneID, APIToken: cfToken},
	}
}

func acmeConfig() Config {
	c := prodConfig()
	c.TLS = TLSConfig{Mode: TLSACMEDNS01, ACMEEmail: "ops@axiestudio.com", ACMEDNSToken: dnsToken}
	return c
}

func run(t *testing.T, cfg Config) *pulumitest.Mocks {
	t.Helper()
	m, err := pulumitest.Run("test", Program(cfg))
	if err != nil {
		t.Fatalf("program failed: %v", err)
	}
	return m
}

func env(t *testing.T, c pulumitest.Resource) (map[string]string, bool) {
	t.Helper()
	v, secret := c.Input("envs")
	out := map[string]string{}
	for _, e := range v.([]any) {
		k, val, _ := strings.Cut(e.(string), "=")
		out[k] = val
	}
	return out, secret
}

// args is the edge container's command line as flag → value: flags only, which the image's
// entrypoint hands to traefik.
func args(t *testing.T, c pulumitest.Resource) map[string]string {
	t.Helper()
	cmd := c.Strings("command")
	if len(cmd) == 0 {
		t.Fatal("edge command is empty: want Traefik's flags")
	}
	out := map[string]string{}
	for _, a := range cmd {
		k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") {
			t.Fatalf("edge argument %q is not --flag=value", a)
		}
		if _, dup := out[k]; dup {
			t.Errorf("flag %s given twice", k)
		}
		out[k] = v
	}
	return out
}

func TestResourcesGolden(t *testing.T) {
	for name, cfg := range map[string]Config{
		"resources-dev.txt":  devConfig(),
		"resources-prod.txt": prodConfig(),
		"resources-acme.txt": acmeConfig(),
	} {
		t.Run(name, func(t *testing.T) { pulumitest.Golden(t, name, run(t, cfg).List()) })
	}
}

func TestDevSkipsCloudflare(t *testing.T) {
	m := run(t, devConfig())
	for _, r := range m.Resources() {
		if strings.Contains(r.Type, "cloudflare") {
			t.Errorf("dev registered %s %s", r.Type, r.Name)
		}
	}
	a := args(t, m.Get(t, tContainer, "edge-local"))
	if _, ok := a["entrypoints.web.http.redirections.entrypoint.to"]; ok {
		t.Error("dev redirects HTTP to HTTPS; tenants must answer on http://clientNN.localhost")
	}
}

func TestPerHost(t *testing.T) {
	m := run(t, prodConfig())
	for _, h := range prodConfig().Hosts {
		t.Run(h.Name, func(t *testing.T) {
			p := m.Get(t, tDockerProvider, "docker-"+h.Name)
			if p.String("host") != h.DockerURL {
				t.Errorf("provider host = %q", p.String("host"))
			}
			if got := p.Strings("sshOpts"); fmt.Sprint(got) != fmt.Sprint(h.SSHOpts) {
				t.Errorf("sshOpts = %v", got)
			}
			n := m.Get(t, tNetwork, "tenants-"+h.Name)
			opts, _ := n.Input("options")
			if opts.(map[string]any)["com.docker.network.bridge.enable_icc"] != "false" {
				t.Errorf("network options %v: inter-container traffic must be off", opts)
			}
			if n.String("name") != DefaultNetwork || n.String("driver") != "bridge" {
				t.Errorf("network %s driver %s", n.String("name"), n.String("driver"))
			}
			c := m.Get(t, tContainer, "edge-"+h.Name)
			if c.String("networkMode") != "host" {
				t.Errorf("edge networkMode = %q, want host", c.String("networkMode"))
			}
			if c.String("restart") != "unless-stopped" {
				t.Errorf("edge restart = %q", c.String("restart"))
			}
			if ports, _ := c.Input("ports"); ports != nil && len(ports.([]any)) > 0 {
				t.Errorf("edge ports = %v: host network mode listens directly", ports)
			}
			hc, _ := c.Input("healthcheck")
			if tests := fmt.Sprint(hc.(map[string]any)["tests"]); tests != "[CMD traefik healthcheck --entrypoints.ping.address=127.0.0.1:8082 --ping=true --ping.entrypoint=ping]" {
				t.Errorf("edge health check = %s", tests)
			}
			if !strings.Contains(c.Provider, "docker-"+h.Name) || !strings.Contains(n.Provider, "docker-"+h.Name) {
				t.Errorf("edge on %q, network on %q: want the host's provider", c.Provider, n.Provider)
			}
			a := args(t, c)
			for k, v := range map[string]string{
				"providers.docker":                                    "true",
				"providers.docker.exposedbydefault":                   "false",
				"providers.docker.network":                            DefaultNetwork,
				"entrypoints.web.address":                             ":10080",
				"entrypoints.websecure.address":                       ":10443",
				"entrypoints.web.http.redirections.entrypoint.to":     "websecure",
				"providers.file.filename":                             dynamicConfig,
				"entrypoints.ping.address":                            pingAddress,
				"entrypoints.websecure.http.tls":                      "true",
				"providers.docker.constraints":                        "Label(`tenantpool.managed`,`true`)",
				"entrypoints.web.http.redirections.entrypoint.scheme": "https",
			} {
				if a[k] != v {
					t.Errorf("edge flag %s = %q, want %q", k, a[k], v)
				}
			}
			if envs, _ := c.Input("envs"); envs != nil {
				t.Errorf("edge env %v: Traefik reads one configuration source, its flags", envs)
			}
		})
	}
}

func TestCloudflareRecords(t *testing.T) {
	m := run(t, prodConfig())
	for _, want := range []struct{ name, fqdn, typ, content string }{
		{"wildcard", "*.axiestudio.com", "A", "203.0.113.10"},
		{"apex", "axiestudio.com", "A", "203.0.113.10"},
		{"fallback-origin", "fallback.axiestudio.com", "A", "203.0.113.10"},
		{"custom-domain-target", "customers.axiestudio.com", "CNAME", "fallback.axiestudio.com"},
	} {
		r := m.Get(t, tRecord, want.name)
		if r.String("name") != want.fqdn || r.String("type") != want.typ || r.String("content") != want.content || r.String("zoneId") != zoneID {
			t.Errorf("record %s = %s %s %s in %s", want.name, r.String("name"), r.String("type"), r.String("content"), r.String("zoneId"))
		}
		if p, _ := r.Input("proxied"); p != true {
			t.Errorf("record %s is not proxied", want.name)
		}
	}
	if n := len(m.OfType(tRecord)); n != 4 {
		t.Errorf("%d records, want 4 (the second host needs none: tenants there get their own)", n)
	}
	fb := m.Get(t, tFallback, "fallback-origin")
	if fb.String("origin") != "fallback.axiestudio.com" || fb.String("zoneId") != zoneID {
		t.Errorf("fallback origin = %s in %s", fb.String("origin"), fb.String("zoneId"))
	}
	if _, secret := m.Get(t, tCFProvider, "cloudflare").Input("apiToken"); !secret {
		t.Error("cloudflare apiToken is not a secret")
	}

	cfg := prodConfig()
	cfg.LandingAddress = "landing.example.net"
	apex := run(t, cfg).Get(t, tRecord, "apex")
	if apex.String("type") != "CNAME" || apex.String("content") != "landing.example.net" {
		t.Errorf("apex with a landing host = %s %s", apex.String("type"), apex.String("content"))
	}
}

func TestTLSModes(t *testing.T) {
	t.Run("cloudflare origin certificate", func(t *testing.T) {
		m := run(t, prodConfig())
		c := m.Get(t, tContainer, "edge-edge1")
		ups, _ := c.Input("uploads")
		var keySecret, certSeen bool
		for _, u := range c.Inputs["uploads"].ArrayValue() {
			obj := u.ObjectValue()
			switch obj["file"].StringValue() {
			case certDir + "/origin.key":
				keySecret = obj["content"].IsSecret()
				// Uploads are root's; the edge runs as nobody and must read it.
				if perm := obj["permissions"].StringValue(); perm != "0644" {
					t.Errorf("origin key permissions %s: the non-root edge cannot read a root-owned key", perm)
				}
			case certDir + "/origin.pem":
				certSeen = true
			}
		}
		if !keySecret || !certSeen {
			t.Errorf("uploads %v: want the certificate and the key, the key a secret", ups)
		}
		for _, v := range m.OfType(tVolume) {
			if v.String("name") != DockerAPIVolumeName {
				t.Errorf("volume %s without ACME", v.String("name"))
			}
		}
	})
	t.Run("acme dns-01", func(t *testing.T) {
		m := run(t, acmeConfig())
		c := m.Get(t, tContainer, "edge-edge2")
		// Nobody without any capability in ACME mode too: a one-shot container hands the
		// root-owned ACME volume over first, as root with CAP_CHOWN only, and exits.
		if caps, _ := c.Input("capabilities"); c.String("user") != "65534:65534" || fmt.Sprint(caps) != "map[drops:[ALL]]" {
			t.Errorf("acme edge user %q with %v, want 65534:65534 with every capability dropped", c.String("user"), caps)
		}
		o := m.Get(t, tContainer, "edge-acme-owner-edge2")
		if caps, _ := o.Input("capabilities"); o.String("user") != "0:0" || fmt.Sprint(caps) != "map[adds:[CHOWN] drops:[ALL]]" {
			t.Errorf("acme owner user %q with %v, want root with CHOWN only", o.String("user"), caps)
		}
		cmd, _ := o.Input("command")
		if fmt.Sprint(cmd) != "[edge acme-storage --dir /acme --owner 65534:65534]" {
			t.Errorf("acme owner command %v, want it to hand /acme to the edge's user", cmd)
		}
		if att, _ := o.Input("attach"); fmt.Sprint(att) != "true" || o.String("networkMode") != "none" || o.String("restart") != "no" {
			t.Errorf("acme owner: attach %v, network %q, restart %q: want a one-shot run waited for, without network", att, o.String("networkMode"), o.String("restart"))
		}
		e, secret := env(t, c)
		if !secret {
			t.Error("edge env carries the DNS token but is not a secret")
		}
		if len(e) != 1 || e["CF_DNS_API_TOKEN"] != dnsToken {
			t.Errorf("edge env %v: want the DNS token only", e)
		}
		a := args(t, c)
		for k, v := range map[string]string{
			"entrypoints.websecure.http.tls.certresolver":         certResolver,
			"entrypoints.websecure.http.tls.domains[0].main":      "axiestudio.com",
			"entrypoints.websecure.http.tls.domains[0].sans":      "*.axiestudio.com",
			"certificatesresolvers.le.acme.dnschallenge.provider": "cloudflare",
			"certificatesresolvers.le.acme.email":                 "ops@axiestudio.com",
			"certificatesresolvers.le.acme.storage":               "/acme/acme.json",
		} {
			if a[k] != v {
				t.Errorf("flag %s = %q, want %q", k, a[k], v)
			}
		}
		if n := len(m.OfType(tVolume)); n != 4 {
			t.Errorf("want one ACME and one Docker API volume per host, got %d volumes", n)
		}
	})
}

func TestSecretsNeverInPlainInputs(t *testing.T) {
	for name, cfg := range map[string]Config{"origin": prodConfig(), "acme": acmeConfig()} {
		m := run(t, cfg)
		for _, r := range m.Resources() {
			for k, v := range r.Inputs {
				if pulumitest.HasSecret(v) {
					continue
				}
				text := fmt.Sprint(pulumitest.Plain(v))
				for _, s := range secrets {
					if strings.Contains(text, s) {
						t.Errorf("%s: %s %s input %s carries a secret in plain text", name, r.Type, r.Name, k)
					}
				}
			}
		}
	}
}

func TestOutputs(t *testing.T) {
	for _, tc := range []struct {
		cfg        Config
		wantTarget string
		wantHosts  []Host
	}{
		// A host that states no API version is output with the minimum, what was assumed.
		{devConfig(), "", []Host{LocalHost()}},
		{prodConfig(), "customers.axiestudio.com", []Host{
			{Name: "edge1", DockerURL: "ssh://deploy@203.0.113.10", SSHOpts: []string{"-o", "StrictHostKeyChecking=yes"}, Address: "203.0.113.10", Capacity: 40, Network: DefaultNetwork, WildcardTarget: true, DockerAPIVersion: "1.47"},
			{Name: "edge2", DockerURL: "ssh://deploy@203.0.113.20:2222", SSHOpts: []string{"-o", "StrictHostKeyChecking=yes"}, Address: "203.0.113.20", Capacity: 30, Network: DefaultNetwork, DockerAPIVersion: "1.41"},
		}},
	} {
		t.Run(tc.cfg.Domain, func(t *testing.T) {
			_, err := pulumitest.Run("test", func(ctx *pulumi.Context) error {
				out, err := deploy(ctx, tc.cfg)
				if err != nil {
					return err
				}
				hosts, err := pulumitest.Await(ctx.Context(), out.hosts.ToMapArrayOutput())
				if err != nil {
					return err
				}
				got, err := DecodeHosts(hosts.Value)
				if err != nil {
					return err
				}
				if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.wantHosts) {
					t.Errorf("hosts output\n got %+v\nwant %+v", got, tc.wantHosts)
				}
				if want := tc.cfg.OutputHosts(); fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
					t.Errorf("hosts output\n got %+v\nOutputHosts %+v", got, want)
				}
				target, err := pulumitest.Await(ctx.Context(), out.customDomainTarget)
				if err != nil {
					return err
				}
				if target.Value != tc.wantTarget {
					t.Errorf("custom domain target = %v, want %q", target.Value, tc.wantTarget)
				}
				nets, err := pulumitest.Await(ctx.Context(), out.networks.ToStringMapOutput())
				if err != nil {
					return err
				}
				if n := nets.Value.(map[string]string); len(n) != len(tc.cfg.Hosts) || n[tc.cfg.Hosts[0].Name] != DefaultNetwork {
					t.Errorf("networks output = %v", n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestInvalidConfigRejected(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"no hosts", func(c *Config) { c.Hosts = nil }, "no hosts"},
		{"privileged edge port", func(c *Config) { c.EdgePorts = EdgePorts{HTTP: 80, HTTPS: 10443} }, "edge port http 80 must be an unprivileged port"},
		{"same edge ports", func(c *Config) { c.EdgePorts = EdgePorts{HTTP: 10443, HTTPS: 10443} }, "both 10443"},
		{"edge port is ping's", func(c *Config) { c.EdgePorts = EdgePorts{HTTP: 10080, HTTPS: 8082} }, "ping port"},
		{"edge port out of range", func(c *Config) { c.EdgePorts = EdgePorts{HTTP: 70000, HTTPS: 10443} }, "1024–65535"},
		{"poold image by tag", func(c *Config) { c.PooldImage = "tenantpool/poold:latest" }, `poold image (the edge's Docker proxy): image "tenantpool/poold:latest" must be pinned by digest`},
		{"no poold image", func(c *Config) { c.PooldImage = "" }, "poold image"},
		{"bad domain", func(c *Config) { c.Domain = "Axiestudio.com" }, "domain"},
		{"duplicate host", func(c *Config) { c.Hosts[1].Name = "edge1" }, "defined twice"},
		{"bad docker url", func(c *Config) { c.Hosts[0].DockerURL = "tcp://203.0.113.10:2375" }, "docker URL"},
		{"no capacity", func(c *Config) { c.Hosts[0].Capacity = 0 }, "capacity"},
		{"bad address", func(c *Config) { c.Hosts[0].Address = "not an address" }, "address"},
		{"proxy image by tag", func(c *Config) { c.ProxyImage = "traefik:v3.5" }, "pinned by digest"},
		{"no cloudflare for a real domain", func(c *Config) { c.Cloudflare = nil }, "needs Cloudflare"},
		{"cloudflare token missing", func(c *Config) { c.Cloudflare.APIToken = "" }, "API token"},
		{"self-signed in prod", func(c *Config) { c.TLS = TLSConfig{Mode: TLSSelfSigned} }, "local domain only"},
		{"unknown tls mode", func(c *Config) { c.TLS.Mode = "letsencrypt" }, "tls mode"},
		{"origin key missing", func(c *Config) { c.TLS.OriginPrivateKey = "" }, "private key"},
		{"acme token missing", func(c *Config) {
			c.TLS = TLSConfig{Mode: TLSACMEDNS01, ACMEEmail: "ops@axiestudio.com"}
		}, "acme DNS token"},
		{"acme bad email", func(c *Config) {
			c.TLS = TLSConfig{Mode: TLSACMEDNS01, ACMEEmail: "ops", ACMEDNSToken: dnsToken}
		}, "e-mail"},
		{"cloudflare on localhost", func(c *Config) {
			*c = devConfig()
			c.Cloudflare = &CloudflareConfig{ZoneID: zoneID, APIToken: cfToken}
		}, "must not be configured"},
		{"garbage docker API version", func(c *Config) { c.Hosts[1].DockerAPIVersion = "abc" }, `host edge2: docker API version "abc" must be <major>.<minor>`},
		{"docker API version below the minimum", func(c *Config) { c.Hosts[0].DockerAPIVersion = "1.40" }, "host edge1: docker API version 1.40 is older than the minimum 1.41"},
		{"ssh options on a socket", func(c *Config) {
			*c = devConfig()
			c.Hosts[0].SSHOpts = []string{"-v"}
		}, "sshOpts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := prodConfig()
			tc.mutate(&cfg)
			m, err := pulumitest.Run("test", Program(cfg))
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error quotes a secret: %q", err)
				}
			}
			if rs := m.Resources(); len(rs) != 0 {
				t.Errorf("registered %d resources before rejecting the config", len(rs))
			}
		})
	}
	for _, c := range []Config{devConfig(), prodConfig(), acmeConfig()} {
		if err := c.Validate(); err != nil {
			t.Errorf("valid %s config rejected: %v", c.Domain, err)
		}
	}
}

// The edge on every host: Traefik without the Docker socket, reaching the engine only through
// the socket proxy; a non-root user without any capability, listening on the unprivileged
// edge ports; no version checks or usage reports; an access log without query strings.
func TestEdgeHardening(t *testing.T) {
	m := run(t, prodConfig())
	for _, h := range prodConfig().Hosts {
		t.Run(h.Name, func(t *testing.T) {
			c := m.Get(t, tContainer, "edge-"+h.Name)
			if got := c.String("user"); got != "65534:65534" {
				t.Errorf("edge user = %q, want nobody (65534:65534)", got)
			}
			caps, _ := c.Input("capabilities")
			if got := fmt.Sprint(caps); got != "map[drops:[ALL]]" {
				t.Errorf("edge capabilities = %s, want all dropped and none added", got)
			}
			if sec := c.Strings("securityOpts"); fmt.Sprint(sec) != "[no-new-privileges:true]" {
				t.Errorf("edge securityOpts = %v", sec)
			}
			vols, _ := c.Input("volumes")
			if got := fmt.Sprint(vols); got != "[map[containerPath:/run/tenantpool-edge readOnly:true volumeName:tenantpool-edge-docker-api]]" {
				t.Errorf("edge volumes = %s, want only the Docker proxy's volume, read-only (never the engine's socket)", got)
			}
			a := args(t, c)
			for k, v := range map[string]string{
				"providers.docker.endpoint":            "unix:///run/tenantpool-edge/docker.sock",
				"global.checknewversion":               "false",
				"global.sendanonymoususage":            "false",
				"accesslog":                            "true",
				"accesslog.format":                     "json",
				"accesslog.fields.defaultmode":         "keep",
				"accesslog.fields.names.RequestPath":   "drop", // the case Traefik's field names have
				"accesslog.fields.names.RequestLine":   "drop",
				"accesslog.fields.headers.defaultmode": "drop",
			} {
				if a[k] != v {
					t.Errorf("edge flag %s = %q, want %q", k, a[k], v)
				}
			}

			p := m.Get(t, tContainer, "docker-proxy-"+h.Name)
			if got := p.String("name"); got != DockerProxyContainerName {
				t.Errorf("proxy name = %q", got)
			}
			if got := p.String("image"); got != "sha256:image-of-"+pooldImage {
				t.Errorf("proxy image = %q, want the poold image's id", got)
			}
			if got := fmt.Sprint(p.Strings("command")); got != "[edge docker-proxy --socket /var/run/docker.sock --listen unix:///run/tenantpool-edge/docker.sock]" {
				t.Errorf("proxy command = %s", got)
			}
			if got := p.String("networkMode"); got != "none" {
				t.Errorf("proxy networkMode = %q, want none", got)
			}
			caps, _ = p.Input("capabilities")
			if got := fmt.Sprint(caps); got != "map[drops:[ALL]]" {
				t.Errorf("proxy capabilities = %s", got)
			}
			if ro, _ := p.Input("readOnly"); ro != true {
				t.Error("proxy root file system is writable")
			}
			if sec := p.Strings("securityOpts"); fmt.Sprint(sec) != "[no-new-privileges:true]" {
				t.Errorf("proxy securityOpts = %v", sec)
			}
			vols, _ = p.Input("volumes")
			if got := fmt.Sprint(vols); got != "[map[containerPath:/var/run/docker.sock hostPath:/var/run/docker.sock] map[containerPath:/run/tenantpool-edge volumeName:tenantpool-edge-docker-api]]" {
				t.Errorf("proxy volumes = %s", got)
			}
			hc, _ := p.Input("healthcheck")
			if tests := fmt.Sprint(hc.(map[string]any)["tests"]); tests != "[CMD poold edge ping --listen unix:///run/tenantpool-edge/docker.sock]" {
				t.Errorf("proxy health check = %s", tests)
			}
			if !strings.Contains(p.Provider, "docker-"+h.Name) {
				t.Errorf("proxy on provider %q", p.Provider)
			}
		})
	}
}
