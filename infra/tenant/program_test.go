package tenant

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/internal/pulumitest"
	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
)

const (
	tContainer      = "docker:index/container:Container"
	tImage          = "docker:index/remoteImage:RemoteImage"
	tVolume         = "docker:index/volume:Volume"
	tDockerProvider = "pulumi:providers:docker"
	tCFProvider     = "pulumi:providers:cloudflare"
	tRecord         = "cloudflare:index/record:Record"
	tCustomHostname = "cloudflare:index/customHostname:CustomHostname"

	password  = "operator-password-do-not-log"
	secretKey = "secret-key-0123456789-0123456789-do-not-log"
	cfToken   = "cloudflare-token-do-not-log"
	image     = "langflowai/langflow:1.5.0@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	zoneID    = "0123456789abcdef0123456789abcdef"
)

var secrets = []string{password, secretKey, cfToken}

func tier(t testing.TB, name string) pool.Tier {
	t.Helper()
	ts, err := pool.NewTiers(pool.DefaultTiers())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ts.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// prodSpec is a valid spec on a production host that is not the wildcard target.
func prodSpec(t testing.TB, tierName string, customDomains ...string) Spec {
	return Spec{
		Slug:   "client07",
		Domain: "axiestudio.com",
		Tier:   tier(t, tierName),
		Host: Host{
			Name: "edge2", DockerURL: "ssh://deploy@203.0.113.20", SSHOpts: []string{"-o", "StrictHostKeyChecking=yes"},
			Address: "203.0.113.20", Capacity: 40, Network: "tenantpool-tenants",
		},
		Image:            image,
		OperatorUser:     "operator",
		OperatorPassword: password,
		SecretKey:        secretKey,
		CustomDomains:    customDomains,
		Cloudflare:       &CloudflareConfig{ZoneID: zoneID, APIToken: cfToken},
		StarterFlows:     map[string]string{"basic-prompting.json": `{"name":"Basic Prompting"}`},
	}
}

// devSpec is a valid spec on the local development host.
func devSpec(t testing.TB) Spec {
	return Spec{
		Slug:   "client01",
		Domain: "localhost",
		Tier:   tier(t, "basic"),
		Host: Host{
			Name: "local", DockerURL: "unix:///var/run/docker.sock", Address: "127.0.0.1", Capacity: 10,
			Network: "tenantpool-tenants", WildcardTarget: true,
		},
		Image:            image,
		OperatorUser:     "operator",
		OperatorPassword: password,
		SecretKey:        secretKey,
	}
}

func run(t *testing.T, spec Spec) *pulumitest.Mocks {
	t.Helper()
	m, err := pulumitest.Run("tenant-"+spec.Slug, Program(spec))
	if err != nil {
		t.Fatalf("program failed: %v", err)
	}
	return m
}

func TestResourcesGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		spec   func(t *testing.T) Spec
	}{
		{"resources-dev-basic.txt", func(t *testing.T) Spec { return devSpec(t) }},
		{"resources-prod-enterprise.txt", func(t *testing.T) Spec {
			return prodSpec(t, "enterprise", "flows.example.org", "ai.example.net")
		}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			pulumitest.Golden(t, tc.golden, run(t, tc.spec(t)).List())
		})
	}
}

