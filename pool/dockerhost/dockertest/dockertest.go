// Package dockertest gives tests a real Docker Engine: the local one at /var/run/docker.sock
// (or DOCKER_HOST when it is a unix:// URL). Without one the tests skip, unless
// POOL_TEST_REQUIRE_ALL=1 (CI), where they fail. Image builds, once per test binary, a tiny
// image FROM scratch holding a static Go binary that waits until it is stopped; Run starts
// containers of it, removed when the test ends.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
)

// URL is the engine the tests use.
func URL() string {
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		return h
	}
	return "unix:///var/run/docker.sock"
}

// Require returns a client of the local engine, or skips the test when there is none (fails
// under POOL_TEST_REQUIRE_ALL=1).
func Require(t testing.TB) *dockerhost.Client {
	t.Helper()
	require := os.Getenv("POOL_TEST_REQUIRE_ALL") == "1"
	u := URL()
	miss := func(why string) {
		if require {
			t.Fatalf("POOL_TEST_REQUIRE_ALL=1 but no Docker Engine at %s: %s (apt-get install docker.io; start dockerd)", u, why)
		}
		t.Skipf("no Docker Engine at %s: %s", u, why)
	}
	if _, err := os.Stat(strings.TrimPrefix(u, "unix://")); err != nil {
		miss(err.Error())
	}
	c, err := dockerhost.Dial(u)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		miss(err.Error())
	}
	t.Cleanup(c.Close)
	return c
}

// ImageRef is the test image.
const ImageRef = "tenantpool-test/sleeper:1"

// imageLabel carries the SHA-256 of the image's binary: an image already made from the same
// bytes is used as it is.
const imageLabel = "tenantpool.test.sha256"

var image = struct {
	sync.Mutex
	done bool
}{}

// Image makes sure the test image exists (built once per test binary, imported only when the
// engine lacks one of the same bytes) and returns its ref.
func Image(t testing.TB, c *dockerhost.Client) string {
	t.Helper()
	image.Lock()
	defer image.Unlock()
	if image.done {
		return ImageRef
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sleeper")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "github.com/axiestudio/tenantpool/pool/dockerhost/dockertest/sleeper")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build sleeper: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if labels, err := c.ImageLabels(context.Background(), ImageRef); err == nil && labels[imageLabel] == digest {
		image.done = true // built by an earlier test binary from the same bytes
		return ImageRef
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "sleeper", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.ImportImage(context.Background(), ImageRef, &buf, `CMD ["/sleeper"]`, "LABEL "+imageLabel+"="+digest); err != nil {
		t.Fatal(err)
	}
	image.done = true
	return ImageRef
}

// Slug returns a slug of a fresh random prefix (tests on one engine never share tenants) and
// that prefix: prefix + "01".
func Slug(t testing.TB) (slug, prefix string) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix = "t" + hex.EncodeToString(b) + "x"
	return prefix + "01", prefix
}

// Run starts a container of the test image named name with labels ("key=value") and, when
// volume is set, that named volume at /data; it and its volume are removed when the test ends.
func Run(t testing.TB, c *dockerhost.Client, name, volume string, labels ...string) string {
	t.Helper()
	ref := Image(t, c)
	id, err := c.RunContainer(context.Background(), dockerhost.ContainerSpec{Name: name, Image: ref, Labels: labels, Volume: volume})
	if err != nil {
		t.Fatalf("run %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if err := c.RemoveContainer(ctx, id); err != nil {
			t.Errorf("cleanup: remove %s: %v", name, err)
		}
		if volume != "" {
			if err := c.RemoveVolume(ctx, volume); err != nil {
				t.Errorf("cleanup: remove volume %s: %v", volume, err)
			}
		}
	})
	return id
}

// Exists reports whether a container is there.
func Exists(t testing.TB, c *dockerhost.Client, id string) bool {
	t.Helper()
	_, err := c.InspectContainer(context.Background(), id)
	if err == nil {
		return true
	}
	if !errors.Is(err, pool.ErrNotFound) {
		t.Fatal(err)
	}
	return false
}

// TenantLabels are the labels the tenant program gives a tenant's container (managed, slug,
// tier) plus extra.
func TenantLabels(slug string, extra ...string) []string {
	return append([]string{"tenantpool.managed=true", "tenantpool.slug=" + slug, "tenantpool.tier=basic"}, extra...)
}

// Name is the tenant program's container name of a slug.
func Name(slug string) string { return fmt.Sprintf("tenant-%s", slug) }
