package deploy

// Plugin is a Pulumi resource provider plugin the platform and tenant programs use.
type Plugin struct {
	Name    string // the provider: docker, cloudflare
	Version string // v<semver>
}

// Plugins are the provider plugins of the platform and tenant programs, at the versions go.mod
// pins their Go SDKs (github.com/pulumi/pulumi-docker/sdk/v4, …/pulumi-cloudflare/sdk/v5), so
// the engine finds exactly the plugin the SDK asks for. A test holds them to go.mod.
var Plugins = []Plugin{
	{Name: "docker", Version: "v4.10.0"},
	{Name: "cloudflare", Version: "v5.49.1"},
}

// InstallArgs are the Pulumi CLI arguments that install the plugin into PULUMI_HOME.
func (p Plugin) InstallArgs() []string {
	return []string{"plugin", "install", "resource", p.Name, p.Version}
}
