package dockerhost_test

import (
	"errors"
	"net/url"
	"os/exec"
	"slices"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
	"github.com/axiestudio/tenantpool/pool/dockerhost/dockertest"
)

// The Engine API calls the pass and the provisioner make, on a real engine: label filters,
// removal of a running container, removal of what is not there, a volume in use refused.
func TestEngineAPI(t *testing.T) {
	c := dockertest.Require(t)
	ctx := t.Context()
	slug, _ := dockertest.Slug(t)
	vol := "tenant-" + slug + "-data"
	if err := c.CreateVolume(ctx, vol, dockertest.TenantLabels(slug)...); err != nil {
		t.Fatal(err)
	}
	// Creating it again is not an error: the engine hands back the existing volume (the tenant
	// program's retry adopts a volume a killed update created).
	if err := c.CreateVolume(ctx, vol, dockertest.TenantLabels(slug)...); err != nil {
		t.Fatalf("second create: %v", err)
	}
	id := dockertest.Run(t, c, dockertest.Name(slug), vol, dockertest.TenantLabels(slug)...)
	other := dockertest.Run(t, c, dockertest.Name(slug+"x"), "", dockertest.TenantLabels(slug+"x")...)

	cs, err := c.Containers(ctx, dockerhost.TenantLabels(slug)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].ID != id || cs[0].Name != "tenant-"+slug || cs[0].State != "running" || cs[0].Labels["tenantpool.tier"] != "basic" {
		t.Fatalf("containers %+v, want only %s, running, with its labels", cs, id)
	}
	if cs[0].Created.IsZero() {
		t.Error("no creation time")
	}
	vs, err := c.Volumes(ctx, dockerhost.TenantLabels(slug)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Name != vol {
		t.Fatalf("volumes %+v, want %s", vs, vol)
	}
	if err := c.RemoveVolume(ctx, vol); !errors.Is(err, dockerhost.ErrConflict) {
		t.Fatalf("removing a volume in use: %v, want ErrConflict", err)
	}
	if err := c.RemoveContainer(ctx, id); err != nil {
		t.Fatalf("remove running container: %v", err)
	}
	if err := c.RemoveContainer(ctx, id); err != nil {
		t.Fatalf("remove it again: %v, want nil", err)
	}
	if _, err := c.InspectContainer(ctx, id); !errors.Is(err, pool.ErrNotFound) {
		t.Fatalf("inspect removed: %v, want ErrNotFound", err)
	}
	if err := c.RemoveVolume(ctx, vol); err != nil {
		t.Fatalf("remove the freed volume: %v", err)
	}
	if err := c.RemoveVolume(ctx, vol); err != nil {
		t.Fatalf("remove it again: %v, want nil", err)
	}
	if !dockertest.Exists(t, c, other) {
		t.Error("another tenant's container went too")
	}
}

// ssh:// hosts are reached through `docker system dial-stdio`, the connection the docker CLI
// offers over ssh: the same client over that command against the local engine.
func TestDialStdio(t *testing.T) {
	c := dockertest.Require(t)
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Fatalf("the docker CLI (package docker.io) is needed for dial-stdio: %v", err)
	}
	slug, _ := dockertest.Slug(t)
	id := dockertest.Run(t, c, dockertest.Name(slug), "", dockertest.TenantLabels(slug)...)
	sc := dockerhost.NewCommandClient(docker, "-H", dockertest.URL(), "system", "dial-stdio")
	defer sc.Close()
	for range 3 { // several requests, over kept-alive and new connections
		cs, err := sc.Containers(t.Context(), dockerhost.TenantLabels(slug)...)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 || cs[0].ID != id {
			t.Fatalf("over dial-stdio: %+v, want %s", cs, id)
		}
	}
}

// The ssh command line of ssh:// hosts: batch mode (no password or host-key prompt), user and
// port from the URL, and the host after "--".
func TestSSHArgs(t *testing.T) {
	for raw, want := range map[string][]string{
		"ssh://deploy@edge1.example.com:2222": {"-o", "BatchMode=yes", "-l", "deploy", "-p", "2222", "--", "edge1.example.com", "docker", "system", "dial-stdio"},
		"ssh://edge2":                         {"-o", "BatchMode=yes", "--", "edge2", "docker", "system", "dial-stdio"},
	} {
		u, _ := url.Parse(raw)
		got, err := dockerhost.SSHArgs(u)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, bad := range []string{"ssh://", "ssh://host/path", "ftp://host"} {
		if _, err := dockerhost.Dial(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
