package langflow_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
)

const (
	bootstrapPW = "bootstrap-password-in-the-container-env-0123"
	daemonPW    = "daemon-operator-password-never-in-env-4567"
)

func loginWorks(t *testing.T, srv *langflowtest.Server, password string) bool {
	t.Helper()
	_, err := newClient(t, srv.URL).Login(context.Background(), langflowtest.DefaultSuperuser, password)
	if err != nil && !errors.Is(err, langflow.ErrUnauthorized) {
		t.Fatalf("login: %v", err)
	}
	return err == nil
}

// The operator's bootstrap password (the container's environment) is replaced by the daemon's
// through PATCH /api/v1/users/{id}; a restart with the same environment (Boot) does not bring it
// back; a second run (a retried job) changes nothing; and customer creation works with the new
// password afterwards.
func TestRotateOperator(t *testing.T) {
	ctx := context.Background()
	srv := langflowtest.NewServer(t, langflowtest.Options{SuperuserPassword: bootstrapPW})
	g := newGate(nil)
	if err := g.RotateOperator(ctx, srv.URL, langflowtest.DefaultSuperuser, bootstrapPW, daemonPW); err != nil {
		t.Fatalf("RotateOperator: %v", err)
	}
	if loginWorks(t, srv, bootstrapPW) || !loginWorks(t, srv, daemonPW) {
		t.Fatal("after rotation: want the bootstrap password dead and the daemon's working")
	}
	patches := srv.Requests(langflowtest.RoutePatchUser)
	if patches != 1 {
		t.Fatalf("%d PATCH requests, want 1", patches)
	}

	// The container restarts (a re-apply) with the same environment: Langflow keeps the
	// existing superuser as it is.
	if err := srv.Boot(langflowtest.DefaultSuperuser, bootstrapPW); err != nil {
		t.Fatal(err)
	}
	if loginWorks(t, srv, bootstrapPW) || !loginWorks(t, srv, daemonPW) {
		t.Fatal("after a restart: the bootstrap password came back")
	}

	// A retried job: the daemon's password already works; nothing is patched.
	if err := g.RotateOperator(ctx, srv.URL, langflowtest.DefaultSuperuser, bootstrapPW, daemonPW); err != nil {
		t.Fatalf("second RotateOperator: %v", err)
	}
	if n := srv.Requests(langflowtest.RoutePatchUser); n != patches {
		t.Errorf("second run patched again (%d PATCH requests)", n)
	}
	if _, err := g.EnsureCustomer(ctx, srv.URL, langflow.Credentials{Username: langflowtest.DefaultSuperuser, Password: daemonPW},
		langflow.Credentials{Username: "client01", Password: "customer-password-0123456789"}); err != nil {
		t.Fatalf("EnsureCustomer with the rotated operator: %v", err)
	}

	// Legacy accounts (the bootstrap password is the daemon's): nothing to rotate.
	legacy := langflowtest.NewServer(t, langflowtest.Options{SuperuserPassword: daemonPW})
	if err := g.RotateOperator(ctx, legacy.URL, langflowtest.DefaultSuperuser, daemonPW, daemonPW); err != nil || legacy.Requests(langflowtest.RoutePatchUser) != 0 {
		t.Fatalf("legacy: %v, %d PATCH requests; want nil and none", err, legacy.Requests(langflowtest.RoutePatchUser))
	}
}

// Crash safety: the PATCH's answer is lost (it took effect) and the client retries it; an
// attempt that rotated and then died is followed by one that finds the new password working;
// a tenant where neither password works is a clear ErrUnauthorized, changing nothing.
func TestRotateOperatorCrashSafe(t *testing.T) {
	ctx := context.Background()
	g := newGate(nil)

	lost := langflowtest.NewServer(t, langflowtest.Options{SuperuserPassword: bootstrapPW})
	lost.InjectFault(langflowtest.RoutePatchUser, langflowtest.Fault{Status: http.StatusBadGateway, AfterEffect: true})
	if err := g.RotateOperator(ctx, lost.URL, langflowtest.DefaultSuperuser, bootstrapPW, daemonPW); err != nil {
		t.Fatalf("lost PATCH answer: %v", err)
	}
	if n := lost.Requests(langflowtest.RoutePatchUser); n != 2 {
		t.Errorf("%d PATCH requests, want 2 (the lost one and its retry)", n)
	}

	// The first attempt's rotation went through, then the whole attempt failed (a crash): the
	// bootstrap password is dead, yet the next attempt goes on.
	crashed := langflowtest.NewServer(t, langflowtest.Options{SuperuserPassword: bootstrapPW})
	crashed.InjectFault(langflowtest.RoutePatchUser, langflowtest.Fault{Status: http.StatusBadRequest, AfterEffect: true})
	if err := g.RotateOperator(ctx, crashed.URL, langflowtest.DefaultSuperuser, bootstrapPW, daemonPW); err == nil {
		t.Fatal("an attempt whose PATCH failed reported success")
	}
	if loginWorks(t, crashed, bootstrapPW) {
		t.Fatal("test setup: the PATCH did not take effect")
	}
	if err := g.RotateOperator(ctx, crashed.URL, langflowtest.DefaultSuperuser, bootstrapPW, daemonPW); err != nil {
		t.Fatalf("retry after a rotation whose outcome was lost: %v", err)
	}

	locked := langflowtest.NewServer(t, langflowtest.Options{SuperuserPassword: "someone-else-changed-it-0123456789"})
	err := g.RotateOperator(ctx, locked.URL, langflowtest.DefaultSuperuser, bootstrapPW, daemonPW)
	if !errors.Is(err, langflow.ErrUnauthorized) || !strings.Contains(err.Error(), "neither the stored nor the bootstrap password") {
		t.Fatalf("locked out: %v", err)
	}
	for _, pw := range []string{bootstrapPW, daemonPW} {
		if strings.Contains(err.Error(), pw) {
			t.Error("the error shows a password")
		}
	}
	if locked.Requests(langflowtest.RoutePatchUser) != 0 {
		t.Error("a locked-out tenant was patched")
	}
}

// Boot is Langflow's setup_superuser: it creates a missing superuser from the environment, keeps
// an existing one's password, and fails on a non-superuser of that name.
func TestBootKeepsExistingSuperuser(t *testing.T) {
	srv := langflowtest.NewServer(t, langflowtest.Options{SuperuserPassword: bootstrapPW})
	ctx := context.Background()
	c := newClient(t, srv.URL)
	tok, err := c.Login(ctx, langflowtest.DefaultSuperuser, bootstrapPW)
	if err != nil {
		t.Fatal(err)
	}
	me, err := c.WhoAmI(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	pw := daemonPW
	if _, err := c.UpdateUser(ctx, tok, me.ID, langflow.UserPatch{Password: &pw}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Boot(langflowtest.DefaultSuperuser, bootstrapPW); err != nil {
		t.Fatal(err)
	}
	if u, _ := srv.User(langflowtest.DefaultSuperuser); u.Password != daemonPW || len(srv.Users()) != 1 {
		t.Fatalf("after Boot: password reset or user duplicated (%d users)", len(srv.Users()))
	}
	if _, err := c.CreateUser(ctx, tok, "plain", "plain-password-0123456789"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Boot("plain", "whatever-0123456789"); err == nil {
		t.Fatal("Boot with a non-superuser's name succeeded")
	}
	if err := srv.Boot("second-admin", "second-password-0123456789"); err != nil {
		t.Fatal(err)
	}
	if u, ok := srv.User("second-admin"); !ok || !u.IsSuperuser {
		t.Fatal("Boot did not create a missing superuser")
	}
}
