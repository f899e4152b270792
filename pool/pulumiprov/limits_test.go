package pulumiprov_test

import (
	"context"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/dockerhost/dockertest"
)

// After the update, the tenant's container (a real one, made by the test plugin) carries the
// tier's pids limit, which the Docker provider cannot set.
func TestProvisionSetsEngineLimits(t *testing.T) {
	usePlugin(t)
	dc := dockertest.Require(t)
	ts := newTenants(t)
	h := host("local", 10)
	h.DockerURL = dockertest.URL()
	slug, _ := dockertest.Slug(t)
	a := account(1, slug)
	stack := pluginStack{URL: ts.server(a).URL, Docker: h.DockerURL, Image: dockertest.Image(t, dc)}
	p, logs := newProvisioner(t, ts, options{program: pluginProgram(stack), docker: true, hosts: []platform.Host{h}})
	if _, err := p.Provision(t.Context(), a, testTier()); err != nil {
		t.Fatalf("provision: %v\n%s", err, logs)
	}
	t.Cleanup(func() {
		if err := p.Destroy(context.Background(), a); err != nil {
			t.Errorf("destroy: %v", err)
		}
	})
	got, err := dc.ContainerResources(t.Context(), dockertest.Name(slug))
	if err != nil {
		t.Fatal(err)
	}
	if want := testTier().Effective().PidsLimit; got.PidsLimit != want {
		t.Errorf("pids limit %d, want the tier's %d", got.PidsLimit, want)
	}
}

// A tier that sizes storage is refused, before any update, on a host whose storage cannot size
// it, with what to do; on this engine (ext4 or xfs) the verdict of its /info decides.
func TestProvisionChecksStorageSizes(t *testing.T) {
	dc := dockertest.Require(t)
	in, err := dc.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ts := newTenants(t)
	h := host("local", 10)
	h.DockerURL = dockertest.URL()
	p, logs := newProvisioner(t, ts, options{docker: true, hosts: []platform.Host{h}})
	tier := testTier()
	tier.VolumeMB = 1024
	a := account(1, "client01")
	ts.server(a)
	_, err = p.Provision(t.Context(), a, tier)
	if in.Quotas().Volume {
		if err != nil {
			t.Fatalf("this engine (%s on %s) can size volumes, yet: %v\n%s", in.Driver, in.BackingFilesystem, err, logs)
		}
		return
	}
	if err == nil || !pool.IsPermanent(err) || !strings.Contains(err.Error(), "set disk_mb and volume_mb to 0") || !strings.Contains(err.Error(), "host local") {
		t.Fatalf("volume_mb on %s/%s: %v, want a permanent refusal saying what to do", in.Driver, in.BackingFilesystem, err)
	}
	ts.mu.Lock()
	runs := ts.runs[a.Slug]
	ts.mu.Unlock()
	if runs != 0 {
		t.Errorf("the program ran %d times although the host cannot size the volume", runs)
	}
}
