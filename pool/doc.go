// Package pool is the domain of tenantpool: accounts and their lifecycle, tiers and their pool
// targets, the pure reconcile planner, the reconciler and the provisioning jobs.
//
// Adapters (the SQL store, the Pulumi provisioner, the Langflow client, the HTTP server) import
// this package; it imports none of them. The interfaces it needs from them (Store, Provisioner)
// are declared here, by their consumer.
package pool
