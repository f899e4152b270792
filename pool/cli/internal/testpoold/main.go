// Command testpoold is poold with the pooltest provisioner double in place of Pulumi: the tests
// that need real daemon processes (SIGKILL mid-stream, several replicas) build and run it. It
// is never shipped.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/cli"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	prov := &pooltest.Provisioner{}
	if os.Getenv("TESTPOOLD_BLOCK") != "" {
		prov.Block = make(chan struct{}) // provisioning hangs until shutdown cancels it
	}
	err := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr,
		cli.WithTenants(func(context.Context, *cli.Env, *store.Store) (pool.Tenants, error) { return prov, nil }),
		cli.WithJobConfig(func(c *daemon.Jobs) { c.PollInterval = 50 * time.Millisecond }))
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testpoold:", err)
		os.Exit(1)
	}
}
