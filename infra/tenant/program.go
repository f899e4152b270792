package tenant

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-cloudflare/sdk/v5/go/cloudflare"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/platform"
)

// Output keys of a tenant stack.
const (
	OutputURL                    = "url"
	OutputContainerName          = "containerName"
	OutputHost                   = "host"
	OutputCustomDomainValidation = "customDomainValidation"
)

// Container facts.
const (
	// LangflowPort is the port Langflow listens on inside the container; it is never published.
	LangflowPort = 7860
	// DataDir is where the data volume is mounted; Langflow keeps its config and SQLite database
	// there.
	DataDir = "/app/data"
	// User is the unprivileged user Langflow runs as: the image's own user (uid 1000, whose
	// home is DataDir), named by number so that an image that says root still does not run as
	// root. Langflow listens on 7860, so it needs no capability at all.
	User = "1000:1000"
	// TmpDir is the only writable place outside the data volume: a tmpfs of the tier's TmpMB
	// (Python's temporary files, uploads being processed). The root filesystem is read-only.
	TmpDir = "/tmp"
)

// healthCheck asks /health_check with the image's Python (the image has no curl) and requires
// HTTP 200 and status "ok": /health can answer before the app is up.
const healthCheck = "import json,sys,urllib.request; " +
	"r=urllib.request.urlopen('http://127.0.0.1:7860/health_check', timeout=5); " +
	"sys.exit(0 if r.status == 200 and json.load(r).get('status') == 'ok' else 1)"

// ProgramVersion is the version of this program in a tenant's generation (pool.Generation):
// raise it with every change to the resources it declares or their settings, so that ready
// accounts built by the old program are replaced and sold ones can be rolled onto it. Changes
// that shape no tenant leave it alone: a new daemon build is not a new generation.
const ProgramVersion = "1"

// StartIntervalAPIVersion is the first Docker Engine API (Engine 25) that accepts a health check's
// start interval; older engines refuse to create a container that has one.
const StartIntervalAPIVersion platform.DockerAPIVersion = "1.44"

// Health check timing. Traefik routes to a container only once Docker calls it healthy, so
// readyInterval bounds how long a tenant whose Langflow already answers stays unroutable: one
// interval, the check itself and Traefik's reaction, within 5 s.
const (
	readyInterval  = 2 * time.Second  // a starting tenant
	healthInterval = 30 * time.Second // a started one
	healthRetries  = 5                // consecutive failures before unhealthy, at healthInterval
)

// healthcheck is the container's health check for the host's engine. From API 1.44 a starting
// container is checked every readyInterval (the start interval) and a started one every
// healthInterval. Older engines have one interval only, so it is readyInterval for the
// container's whole life, with as many more retries as keep the unhealthy verdict (which hides
// the tenant from Traefik) at the same healthRetries × healthInterval of consecutive failures:
// a busy tenant is not cut off sooner on an old engine. The price is a check every 2 s instead
// of every 30 s.
func (s Spec) healthcheck() *docker.ContainerHealthcheckArgs {
	hc := &docker.ContainerHealthcheckArgs{
		Tests:       pulumi.ToStringArray([]string{"CMD", "python", "-c", healthCheck}),
		Interval:    pulumi.String(healthInterval.String()),
		Timeout:     pulumi.String("10s"),
		Retries:     pulumi.Int(healthRetries),
		StartPeriod: pulumi.String("180s"),
	}
	if s.Host.DockerAPIVersion.AtLeast(StartIntervalAPIVersion) {
		hc.StartInterval = pulumi.String(readyInterval.String())
	} else {
		hc.Interval = pulumi.String(readyInterval.String())
		hc.Retries = pulumi.Int(healthRetries * int(healthInterval/readyInterval))
	}
	return hc
}

