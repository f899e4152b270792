package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// A daemon configured with a tier's starter flows works the account_flows jobs `poold flows
// deliver` enqueues: the flows land in the existing studio, as its customer, once however
// often it is asked.
func TestDaemonDeliversStarterFlowsToExistingStudios(t *testing.T) {
	flows, err := langflow.LoadFlows("../langflow/testdata/flows")
	if err != nil {
		t.Fatal(err)
	}
	var dir string
	startDaemon(t, func(c *daemon.Config) {
		dir = c.Store.DataDir
		c.Tenants = func(context.Context, *store.Store) (pool.Tenants, error) { return &pooltest.Provisioner{}, nil }
		c.Flows = map[string][]langflow.Flow{"basic": flows}
		c.Jobs = daemon.Jobs{PollInterval: 50 * time.Millisecond, RetryPolicy: pooltest.FastRetry{}}
	})
	s := storetest.OpenSQLite(t, dir, nil)
	ctx := context.Background()
	as, err := s.CreateAccounts(ctx, "basic", "client", 1)
	if err != nil {
		t.Fatal(err)
	}
	a := as[0]
	for deadline := time.Now().Add(30 * time.Second); a.State != pool.StateReady; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %s", a.Slug, a.State)
		}
		if a, err = s.Get(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	// The studio: a Langflow double at the account's URL, with its customer login.
	srv := langflowtest.NewServer(t, langflowtest.Options{})
	if _, err := s.DB().ExecContext(ctx, `UPDATE accounts SET url = ? WHERE id = ?`, srv.URL, a.ID); err != nil {
		t.Fatal(err)
	}
	gate := langflow.NewGate(langflow.GateOptions{})
	if _, err := gate.EnsureCustomer(ctx, srv.URL,
		langflow.Credentials{Username: langflowtest.DefaultSuperuser, Password: langflowtest.DefaultSuperuserPassword},
		langflow.Credentials{Username: a.CustomerUser, Password: a.CustomerPassword}); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		if n, err := s.EnqueueFlows(ctx, "basic"); err != nil || n != 1 {
			t.Fatalf("round %d: enqueued %d, %v", round, n, err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var open int
			if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE kind = 'account_flows' AND state <> 'completed'`).Scan(&open); err != nil {
				t.Fatal(err)
			}
			if open == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d flow jobs not completed", round, open)
			}
		}
		if n := srv.Requests(langflowtest.RouteListFlows); n != round {
			t.Fatalf("round %d: the studio's flows were listed %d times", round, n)
		}
		if got := srv.Flows(a.CustomerUser); len(got) != 2 {
			t.Fatalf("round %d: the customer has %d flows, want 2", round, len(got))
		}
	}
	if n := srv.Requests(langflowtest.RouteCreateFlow); n != 2 {
		t.Fatalf("%d flows created over two deliveries, want 2", n)
	}
}