func TestContainer(t *testing.T) {
	spec := prodSpec(t, "premium", "flows.example.org")
	spec.ActiveDomains = []string{"flows.example.org"}
	spec.Branding = Branding{AppName: "Acme Flows", LogoURL: "https://acme.example/logo.svg", PrimaryColor: "#112233"}
	m := run(t, spec)
	c := m.Get(t, tContainer, "langflow")

	t.Run("env", func(t *testing.T) {
		env, secret := c.Input("envs")
		if !secret {
			t.Fatal("envs is not a secret: it carries the password and secret key")
		}
		got := map[string]string{}
		for _, e := range env.([]any) {
			k, v, _ := strings.Cut(e.(string), "=")
			got[k] = v
		}
		want := map[string]string{
			"LANGFLOW_AUTO_LOGIN":            "false",
			"LANGFLOW_ENABLE_SIGNUP":         "false",
			"LANGFLOW_NEW_USER_IS_ACTIVE":    "false",
			"LANGFLOW_SUPERUSER":             "operator",
			"LANGFLOW_SUPERUSER_PASSWORD":    password,
			"LANGFLOW_SECRET_KEY":            secretKey,
			"LANGFLOW_LOAD_FLOWS_PATH":       UploadedStarterFlowsPath,
			"HOME":                           DataDir,
			"LANGFLOW_CONFIG_DIR":            DataDir,
			"LANGFLOW_PORT":                  "7860",
			"TENANTPOOL_BRAND_APP_NAME":      "Acme Flows",
			"TENANTPOOL_BRAND_LOGO_URL":      "https://acme.example/logo.svg",
			"TENANTPOOL_BRAND_PRIMARY_COLOR": "#112233",
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("env %s = %q, want %q", k, got[k], v)
			}
		}
	})

	t.Run("limits and restart", func(t *testing.T) {
		if got, _ := c.Input("memory"); got != float64(2048) {
			t.Errorf("memory = %v, want 2048 (premium)", got)
		}
		if got, _ := c.Input("memorySwap"); got != float64(2048) {
			t.Errorf("memorySwap = %v, want 2048 (no swap)", got)
		}
		if got := c.String("cpus"); got != "1.5" {
			t.Errorf("cpus = %q, want 1.5 (premium)", got)
		}
		if got := c.String("restart"); got != "unless-stopped" {
			t.Errorf("restart = %q", got)
		}
	})

	t.Run("health check uses python on /health_check", func(t *testing.T) {
		hc, _ := c.Input("healthcheck")
		tests, _ := hc.(map[string]any)["tests"].([]any)
		cmd := fmt.Sprint(tests...)
		if len(tests) < 3 || tests[0] != "CMD" || tests[1] != "python" {
			t.Errorf("health check %q: want CMD python …", tests)
		}
		if !strings.Contains(cmd, "/health_check") || strings.Contains(cmd, "curl") {
			t.Errorf("health check %q must ask /health_check without curl", cmd)
		}
	})

	t.Run("no published ports, only the tenants network", func(t *testing.T) {
		if ports, _ := c.Input("ports"); ports != nil && len(ports.([]any)) > 0 {
			t.Errorf("ports = %v, want none", ports)
		}
		if pub, _ := c.Input("publishAllPorts"); pub == true {
			t.Error("publishAllPorts is set")
		}
		if got := c.String("networkMode"); got != "tenantpool-tenants" {
			t.Errorf("networkMode = %q, want the tenants network (never the default bridge)", got)
		}
		nets, _ := c.Input("networksAdvanced")
		if n := nets.([]any); len(n) != 1 || n[0].(map[string]any)["name"] != "tenantpool-tenants" {
			t.Errorf("networksAdvanced = %v, want only tenantpool-tenants", nets)
		}
	})

	t.Run("routing labels", func(t *testing.T) {
		l := c.Labels("labels")
		want := map[string]string{
			"traefik.enable":                                          "true",
			"traefik.docker.network":                                  "tenantpool-tenants",
			"traefik.http.routers.client07.rule":                      "Host(`client07.axiestudio.com`) || Host(`flows.example.org`)",
			"traefik.http.services.client07.loadbalancer.server.port": "7860",
			"tenantpool.managed":                                      "true",
			"tenantpool.slug":                                         "client07",
			"tenantpool.tier":                                         "premium",
		}
		for k, v := range want {
			if l[k] != v {
				t.Errorf("label %s = %q, want %q", k, l[k], v)
			}
		}
	})

	t.Run("image, volume, flows, provider", func(t *testing.T) {
		img := m.Get(t, tImage, "image")
		if img.String("name") != image {
			t.Errorf("image name = %q", img.String("name"))
		}
		if keep, _ := img.Input("keepLocally"); keep != true {
			t.Error("image must be kept on the host: other tenants use it")
		}
		if got := c.String("image"); got != "sha256:image-of-"+image {
			t.Errorf("container image = %q, want the pulled image's id", got)
		}
		vol := m.Get(t, tVolume, "data")
		if vol.String("name") != "tenant-client07-data" {
			t.Errorf("volume name = %q", vol.String("name"))
		}
		vols, _ := c.Input("volumes")
		v := vols.([]any)[0].(map[string]any)
		if v["volumeName"] != "tenant-client07-data" || v["containerPath"] != DataDir {
			t.Errorf("volume mount = %v", v)
		}
		ups, _ := c.Input("uploads")
		u := ups.([]any)[0].(map[string]any)
		if u["file"] != UploadedStarterFlowsPath+"/basic-prompting.json" {
			t.Errorf("starter flow upload = %v", u)
		}
		prov := m.Get(t, tDockerProvider, "docker")
		if prov.String("host") != "ssh://deploy@203.0.113.20" {
			t.Errorf("docker provider host = %q", prov.String("host"))
		}
		for _, r := range []pulumitest.Resource{c, img, vol} {
			if !strings.Contains(r.Provider, "pulumi:providers:docker::docker") {
				t.Errorf("%s uses provider %q, want the host's docker provider", r.Name, r.Provider)
			}
		}
	})
}

