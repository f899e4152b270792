package pulumiprov_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
)

// operatorLogin reports whether password logs in as a's operator at srv.
func operatorLogin(t *testing.T, srv *langflowtest.Server, a pool.Account, password string) bool {
	t.Helper()
	c, err := langflow.New(srv.URL, langflow.Options{RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Login(context.Background(), a.OperatorUser, password)
	if err != nil && !errors.Is(err, langflow.ErrUnauthorized) {
		t.Fatalf("login: %v", err)
	}
	return err == nil
}

// Provisioning replaces the operator's bootstrap password (the only one the container's
// environment holds) with the daemon's right after the first healthy start; the daemon's never
// reaches the spec. A re-apply re-creates the container with the same environment and the old
// password stays dead (Langflow keeps an existing superuser); the daemon goes on logging in as
// the operator: a retried provisioning, the re-apply, the customer's password rotation.
func TestOperatorPasswordRotatedAtFirstHealthyStart(t *testing.T) {
	ts := newTenants(t)
	p, logs := newProvisioner(t, ts, options{})
	a := account(1, "client01")
	srv := ts.server(a)
	if !operatorLogin(t, srv, a, a.OperatorBootstrap) {
		t.Fatal("test setup: the tenant starts with the bootstrap password")
	}
	got := mustProvision(t, p, a)
	if operatorLogin(t, srv, a, a.OperatorBootstrap) || !operatorLogin(t, srv, a, a.OperatorPassword) {
		t.Fatal("after provisioning: want the bootstrap password dead and the daemon's working")
	}
	if spec := ts.specs[a.Slug]; spec.OperatorPassword != a.OperatorBootstrap {
		t.Fatal("the spec (the container's environment) does not carry the bootstrap password")
	}

	// A retried job on the provisioned tenant: nothing to rotate, the customer is there.
	if again := mustProvision(t, p, a); again != got {
		t.Fatalf("second run %+v, want %+v", again, got)
	}

	a.State, a.Host, a.URL, a.CustomerUserID = pool.StateDelivered, got.Host, got.URL, got.CustomerUserID
	if err := p.Reapply(t.Context(), a); err != nil {
		t.Fatalf("Reapply: %v", err)
	}
	ts.mu.Lock()
	spec, runs := ts.specs[a.Slug], ts.runs[a.Slug]
	ts.mu.Unlock()
	if runs != 3 || spec.OperatorPassword != a.OperatorBootstrap {
		t.Fatalf("re-apply: run %d with the bootstrap password %t; want run 3 with it", runs, spec.OperatorPassword == a.OperatorBootstrap)
	}
	if operatorLogin(t, srv, a, a.OperatorBootstrap) || !operatorLogin(t, srv, a, a.OperatorPassword) {
		t.Fatal("after the re-apply (a container restart from the same environment): the bootstrap password is alive again")
	}
	if err := p.RotateCustomer(t.Context(), a, "customer-password-after-sale-0123"); err != nil {
		t.Fatalf("RotateCustomer with the rotated operator: %v", err)
	}
	noSecrets(t, logs.String(), a)
}

// A provisioning attempt that rotated the operator's password and then failed (here the
// customer's creation; a killed daemon is the same) is followed by one — from a new provisioner
// on the same data directory, as after a restart — that logs in with the stored password and
// finishes. A tenant where neither password works fails permanently, saying why.
func TestOperatorRotationSurvivesAFailedAttempt(t *testing.T) {
	ts := newTenants(t)
	dir := t.TempDir()
	p, _ := newProvisioner(t, ts, options{dataDir: dir})
	a := account(1, "client01")
	srv := ts.server(a)
	srv.InjectFault(langflowtest.RouteCreateUser, langflowtest.Fault{Status: http.StatusServiceUnavailable})
	_, err := p.Provision(t.Context(), a, testTier())
	if err == nil || pool.IsPermanent(err) {
		t.Fatalf("first attempt: %v, want a retryable failure", err)
	}
	if operatorLogin(t, srv, a, a.OperatorBootstrap) {
		t.Fatal("test setup: the first attempt did not rotate")
	}
	p2, _ := newProvisioner(t, ts, options{dataDir: dir})
	got := mustProvision(t, p2, a)
	if u, ok := srv.User(a.CustomerUser); !ok || u.ID != got.CustomerUserID || !u.IsActive {
		t.Fatalf("retry: customer %+v (found %t)", u.Username, ok)
	}
	if !operatorLogin(t, srv, a, a.OperatorPassword) {
		t.Fatal("retry: the daemon's operator password does not log in")
	}

	b := account(2, "client02")
	ts.mu.Lock()
	ts.servers[b.Slug] = langflowtest.NewServer(t, langflowtest.Options{Superuser: b.OperatorUser, SuperuserPassword: "changed-by-someone-else-0123456789"})
	ts.mu.Unlock()
	_, err = p2.Provision(t.Context(), b, testTier())
	if !pool.IsPermanent(err) || !errors.Is(err, langflow.ErrUnauthorized) || !strings.Contains(err.Error(), "neither the stored nor the bootstrap password") {
		t.Fatalf("locked out: %v, want a permanent ErrUnauthorized saying neither password works", err)
	}
	noSecrets(t, err.Error(), b)
}
