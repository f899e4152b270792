// Package deploy is the Automation API driver of the platform program: `poold platform
// preview|up|refresh|destroy --stack dev` runs infra/platform.Program as an inline program, so
// rolling the platform out needs the Pulumi CLI alone, not its Go language host (which `pulumi up`
// of a `runtime: go` project needs to build and run infra/cmd/platform).
//
// The same program, two drivers: `pulumi up -s dev` runs infra/cmd/platform, which loads the
// stack configuration with platform.ConfigFromStack from the running program's config; this
// package reads the same stack file through the CLI (`pulumi config --show-secrets`), loads it
// with the same function and hands platform.Program(cfg) to the engine. A configuration that
// does not validate stops before the engine runs anything.
//
// A Stack works in the project directory (Pulumi.yaml, project tenantpool, stackConfigDir
// stacks): the CLI reads the stack file there, decrypts its secure values with the stack's
// secrets provider (passphrase: PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE), and
// writes the encryption salt into it when it creates a passphrase stack, as `pulumi stack init`
// does. Nothing else is written to the project. The backend and PULUMI_HOME are the caller's
// (poold uses the daemon's, so `poold serve --platform-stack organization/tenantpool/dev` reads
// the outputs of the stack `poold platform up --stack dev` made).
//
// Errors are classified before they are wrapped: an unknown stack (no stack file), a stack
// missing in the backend (refresh and destroy never create one), a missing provider plugin (with
// the `pulumi plugin install resource <name> <version>` command), a concurrent update. The
// helpers that recognise a missing plugin are shared with the tenant provisioner (pool/pulumiprov).
//
// The program to run is a parameter (Options.Program, default Platform), so the driver is tested
// on the real engine with a program that needs no provider plugin.
package deploy