// ValidationRecord is a DNS record a customer creates to prove a custom domain and get its
// certificate (one element of the "customDomainValidation" output).
type ValidationRecord struct {
	Domain string `json:"domain"`
	// Purpose is "ownership" or "certificate".
	Purpose string `json:"purpose"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	Value   string `json:"value"`
}

// Program returns the tenant program for spec. An invalid spec fails the run before any resource
// is registered.
func Program(spec Spec) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		if err := spec.Validate(); err != nil {
			return err
		}
		out, err := deploy(ctx, spec)
		if err != nil {
			return err
		}
		ctx.Export(OutputURL, pulumi.String(spec.URL()))
		ctx.Export(OutputContainerName, out.containerName)
		ctx.Export(OutputHost, pulumi.String(spec.Host.Name))
		ctx.Export(OutputCustomDomainValidation, out.validation)
		return nil
	}
}

type outputs struct {
	containerName pulumi.StringOutput
	env           pulumi.StringArrayOutput
	validation    pulumi.MapArray
}

func deploy(ctx *pulumi.Context, s Spec) (*outputs, error) {
	prov, err := docker.NewProvider(ctx, "docker", &docker.ProviderArgs{
		Host:    pulumi.String(s.Host.DockerURL),
		SshOpts: pulumi.ToStringArray(s.Host.SSHOpts),
	})
	if err != nil {
		return nil, fmt.Errorf("docker provider: %w", err)
	}
	onHost := pulumi.Provider(prov)

	img, err := docker.NewRemoteImage(ctx, "image", &docker.RemoteImageArgs{
		Name: pulumi.String(s.Image),
		// Other tenants on the host use the same image: destroying this stack must not remove it.
		KeepLocally: pulumi.Bool(true),
	}, onHost)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}

	labels := func(kv ...string) []string {
		return append([]string{platform.ManagedLabel, "true", platform.SlugLabel, s.Slug, platform.TierLabel, s.Tier.Name}, kv...)
	}
	volArgs := &docker.VolumeArgs{
		Name:   pulumi.String(s.VolumeName()),
		Labels: volumeLabels(labels()),
	}
	if lim := s.Tier.Effective(); lim.VolumeMB > 0 {
		// The local driver's size option: an xfs project quota on the volume's directory.
		volArgs.DriverOpts = pulumi.StringMap{"size": pulumi.String(strconv.Itoa(lim.VolumeMB) + "M")}
	}
	vol, err := docker.NewVolume(ctx, "data", volArgs, onHost)
	if err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}

	// A suspended tenant has no container: its data volume (and everything at Cloudflare) stays,
	// so resuming brings the same tenant back with its data.
	out := &outputs{containerName: pulumi.String("").ToStringOutput(), validation: pulumi.MapArray{}}
	if !s.Suspended {
		env := pulumi.ToSecret(pulumi.ToStringArray(s.env())).(pulumi.StringArrayOutput)
		var uploads docker.ContainerUploadArray
		for _, name := range slices.Sorted(maps.Keys(s.StarterFlows)) {
			uploads = append(uploads, docker.ContainerUploadArgs{
				File:    pulumi.String(s.flowsPath() + "/" + name),
				Content: pulumi.String(s.StarterFlows[name]),
			})
		}

		args := &docker.ContainerArgs{
			Name:     pulumi.String(s.ContainerName()),
			Hostname: pulumi.String(s.Slug),
			Image:    img.ImageId,
			Envs:     env,
			Uploads:  uploads,
			Volumes: docker.ContainerVolumeArray{
				docker.ContainerVolumeArgs{VolumeName: vol.Name, ContainerPath: pulumi.String(DataDir)},
			},
			// The tenants network is the container's only network (see the package doc).
			NetworkMode: pulumi.String(s.Host.Network),
			NetworksAdvanced: docker.ContainerNetworksAdvancedArray{
				docker.ContainerNetworksAdvancedArgs{Name: pulumi.String(s.Host.Network)},
			},
			Memory:       pulumi.Int(s.Tier.MemoryMB),
			MemorySwap:   pulumi.Int(s.Tier.MemoryMB), // no swap beyond the limit
			Cpus:         pulumi.String(strconv.FormatFloat(s.Tier.CPUs, 'f', -1, 64)),
			Restart:      pulumi.String("unless-stopped"),
			Healthcheck:  s.healthcheck(),
			SecurityOpts: pulumi.ToStringArray([]string{"no-new-privileges:true"}),
			LogDriver:    pulumi.String("json-file"),
			LogOpts:      pulumi.StringMap{"max-size": pulumi.String("10m"), "max-file": pulumi.String("3")},
			Labels:       containerLabels(labels(append(s.routingLabels(), s.restartLabel()...)...)),
		}
		s.confine(args)
		c, err := docker.NewContainer(ctx, "langflow", args, onHost, pulumi.DeleteBeforeReplace(true)) // the name is fixed: the old one must go first
		if err != nil {
			return nil, fmt.Errorf("container: %w", err)
		}
		out.containerName, out.env = c.Name, c.Envs
	}

	if s.Cloudflare == nil || (s.Host.WildcardTarget && len(s.CustomDomains) == 0) {
		return out, nil // nothing to do at Cloudflare
	}
	if err := deployCloudflare(ctx, s, out); err != nil {
		return nil, err
	}
	return out, nil
}

// confine sets what a hostile tenant's container may do beyond memory and CPUs: the tier's
// limits (open files, processes per uid, writable-layer size, CPU weight), no capability, an
// unprivileged user, a read-only root filesystem with a bounded tmpfs /tmp. The pids limit and
// the I/O weight are not inputs of the Docker provider: the provisioner sets them through the
// Engine API once the container exists (EngineResources).
func (s Spec) confine(a *docker.ContainerArgs) {
	lim := s.Tier.Effective()
	a.User = pulumi.String(User)
	a.Capabilities = &docker.ContainerCapabilitiesArgs{Drops: pulumi.ToStringArray([]string{"ALL"})}
	a.ReadOnly = pulumi.Bool(true)
	a.Tmpfs = pulumi.StringMap{TmpDir: pulumi.String(fmt.Sprintf("rw,nosuid,nodev,size=%dm,mode=1777", lim.TmpMB))}
	a.CpuShares = pulumi.Int(lim.CPUWeight)
	a.Ulimits = docker.ContainerUlimitArray{
		docker.ContainerUlimitArgs{Name: pulumi.String("nofile"), Soft: pulumi.Int(lim.NoFile), Hard: pulumi.Int(lim.NoFile)},
	}
	if lim.NProc > 0 {
		a.Ulimits = append(a.Ulimits.(docker.ContainerUlimitArray),
			docker.ContainerUlimitArgs{Name: pulumi.String("nproc"), Soft: pulumi.Int(lim.NProc), Hard: pulumi.Int(lim.NProc)})
	}
	if lim.DiskMB > 0 {
		a.StorageOpts = pulumi.StringMap{"size": pulumi.String(strconv.Itoa(lim.DiskMB) + "M")}
	}
}

// EngineResources are the limits of the tenant's container that the Docker provider cannot
// set: the provisioner applies them through the Engine API's container update after every
// update of the stack (a re-created container starts without them).
type EngineResources struct {
	// PidsLimit is the tier's pids limit (the pids cgroup).
	PidsLimit int
	// IOWeight is the tier's blkio weight (10–1000).
	IOWeight int
}

// EngineResources are the spec's limits for the Engine API.
func (s Spec) EngineResources() EngineResources {
	lim := s.Tier.Effective()
	return EngineResources{PidsLimit: lim.PidsLimit, IOWeight: lim.IOWeight}
}

// env is the container's environment. The whole list becomes one Pulumi secret.
func (s Spec) env() []string {
	env := []string{
		"LANGFLOW_HOST=0.0.0.0",
		"LANGFLOW_PORT=" + strconv.Itoa(LangflowPort),
		"LANGFLOW_AUTO_LOGIN=false",
		"LANGFLOW_ENABLE_SIGNUP=false",
		"LANGFLOW_NEW_USER_IS_ACTIVE=false",
		"LANGFLOW_SUPERUSER=" + s.OperatorUser,
		"LANGFLOW_SUPERUSER_PASSWORD=" + s.OperatorPassword,
		"LANGFLOW_SECRET_KEY=" + s.SecretKey,
		"LANGFLOW_CONFIG_DIR=" + DataDir,
		"LANGFLOW_SAVE_DB_IN_CONFIG_DIR=true",
		"LANGFLOW_DATABASE_URL=sqlite:///" + DataDir + "/langflow.db",
		"LANGFLOW_LOAD_FLOWS_PATH=" + s.flowsPath(),
		"LANGFLOW_DO_NOT_TRACK=true",
		// The root filesystem is read-only: home (caches) on the volume, no bytecode files.
		"HOME=" + DataDir,
		"PYTHONDONTWRITEBYTECODE=1",
		"TENANTPOOL_SLUG=" + s.Slug,
		"TENANTPOOL_TIER=" + s.Tier.Name,
		"TENANTPOOL_URL=" + s.URL(),
	}
	return append(env, s.Branding.Env()...)
}

// restartLabel carries Spec.Restart: a new value replaces the container (Docker cannot change
// a container's labels in place), which restarts it on the same volume.
func (s Spec) restartLabel() []string {
	if s.Restart == "" {
		return nil
	}
	return []string{"tenantpool.restart", s.Restart}
}

// routingLabels are the Traefik labels: one router named after the slug for <slug>.<domain> and
// every active custom domain (never one still pending verification, or moved or blocked). The router has no entrypoints label, so it joins every entrypoint and the
// platform decides TLS and redirects.
func (s Spec) routingLabels() []string {
	hosts := append([]string{s.Hostname()}, s.ActiveDomains...)
	rule := make([]string, len(hosts))
	for i, h := range hosts {
		rule[i] = "Host(`" + h + "`)"
	}
	r := "traefik.http.routers." + s.Slug
	svc := "traefik.http.services." + s.Slug
	return []string{
		"traefik.enable", "true",
		"traefik.docker.network", s.Host.Network,
		r + ".rule", strings.Join(rule, " || "),
		r + ".service", s.Slug,
		svc + ".loadbalancer.server.port", strconv.Itoa(LangflowPort),
	}
}

func containerLabels(kv []string) docker.ContainerLabelArray {
	var out docker.ContainerLabelArray
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, docker.ContainerLabelArgs{Label: pulumi.String(kv[i]), Value: pulumi.String(kv[i+1])})
	}
	return out
}

func volumeLabels(kv []string) docker.VolumeLabelArray {
	var out docker.VolumeLabelArray
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, docker.VolumeLabelArgs{Label: pulumi.String(kv[i]), Value: pulumi.String(kv[i+1])})
	}
	return out
}

func deployCloudflare(ctx *pulumi.Context, s Spec, out *outputs) error {
	cf := s.Cloudflare
	prov, err := cloudflare.NewProvider(ctx, "cloudflare", &cloudflare.ProviderArgs{
		ApiToken: pulumi.ToSecret(pulumi.String(cf.APIToken)).(pulumi.StringOutput),
	})
	if err != nil {
		return fmt.Errorf("cloudflare provider: %w", err)
	}
	opt := pulumi.Provider(prov)

	// The wildcard *.<domain> points at the primary host; a tenant elsewhere gets its own
	// record, which takes precedence over the wildcard.
	if !s.Host.WildcardTarget {
		if _, err := cloudflare.NewRecord(ctx, "dns", &cloudflare.RecordArgs{
			ZoneId:  pulumi.String(cf.ZoneID),
			Name:    pulumi.String(s.Hostname()),
			Type:    pulumi.String(platform.RecordType(s.Host.Address)),
			Content: pulumi.String(s.Host.Address),
			Proxied: pulumi.Bool(true),
			Ttl:     pulumi.Int(1),
			Comment: pulumi.String("tenantpool: tenant " + s.Slug + " on host " + s.Host.Name),
		}, opt); err != nil {
			return fmt.Errorf("dns record: %w", err)
		}
	}

	for _, d := range s.CustomDomains {
		args := &cloudflare.CustomHostnameArgs{
			ZoneId:   pulumi.String(cf.ZoneID),
			Hostname: pulumi.String(d),
			Ssls: cloudflare.CustomHostnameSslArray{
				cloudflare.CustomHostnameSslArgs{Method: pulumi.String("txt"), Type: pulumi.String("dv")},
			},
			CustomMetadata: pulumi.StringMap{"tenant": pulumi.String(s.Slug)},
		}
		if !s.Host.WildcardTarget {
			// Not on the fallback origin's host: send this hostname to the tenant's own record.
			args.CustomOriginServer = pulumi.String(s.Hostname())
		}
		ch, err := cloudflare.NewCustomHostname(ctx, "custom-"+d, args, opt)
		if err != nil {
			return fmt.Errorf("custom hostname %s: %w", d, err)
		}
		out.validation = append(out.validation, validationRecords(d, ch)...)
	}
	return nil
}

// validationRecords are the TXT records the customer adds for domain d: ownership, and the
// certificate's DCV record.
func validationRecords(d string, ch *cloudflare.CustomHostname) []pulumi.MapInput {
	own := ch.OwnershipVerification
	rec := ch.Ssls.Index(pulumi.Int(0)).ValidationRecords().Index(pulumi.Int(0))
	return []pulumi.MapInput{
		pulumi.Map{
			"domain":  pulumi.String(d),
			"purpose": pulumi.String("ownership"),
			"type":    own.MapIndex(pulumi.String("type")),
			"name":    own.MapIndex(pulumi.String("name")),
			"value":   own.MapIndex(pulumi.String("value")),
		},
		pulumi.Map{
			"domain":  pulumi.String(d),
			"purpose": pulumi.String("certificate"),
			"type":    pulumi.String("txt"),
			"name":    rec.TxtName().Elem(),
			"value":   rec.TxtValue().Elem(),
		},
	}
}
