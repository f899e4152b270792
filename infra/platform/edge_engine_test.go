package platform_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/infra/internal/pulumitest"
	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
	"github.com/axiestudio/tenantpool/pool/dockerhost/dockertest"
)

// The user and capabilities the program gives Traefik — a non-root user, every capability
// dropped, none added — can bind the edge's ports in the host's network namespace on a real
// engine, but not the privileged ports 80 and 443: those reach the edge only through the
// firewall's redirect (infra/egress TestPolicyOnRealBridge). The probe binds the edge's HTTPS
// port as the program sets it, then port 1023 (a privileged port; one in use fails the same
// way, since the kernel checks permission first).
func TestEdgeUserBindsItsPorts(t *testing.T) {
	c := dockertest.Require(t)
	// Unprivileged ports nothing here listens on (random, so parallel runs do not collide).
	ports := platform.EdgePorts{HTTP: 18080 + rand.IntN(500), HTTPS: 19443 + rand.IntN(500)}
	m, err := pulumitest.Run("test", platform.Program(platform.Config{
		Domain:     "localhost",
		Hosts:      []platform.HostConfig{{Name: "local", DockerURL: "unix:///var/run/docker.sock", Address: "127.0.0.1", Capacity: 10}},
		ProxyImage: "traefik:v3.5@sha256:" + strings.Repeat("2", 64),
		PooldImage: "tenantpool/poold:1@sha256:" + strings.Repeat("3", 64),
		TLS:        platform.TLSConfig{Mode: platform.TLSSelfSigned},
		EdgePorts:  ports,
	}))
	if err != nil {
		t.Fatal(err)
	}
	edge := m.Get(t, "docker:index/container:Container", "edge-local")
	caps, _ := edge.Input("capabilities")
	capsMap := caps.(map[string]any)
	strs := func(v any) []string {
		var out []string
		if v == nil {
			return nil
		}
		for _, x := range v.([]any) {
			out = append(out, x.(string))
		}
		return out
	}
	if adds := strs(capsMap["adds"]); len(adds) != 0 {
		t.Errorf("edge capabilities add %v, want none", adds)
	}
	var httpsAddr string
	for _, a := range edge.Strings("command") {
		if v, ok := strings.CutPrefix(a, "--entrypoints.websecure.address="); ok {
			httpsAddr = v
		}
	}
	if want := fmt.Sprintf(":%d", ports.HTTPS); httpsAddr != want {
		t.Fatalf("websecure entrypoint %q, want %q", httpsAddr, want)
	}
	probe := func(addr string) int {
		t.Helper()
		slug, _ := dockertest.Slug(t)
		id, err := c.CreateContainer(t.Context(), dockerhost.ContainerSpec{
			Name: "edge-probe-" + slug, Image: dockertest.Image(t, c), Cmd: []string{"/sleeper", "bind", addr},
			User: edge.String("user"), CapAdd: strs(capsMap["adds"]), CapDrop: strs(capsMap["drops"]),
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
	if u := edge.String("user"); strings.HasPrefix(u, "0:") || u == "" {
		t.Fatalf("edge user %q is root", u)
	}
	if code := probe(httpsAddr); code != 0 {
		t.Errorf("as the edge's user %s with %v: bind %s exit %d, want 0", edge.String("user"), caps, httpsAddr, code)
	}
	if code := probe(":1023"); code != 13 {
		t.Errorf("as the edge's user %s with %v: bind :1023 exit %d, want 13 (permission denied: it holds no privilege)", edge.String("user"), caps, code)
	}
}
