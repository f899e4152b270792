// Package dockerhost talks to the Docker Engines tenants run on, through the Engine API and
// nothing else (no Docker SDK): plain HTTP over the engine's socket — unix:// and tcp:// hosts
// directly, ssh:// hosts through `ssh -o BatchMode=yes host docker system dial-stdio`, the way
// the docker CLI itself reaches a remote engine.
//
// It is an adapter beside the store: it imports the pure domain (pool) and the platform's host
// type only. The provisioner uses it to remove what a crashed update left behind (a container
// carrying a tenant's labels that its stack does not record), and the daemon's stray pass to
// compare what runs on every host with the store (Sweep).
//
// Tenants are recognised by the labels the tenant program gives every container and volume:
// tenantpool.managed=true and tenantpool.slug=<slug> (see infra/tenant).
package dockerhost
