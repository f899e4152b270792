package dockerhost_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/pool/dockerhost"
	"github.com/axiestudio/tenantpool/pool/dockerhost/dockertest"
)

// The storage verdict on this machine's real engine agrees with what its /info says: sizes
// are possible only on xfs (overlay2) or btrfs/zfs, and a refusal says what to do.
func TestQuotasOfThisEngine(t *testing.T) {
	c := dockertest.Require(t)
	in, err := c.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if in.Driver == "" || in.DockerRootDir == "" {
		t.Fatalf("info %+v: no driver or data directory", in)
	}
	q := in.Quotas()
	wantLayer := (in.Driver == "overlay2" && in.BackingFilesystem == "xfs") || in.Driver == "btrfs" || in.Driver == "zfs"
	if q.Layer != wantLayer || q.Volume != (in.BackingFilesystem == "xfs") {
		t.Errorf("verdict %+v for driver %s on %q", q, in.Driver, in.BackingFilesystem)
	}
	t.Logf("this engine: driver %s on %q: %+v", in.Driver, in.BackingFilesystem, q)
	if !q.Layer || !q.Volume {
		for _, want := range []string{in.Driver, "pquota", in.DockerRootDir, "set disk_mb and volume_mb to 0"} {
			if !strings.Contains(q.Why, want) {
				t.Errorf("reason %q does not mention %q", q.Why, want)
			}
		}
		// What the verdict predicts is what the engine does: it refuses a sized volume.
		name := "tenantpool-quota-probe-" + strings.ToLower(t.Name())
		err := c.CreateVolumeWithOptions(t.Context(), name, map[string]string{"size": "300M"})
		if err == nil {
			_ = c.RemoveVolume(context.Background(), name)
			t.Fatal("the engine sized a volume the verdict says it cannot")
		}
		t.Logf("engine: %v", err)
	} else if q.Why != "" {
		t.Errorf("a reason %q where nothing is lacking", q.Why)
	}
}

func TestQuotasVerdicts(t *testing.T) {
	for _, tc := range []struct {
		in            dockerhost.Info
		layer, volume bool
	}{
		{dockerhost.Info{Driver: "overlay2", BackingFilesystem: "xfs", DockerRootDir: "/var/lib/docker"}, true, true},
		{dockerhost.Info{Driver: "overlay2", BackingFilesystem: "extfs", DockerRootDir: "/var/lib/docker"}, false, false},
		{dockerhost.Info{Driver: "btrfs", DockerRootDir: "/var/lib/docker"}, true, false},
		{dockerhost.Info{Driver: "zfs", DockerRootDir: "/var/lib/docker"}, true, false},
		{dockerhost.Info{Driver: "vfs", DockerRootDir: "/var/lib/docker"}, false, false},
	} {
		q := tc.in.Quotas()
		if q.Layer != tc.layer || q.Volume != tc.volume || (q.Why == "") != (tc.layer && tc.volume) {
			t.Errorf("%+v: %+v, want layer %v volume %v", tc.in, q, tc.layer, tc.volume)
		}
	}
}

// The pids limit the provisioner sets through the Engine API bites: a fork bomb in a container
// limited to 24 tasks is refused long before its 60 children, and the engine reports the limit
// and the I/O weight it was given.
func TestPidsLimitBites(t *testing.T) {
	c := dockertest.Require(t)
	ctx := t.Context()
	ref := dockertest.Image(t, c)
	slug, _ := dockertest.Slug(t)
	id, err := c.CreateContainer(ctx, dockerhost.ContainerSpec{Name: dockertest.Name(slug), Image: ref,
		Cmd: []string{"/sleeper", "spawn", "60"}, Labels: dockertest.TenantLabels(slug)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.RemoveContainer(context.Background(), id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	warnings, err := c.UpdateResources(ctx, id, dockerhost.Resources{PidsLimit: 24, BlkioWeight: 300})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("engine warnings: %q", warnings)
	got, err := c.ContainerResources(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.PidsLimit != 24 {
		t.Errorf("pids limit %d, want 24", got.PidsLimit)
	}
	// A kernel without block I/O weight support discards it, with a warning.
	if got.BlkioWeight != 300 && len(warnings) == 0 {
		t.Errorf("blkio weight %d without a warning, want 300", got.BlkioWeight)
	}
	if err := c.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	code, err := c.WaitContainer(wctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Fatalf("fork bomb exited %d, want 0 (a fork refused by the pids limit; 3 = all 60 children ran)", code)
	}
}
