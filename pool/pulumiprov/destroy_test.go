package pulumiprov_test

import (
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/dockerhost/dockertest"
)

// A teardown on a replica whose backend lacks the stack of an account that got a host must not
// report success: the tenant may run, provisioned through another backend. The error is
// retryable and names the backend. An account that never got a host still tears down as a
// no-op.
func TestDestroyWithoutStackInThisBackend(t *testing.T) {
	ts := newTenants(t)
	backend := "file://" + t.TempDir()
	p, _ := newProvisioner(t, ts, options{backend: backend})
	a := account(1, "client07")
	if err := p.Destroy(t.Context(), a); err != nil {
		t.Fatalf("never placed: %v, want nil", err)
	}
	a.Host = "local"
	err := p.Destroy(t.Context(), a)
	if err == nil || pool.IsPermanent(err) {
		t.Fatalf("placed, no stack here: %v; want a retryable error", err)
	}
	for _, want := range []string{"tenant-client07", backend, "host local"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %q", err, want)
		}
	}
}

// With Docker access the host settles it: the tenant's container still there (its stack is
// elsewhere) is a retryable error saying what is left; once nothing of the tenant is on its host
// the teardown is done (a repeated teardown succeeds).
func TestDestroyWithoutStackAsksTheHost(t *testing.T) {
	dc := dockertest.Require(t)
	ts := newTenants(t)
	h := host("local", 10)
	h.DockerURL = dockertest.URL()
	p, _ := newProvisioner(t, ts, options{docker: true, hosts: []platform.Host{h}})
	slug, _ := dockertest.Slug(t)
	a := account(1, slug)
	a.Host = "local"
	id := dockertest.Run(t, dc, dockertest.Name(slug), "", dockertest.TenantLabels(slug)...)

	err := p.Destroy(t.Context(), a)
	if err == nil || pool.IsPermanent(err) || !strings.Contains(err.Error(), "still has 1 container(s)") {
		t.Fatalf("tenant running, stack elsewhere: %v; want a retryable error counting what is left", err)
	}
	if !dockertest.Exists(t, dc, id) {
		t.Fatal("the teardown removed a container it has no stack for")
	}
	if err := dc.RemoveContainer(t.Context(), id); err != nil { // as the stray pass would
		t.Fatal(err)
	}
	if err := p.Destroy(t.Context(), a); err != nil {
		t.Fatalf("nothing left on the host: %v, want nil", err)
	}
}
