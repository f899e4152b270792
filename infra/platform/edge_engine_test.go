package platform_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/infra/internal/pulumitest"
	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
	"github.com/axiestudio/tenantpool/pool/dockerhost/dockertest"
)

// The user and capabilities the program gives Traefik let it bind privileged ports in the
// host's network namespace on a real engine; the same capabilities with a non-root user do not
// (Docker grants a non-root user no ambient capability), which is why edgeUser is root. The
// probe binds port 1023: a privileged port nothing else here uses (a port in use passes too,
// since the kernel checks permission first).
func TestEdgeUserBindsPrivilegedPorts(t *testing.T) {
	c := dockertest.Require(t)
	m, err := pulumitest.Run("test", platform.Program(platform.Config{
		Domain:     "localhost",
		Hosts:      []platform.HostConfig{{Name: "local", DockerURL: "unix:///var/run/docker.sock", Address: "127.0.0.1", Capacity: 10}},
		ProxyImage: "traefik:v3.5@sha256:" + strings.Repeat("2", 64),
		PooldImage: "tenantpool/poold:1@sha256:" + strings.Repeat("3", 64),
		TLS:        platform.TLSConfig{Mode: platform.TLSSelfSigned},
	}))
	if err != nil {
		t.Fatal(err)
	}
	edge := m.Get(t, "docker:index/container:Container", "edge-local")
	caps, _ := edge.Input("capabilities")
	capsMap := caps.(map[string]any)
	strs := func(v any) []string {
		var out []string
		for _, x := range v.([]any) {
			out = append(out, x.(string))
		}
		return out
	}
	probe := func(user string) int {
		t.Helper()
		slug, _ := dockertest.Slug(t)
		id, err := c.CreateContainer(t.Context(), dockerhost.ContainerSpec{
			Name: "edge-probe-" + slug, Image: dockertest.Image(t, c), Cmd: []string{"/sleeper", "bind", ":1023"},
			User: user, CapAdd: strs(capsMap["adds"]), CapDrop: strs(capsMap["drops"]),
			SecurityOpt: edge.Strings("securityOpts"), NetworkMode: edge.String("networkMode"),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := c.RemoveContainer(context.Background(), id); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
		if err := c.StartContainer(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		code, err := c.WaitContainer(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	if code := probe(edge.String("user")); code != 0 {
		t.Errorf("as the edge's user %s with %v: exit %d, want 0 (may bind :1023 on the host)", edge.String("user"), caps, code)
	}
	if code := probe("65534:65534"); code != 13 {
		t.Errorf("as nobody with the same capabilities: exit %d, want 13 (permission denied)", code)
	}
}