// The health check has the shape the host's engine accepts. From API 1.44 a starting tenant is
// checked every 2 s (start interval), a started one every 30 s. Older engines refuse a start
// interval, so they check every 2 s throughout, with retries that keep the unhealthy verdict at
// 150 s of failures. Either way a tenant is routable within 5 s of Langflow answering, where a
// 30 s interval alone made it wait 30 s.
func TestHealthCheckPerDockerAPI(t *testing.T) {
	withStartInterval := map[string]any{
		"interval": "30s", "timeout": "10s", "retries": float64(5), "startPeriod": "180s", "startInterval": "2s",
	}
	withoutStartInterval := map[string]any{
		"interval": "2s", "timeout": "10s", "retries": float64(75), "startPeriod": "180s",
	}
	for _, tc := range []struct {
		api  platform.DockerAPIVersion
		want map[string]any
	}{
		{"", withoutStartInterval}, // a host that states nothing: the stock engine, API 1.41
		{"1.41", withoutStartInterval},
		{"1.43", withoutStartInterval},
		{"1.44", withStartInterval},
		{"1.47", withStartInterval},
		{"1.100", withStartInterval},
	} {
		t.Run("api "+string(tc.api), func(t *testing.T) {
			spec := devSpec(t)
			spec.Host.DockerAPIVersion = tc.api
			hc, _ := run(t, spec).Get(t, tContainer, "langflow").Input("healthcheck")
			got := hc.(map[string]any)
			if tests := fmt.Sprint(got["tests"]); !strings.HasPrefix(tests, "[CMD python -c ") || !strings.Contains(tests, "/health_check") {
				t.Errorf("tests = %s", tests)
			}
			delete(got, "tests")
			if !maps.Equal(got, tc.want) {
				t.Errorf("health check\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestCloudflare(t *testing.T) {
	for _, tc := range []struct {
		name          string
		spec          func(t *testing.T) Spec
		wantRecord    bool
		wantHostnames []string
		wantCFOrigin  bool
	}{
		{"dev: nothing at cloudflare", func(t *testing.T) Spec { return devSpec(t) }, false, nil, false},
		{"basic on the wildcard host: nothing", func(t *testing.T) Spec {
			s := prodSpec(t, "basic")
			s.Host.WildcardTarget = true
			return s
		}, false, nil, false},
		{"basic on another host: its own record", func(t *testing.T) Spec { return prodSpec(t, "basic") }, true, nil, false},
		{"premium with its one custom domain on the wildcard host", func(t *testing.T) Spec {
			s := prodSpec(t, "premium", "flows.example.org")
			s.Host.WildcardTarget = true
			return s
		}, false, []string{"flows.example.org"}, false},
		{"enterprise with three custom domains elsewhere", func(t *testing.T) Spec {
			return prodSpec(t, "enterprise", "a.example.org", "b.example.org", "c.example.net")
		}, true, []string{"a.example.org", "b.example.org", "c.example.net"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec(t)
			m := run(t, spec)
			records := m.OfType(tRecord)
			if got := len(records) == 1; got != tc.wantRecord {
				t.Fatalf("records = %d, want record: %v", len(records), tc.wantRecord)
			}
			if tc.wantRecord {
				r := records[0]
				if r.String("name") != "client07.axiestudio.com" || r.String("type") != "A" || r.String("content") != "203.0.113.20" || r.String("zoneId") != zoneID {
					t.Errorf("record = %v", r.Inputs)
				}
				if p, _ := r.Input("proxied"); p != true {
					t.Error("record is not proxied")
				}
			}
			var hostnames []string
			for _, ch := range m.OfType(tCustomHostname) {
				hostnames = append(hostnames, ch.String("hostname"))
				if got := ch.String("customOriginServer"); (got == spec.Hostname()) != tc.wantCFOrigin {
					t.Errorf("%s customOriginServer = %q", ch.Name, got)
				}
				if ch.String("zoneId") != zoneID {
					t.Errorf("%s zoneId = %q", ch.Name, ch.String("zoneId"))
				}
			}
			slices.Sort(hostnames) // the mock monitor registers concurrently
			if !slices.Equal(hostnames, tc.wantHostnames) {
				t.Errorf("custom hostnames = %v, want %v", hostnames, tc.wantHostnames)
			}
			cfProviders := m.OfType(tCFProvider)
			if wantCF := tc.wantRecord || len(tc.wantHostnames) > 0; (len(cfProviders) == 1) != wantCF {
				t.Errorf("cloudflare providers = %d, want one: %v", len(cfProviders), wantCF)
			}
			for _, p := range cfProviders {
				if _, secret := p.Input("apiToken"); !secret {
					t.Error("cloudflare apiToken is not a secret")
				}
			}
		})
	}
}

func TestSecretsNeverInPlainInputs(t *testing.T) {
	spec := prodSpec(t, "enterprise", "flows.example.org")
	m := run(t, spec)
	for _, r := range m.Resources() {
		for k, v := range r.Inputs {
			if pulumitest.HasSecret(v) {
				continue
			}
			text := fmt.Sprint(pulumitest.Plain(v))
			for _, s := range secrets {
				if strings.Contains(text, s) {
					t.Errorf("%s %s input %s carries a secret in plain text", r.Type, r.Name, k)
				}
			}
		}
	}
}

func TestOutputs(t *testing.T) {
	spec := prodSpec(t, "premium", "flows.example.org")
	_, err := pulumitest.Run("tenant", func(ctx *pulumi.Context) error {
		out, err := deploy(ctx, spec)
		if err != nil {
			return err
		}
		env, err := pulumitest.Await(ctx.Context(), out.env)
		if err != nil {
			return err
		}
		if !env.Secret {
			t.Error("the container's envs output is not a secret")
		}
		name, err := pulumitest.Await(ctx.Context(), out.containerName)
		if err != nil {
			return err
		}
		if name.Value != "tenant-client07" || name.Secret {
			t.Errorf("container name = %v (secret %v)", name.Value, name.Secret)
		}
		val, err := pulumitest.Await(ctx.Context(), out.validation.ToMapArrayOutput())
		if err != nil {
			return err
		}
		got := fmt.Sprint(val.Value)
		for _, want := range []string{
			"_cf-custom-hostname.flows.example.org", "ownership-token-flows.example.org",
			"_acme-challenge.flows.example.org", "dcv-token-flows.example.org",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("validation records %s lack %s", got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.URL(); got != "https://client07.axiestudio.com" {
		t.Errorf("URL = %q", got)
	}
	if got := devSpec(t).URL(); got != "http://client01.localhost" {
		t.Errorf("dev URL = %q", got)
	}
}

func TestInvalidSpecRejected(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(s *Spec)
		want   string
	}{
		{"bad slug", func(s *Spec) { s.Slug = "Client_07" }, "slug"},
		{"empty slug", func(s *Spec) { s.Slug = "" }, "slug"},
		{"bad domain", func(s *Spec) { s.Domain = "axie studio.com" }, "domain"},
		{"trailing dot domain", func(s *Spec) { s.Domain = "axiestudio.com." }, "domain"},
		{"unknown tier", func(s *Spec) { s.Tier = pool.Tier{} }, "unknown tier"},
		{"invalid tier", func(s *Spec) { s.Tier.MemoryMB = 10 }, "memory_mb"},
		{"too many custom domains for basic", func(s *Spec) {
			s.Tier = tier(t, "basic")
			s.CustomDomains = []string{"flows.example.org"}
		}, "tier basic allows 0"},
		{"too many custom domains for premium", func(s *Spec) {
			s.CustomDomains = []string{"a.example.org", "b.example.org"}
		}, "tier premium allows 1"},
		{"custom domain inside the platform domain", func(s *Spec) { s.CustomDomains = []string{"x.axiestudio.com"} }, "inside the platform domain"},
		{"bad custom domain", func(s *Spec) { s.CustomDomains = []string{"-bad-.org"} }, "custom domain"},
		{"custom domain without cloudflare", func(s *Spec) {
			s.Cloudflare = nil
			s.Host.WildcardTarget = true
			s.CustomDomains = []string{"flows.example.org"}
		}, "need Cloudflare"},
		{"missing password", func(s *Spec) { s.OperatorPassword = "" }, "operator password"},
		{"short password", func(s *Spec) { s.OperatorPassword = "short" }, "operator password"},
		{"missing secret key", func(s *Spec) { s.SecretKey = "" }, "secret key"},
		{"missing operator", func(s *Spec) { s.OperatorUser = "" }, "operator user"},
		{"missing cloudflare token", func(s *Spec) { s.Cloudflare.APIToken = "" }, "API token"},
		{"bad zone id", func(s *Spec) { s.Cloudflare.ZoneID = "zone" }, "zone id"},
		{"off-wildcard host without cloudflare", func(s *Spec) { s.Cloudflare = nil }, "not the wildcard target"},
		{"image by tag", func(s *Spec) { s.Image = "langflowai/langflow:latest" }, "pinned by digest"},
		{"bad docker url", func(s *Spec) { s.Host.DockerURL = "tcp://10.0.0.1:2375" }, "docker URL"},
		{"no network", func(s *Spec) { s.Host.Network = "" }, "network"},
		{"garbage docker API version", func(s *Spec) { s.Host.DockerAPIVersion = "abc" }, `docker API version "abc" must be <major>.<minor>`},
		{"docker API version below the minimum", func(s *Spec) { s.Host.DockerAPIVersion = "1.40" }, "older than the minimum 1.41"},
		{"branding on basic", func(s *Spec) {
			s.Tier = tier(t, "basic")
			s.CustomDomains = nil
			s.Branding = Branding{AppName: "Acme"}
		}, "does not include branding"},
		{"bad colour", func(s *Spec) { s.Branding = Branding{PrimaryColor: "red"} }, "#rrggbb"},
		{"http logo", func(s *Spec) { s.Branding = Branding{LogoURL: "http://acme.example/logo.png"} }, "https URL"},
		{"relative flows path", func(s *Spec) { s.StarterFlowsPath = "flows" }, "absolute path"},
		{"bad flow file name", func(s *Spec) { s.StarterFlows = map[string]string{"../x.json": "{}"} }, "flow file name"},
		{"uploaded flows outside the volume", func(s *Spec) { s.StarterFlowsPath = "/app/flows" }, "must be under /app/data to upload flows: the root filesystem is read-only"},
		{"invalid limit", func(s *Spec) { s.Tier.PidsLimit = 8 }, "pids_limit 8 must be between 64"},
		{"cloudflare on localhost", func(s *Spec) {
			*s = devSpec(t)
			s.Cloudflare = &CloudflareConfig{ZoneID: zoneID, APIToken: cfToken}
		}, "Cloudflare must not be configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := prodSpec(t, "premium", "flows.example.org")
			tc.mutate(&spec)
			if err := spec.Validate(); err == nil {
				t.Fatal("Validate accepted the spec")
			}
			m, err := pulumitest.Run("tenant", Program(spec))
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("err = %v, want ErrInvalidSpec", err)
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
				t.Errorf("registered %d resources before rejecting the spec:\n%s", len(rs), m.List())
			}
		})
	}
}

func TestValidSpecsAccepted(t *testing.T) {
	for name, s := range map[string]Spec{
		"dev":        devSpec(t),
		"basic":      prodSpec(t, "basic"),
		"premium":    prodSpec(t, "premium", "flows.example.org"),
		"enterprise": prodSpec(t, "enterprise", "a.example.org", "b.example.org", "c.example.org", "d.example.org", "e.example.org"),
	} {
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := prodSpec(t, "basic").Validate(); errors.Is(err, pool.ErrUnknownTier) {
		t.Error("a valid tier reported unknown")
	}
	s := prodSpec(t, "premium")
	s.Tier = pool.Tier{}
	if err := s.Validate(); !errors.Is(err, pool.ErrUnknownTier) {
		t.Errorf("missing tier: err = %v, want pool.ErrUnknownTier", err)
	}
}

func TestSuspendedKeepsDataAndDropsTheContainer(t *testing.T) {
	spec := prodSpec(t, "premium", "flows.example.org")
	spec.Suspended = true
	m := run(t, spec)
	if got := m.OfType(tContainer); len(got) != 0 {
		t.Fatalf("a suspended tenant registered %d containers", len(got))
	}
	if len(m.OfType(tVolume)) != 1 || len(m.OfType(tImage)) != 1 {
		t.Fatal("a suspended tenant must keep its data volume and image")
	}
	if len(m.OfType(tCustomHostname)) != 1 {
		t.Fatal("a suspended tenant must keep its custom hostname (resuming needs no new validation)")
	}
	spec.Suspended = false
	if got := run(t, spec).OfType(tContainer); len(got) != 1 {
		t.Fatalf("resumed tenant: %d containers, want 1", len(got))
	}
}

// A restart token becomes a container label (a new token replaces the container); none, no label.
func TestRestartTokenLabel(t *testing.T) {
	spec := devSpec(t)
	if _, ok := run(t, spec).Get(t, tContainer, "langflow").Labels("labels")["tenantpool.restart"]; ok {
		t.Fatal("restart label without a token")
	}
	spec.Restart = "1764100000000"
	if got := run(t, spec).Get(t, tContainer, "langflow").Labels("labels")["tenantpool.restart"]; got != spec.Restart {
		t.Fatalf("restart label = %q, want %q", got, spec.Restart)
	}
}

// A hostile tenant's container: the tier's limits, no capability, an unprivileged user, a
// read-only root with a bounded /tmp, and the limits the provider cannot set handed to the
// provisioner.
func TestContainerConfinement(t *testing.T) {
	t.Run("default premium", func(t *testing.T) {
		spec := prodSpec(t, "premium")
		c := run(t, spec).Get(t, tContainer, "langflow")
		if got := c.String("user"); got != "1000:1000" {
			t.Errorf("user = %q, want the unprivileged 1000:1000", got)
		}
		caps, _ := c.Input("capabilities")
		if got := fmt.Sprint(caps); got != "map[drops:[ALL]]" {
			t.Errorf("capabilities = %s, want every one dropped and none added", got)
		}
		if ro, _ := c.Input("readOnly"); ro != true {
			t.Error("root filesystem is writable")
		}
		tmpfs, _ := c.Input("tmpfs")
		if got := fmt.Sprint(tmpfs); got != "map[/tmp:rw,nosuid,nodev,size=256m,mode=1777]" {
			t.Errorf("tmpfs = %s, want /tmp of premium's 256 MiB", got)
		}
		if got, _ := c.Input("cpuShares"); got != float64(1536) {
			t.Errorf("cpuShares = %v, want 1536 (1.5 CPUs)", got)
		}
		ul, _ := c.Input("ulimits")
		if got := fmt.Sprint(ul); got != "[map[hard:8192 name:nofile soft:8192]]" {
			t.Errorf("ulimits = %s, want nofile 8192 and no nproc", got)
		}
		if so, _ := c.Input("storageOpts"); so != nil {
			t.Errorf("storageOpts = %v, want none without disk_mb", so)
		}
		if sec := c.Strings("securityOpts"); !slices.Equal(sec, []string{"no-new-privileges:true"}) {
			t.Errorf("securityOpts = %v", sec)
		}
		if opts, _ := run(t, spec).Get(t, tVolume, "data").Input("driverOpts"); opts != nil {
			t.Errorf("volume driverOpts = %v, want none without volume_mb", opts)
		}
		if got := spec.EngineResources(); got != (EngineResources{PidsLimit: 512, IOWeight: 500}) {
			t.Errorf("engine resources = %+v, want premium's pids 512 and I/O weight 500", got)
		}
	})
	t.Run("every limit set", func(t *testing.T) {
		spec := devSpec(t)
		spec.Tier.Limits = pool.Limits{PidsLimit: 100, NoFile: 2048, NProc: 5000, DiskMB: 2048, VolumeMB: 10240, TmpMB: 64, CPUWeight: 300, IOWeight: 50}
		m := run(t, spec)
		c := m.Get(t, tContainer, "langflow")
		ul, _ := c.Input("ulimits")
		if got := fmt.Sprint(ul); got != "[map[hard:2048 name:nofile soft:2048] map[hard:5000 name:nproc soft:5000]]" {
			t.Errorf("ulimits = %s", got)
		}
		if so, _ := c.Input("storageOpts"); fmt.Sprint(so) != "map[size:2048M]" {
			t.Errorf("storageOpts = %v, want size 2048M", so)
		}
		if got, _ := c.Input("cpuShares"); got != float64(300) {
			t.Errorf("cpuShares = %v", got)
		}
		tmpfs, _ := c.Input("tmpfs")
		if got := fmt.Sprint(tmpfs); !strings.Contains(got, "size=64m") {
			t.Errorf("tmpfs = %s, want size=64m", got)
		}
		if opts, _ := m.Get(t, tVolume, "data").Input("driverOpts"); fmt.Sprint(opts) != "map[size:10240M]" {
			t.Errorf("volume driverOpts = %v, want size 10240M", opts)
		}
		if got := spec.EngineResources(); got != (EngineResources{PidsLimit: 100, IOWeight: 50}) {
			t.Errorf("engine resources = %+v", got)
		}
	})
}

// A custom domain gets its Cloudflare custom hostname at once, but the tenant's router serves
// it only once it is active: a hostname not yet proven the customer's is never routed.
func TestRouterOnlyForActiveDomains(t *testing.T) {
	for _, tc := range []struct {
		name     string
		active   []string
		wantRule string
	}{
		{"pending", nil, "Host(`client07.axiestudio.com`)"},
		{"one of two active", []string{"b.example.org"}, "Host(`client07.axiestudio.com`) || Host(`b.example.org`)"},
		{"both active", []string{"a.example.org", "b.example.org"}, "Host(`client07.axiestudio.com`) || Host(`a.example.org`) || Host(`b.example.org`)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := prodSpec(t, "enterprise", "a.example.org", "b.example.org")
			spec.ActiveDomains = tc.active
			m := run(t, spec)
			if got := m.Get(t, tContainer, "langflow").Labels("labels")["traefik.http.routers.client07.rule"]; got != tc.wantRule {
				t.Errorf("rule = %q, want %q", got, tc.wantRule)
			}
			var hostnames []string
			for _, ch := range m.OfType(tCustomHostname) {
				hostnames = append(hostnames, ch.String("hostname"))
			}
			slices.Sort(hostnames)
			if !slices.Equal(hostnames, []string{"a.example.org", "b.example.org"}) {
				t.Errorf("custom hostnames = %v, want both whatever their state", hostnames)
			}
		})
	}
	spec := prodSpec(t, "premium", "a.example.org")
	spec.ActiveDomains = []string{"b.example.org"}
	if err := spec.Validate(); err == nil || !strings.Contains(err.Error(), "not one of the custom domains") {
		t.Errorf("active domain without its custom hostname: %v", err)
	}
}
