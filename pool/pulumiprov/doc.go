// Package pulumiprov is the pool's Provisioner on the Pulumi Automation API: one stack per tenant
// (tenant-<slug>) in its own project, running the inline program infra/tenant.Program(spec), then
// the readiness gate of pool/langflow. Nothing is "ready" until the tenant's real URL answers
// /health_check and a real customer login has been created, activated and proven.
//
// # Engine
//
// Every stack has its own work directory under the data directory (the Automation API writes
// Pulumi.yaml and Pulumi.<stack>.yaml there, and concurrent create/select in one workspace
// corrupts those files), so provisioning different tenants in parallel is safe; at most
// Config.Concurrency engine operations (up, destroy) run at once. The CLI is the one at
// Config.PulumiCLI; PULUMI_HOME lives in the data directory, so plugins are installed there.
//
// State goes to Config.BackendURL (default file://<data dir>/state; Pulumi Cloud, S3, … work the
// same). Secrets use the passphrase provider with a passphrase derived from the pool's secret key,
// or a cloud KMS URL (Config.SecretsProvider).
//
// Stack config (SetAllConfig) bars default providers (pulumi:disable-default-providers = ["*"]:
// every provider of the tenant program is explicit, and a default Docker provider would reach the
// daemon's own Docker socket) and records the placement (tenantpool:host), so a retried job keeps
// its tenant on the host it started on.
//
// # Placement
//
// Hosts come from the platform stack's "hosts" output (Config.PlatformStack, read with the
// Automation API) or from Config.Hosts. A tenant goes to the host with the most free capacity,
// reserved through Config.Place: the store counts every live account on a host (provisioning
// ones from the moment they are placed) and records the placement on the account row under one
// lock shared by every replica, so neither parallel provisioning nor several replicas
// over-fill a host, and a restarted job finds its host in the row. A retry keeps its host.
//
// # By hand
//
// Preview, Up and Refresh run the engine on one existing tenant's stack for the operator
// (`poold tenant preview|up|refresh SLUG`), through the same stack selection, placement and spec
// code as the daemon, streaming the engine's progress (scrubbed). They never create a stack, and
// a suspended account's spec stays suspended.
//
// # Crash recovery
//
// A daemon killed during an update must not leave a live tenant behind. The CLI is started so
// that it dies with the daemon (on Linux, a parent-death signal; it stays in the daemon's
// process group), and carries the daemon's identity in its environment, which its plugins
// inherit. Before every update, refresh and teardown of a tenant stack, recoverStack mends what
// a killed update left: Pulumi processes of a dead owner of this data directory are killed; a
// stack lock whose process on this host is gone, or older than Config.StaleLockAfter, is
// removed (file backends: the lock file, as `pulumi cancel` does; other diy backends: read
// from the engine's refusal, then `pulumi cancel`); pending operations are cleared with `pulumi
// refresh --clear-pending-creates`; and, with Config.Docker, containers carrying the tenant's
// labels that the stack does not record are removed. A teardown then also removes whatever of
// the tenant its stack left on the host. The provisioner sweeps orphaned processes when it
// starts too.
//
// # Errors
//
// Pulumi errors are classified before they are wrapped (auto.Is* match by type):
//
//   - another update holds the stack: ErrConcurrentUpdate, retryable (next tick);
//   - the CLI or a provider plugin is missing: ErrMissingCLI / ErrMissingPlugin, permanent, with
//     the command that installs it;
//   - an invalid spec or a program error: permanent, the reason is the account's last error;
//   - a provider refused a resource (the engine rejected a container, a feature needs a newer
//     engine API, a name is taken): ErrRefused, permanent, with the provider's message — unless
//     the message says the engine could not be reached, which is retried;
//   - the context ends (shutdown, job timeout): the update is interrupted, stack.Cancel releases
//     the lock and the context's error is returned, so a shutdown leaves the account provisioning
//     for the restarted daemon to resume;
//   - anything else: retryable.
//
// No error or log line carries a secret: operator, customer and passphrase values are scrubbed
// from every engine message, and engine events are logged at debug level without outputs.
package pulumiprov
