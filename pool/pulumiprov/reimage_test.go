package pulumiprov_test

import (
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
)

// Reimage re-applies a sold tenant's stack with another image on the same volume, re-creating
// its container, waits for health, proves the operator's login, and returns the new
// generation; a second Reimage with the old image (a rollback) brings the old image back on the
// same volume. A login that fails is an error.
func TestReimageSwapsTheImageOnTheSameVolume(t *testing.T) {
	ts := newTenants(t)
	p, logs := newProvisioner(t, ts, options{})
	a := account(1, "client01")
	srv := ts.server(a)
	got := mustProvision(t, p, a)
	a.State, a.Host, a.URL, a.CustomerUserID = pool.StateDelivered, got.Host, got.URL, got.CustomerUserID
	ts.mu.Lock()
	before := ts.specs[a.Slug]
	ts.mu.Unlock()
	const newImage = "langflowai/langflow:1.7.0@sha256:" + "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	health, logins := srv.Requests(langflowtest.RouteHealthCheck), srv.Requests(langflowtest.RouteLogin)

	gen, err := p.Reimage(t.Context(), a, newImage)
	if err != nil {
		t.Fatalf("Reimage: %v", err)
	}
	if want := pool.Generation("test", newImage, testTier()); gen != want || gen == got.Generation {
		t.Fatalf("generation %s, want %s (was %s)", gen, want, got.Generation)
	}
	ts.mu.Lock()
	after := ts.specs[a.Slug]
	ts.mu.Unlock()
	if after.Image != newImage || before.Image != testImage {
		t.Fatalf("image %s → %s, want %s → %s", before.Image, after.Image, testImage, newImage)
	}
	if after.VolumeName() != before.VolumeName() || after.Host.Name != before.Host.Name {
		t.Fatalf("volume %s on %s → %s on %s: the data would not follow", before.VolumeName(), before.Host.Name, after.VolumeName(), after.Host.Name)
	}
	if after.Restart == before.Restart {
		t.Fatal("the restart token did not change: the container would not be re-created")
	}
	if srv.Requests(langflowtest.RouteHealthCheck) == health || srv.Requests(langflowtest.RouteLogin) == logins {
		t.Fatal("Reimage did not wait for health and prove the operator's login")
	}

	back, err := p.Reimage(t.Context(), a, testImage)
	if err != nil || back != got.Generation {
		t.Fatalf("rollback: %s, %v; want %s", back, err, got.Generation)
	}
	ts.mu.Lock()
	rolled := ts.specs[a.Slug]
	ts.mu.Unlock()
	if rolled.Image != testImage || rolled.VolumeName() != before.VolumeName() {
		t.Fatalf("rollback ran %s on %s", rolled.Image, rolled.VolumeName())
	}

	wrong := a
	wrong.OperatorPassword = "not-the-password"
	if _, err := p.Reimage(t.Context(), wrong, newImage); err == nil || !strings.Contains(err.Error(), "login check") {
		t.Fatalf("Reimage with a dead operator password: %v, want a login check error", err)
	}
	if _, err := p.Reimage(t.Context(), a, "langflowai/langflow:latest"); err == nil || !pool.IsPermanent(err) {
		t.Fatalf("an image not pinned by digest: %v, want a permanent error", err)
	}
	noSecrets(t, logs.String(), a)
}
