// Package pool is the domain of tenantpool, pure and without I/O: accounts and their lifecycle
// (the state graph), tiers and their pool targets, the reconcile plan, the health probe's
// decisions, sentinel errors, and the Tenants interface through which the runtime acts on a
// tenant's infrastructure.
//
// The layers above it, each importing only those below: pool/jobs (the job registry) →
// pool/store (SQL) → pool/control (reconciler, prober, job workers, the scheduling loop),
// pool/orders, pool/admin → pool/daemon (composition) → pool/cli. Adapters (the Pulumi
// provisioner, the Langflow client) import this package; it imports none of them.
package pool
