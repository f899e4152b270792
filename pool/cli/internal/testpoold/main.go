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
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	prov := &pooltest.Provisioner{}
	if os.Getenv("TESTPOOLD_BLOCK") != "" {
		prov.Block = make(chan struct{}) // provisioning hangs until shutdown cancels it
	}
	var tenants pool.Tenants = prov
	if os.Getenv("TESTPOOLD_LANGFLOW_ROTATE") != "" {
		// Customer passwords are rotated at the tenants' real Langflow API (the tests'
		// langflowtest servers), as the daemon does.
		tenants = langflowRotate{Provisioner: prov, gate: langflow.NewGate(langflow.GateOptions{})}
	}
	err := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr,
		cli.WithTenants(func(context.Context, *cli.Env, *store.Store) (pool.Tenants, error) { return tenants, nil }),
		cli.WithJobConfig(func(c *daemon.Jobs) { c.PollInterval = 50 * time.Millisecond }))
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testpoold:", err)
		os.Exit(1)
	}
}

// langflowRotate is the provisioner double whose password rotations go to the tenant's
// Langflow.
type langflowRotate struct {
	*pooltest.Provisioner
	gate *langflow.Gate
}

func (l langflowRotate) RotateCustomer(ctx context.Context, a pool.Account, password string) error {
	return l.gate.RotateAccount(ctx, a, password)
}
