package cli_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/pool/dockerhost/dockertest"
)

// `poold edge docker-proxy` serves the engine's reads on its socket and refuses writes, until
// it is stopped.
func TestEdgeDockerProxyCommand(t *testing.T) {
	dockertest.Require(t)
	h := newHarness(t)
	sock := filepath.Join(t.TempDir(), "proxy.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.run(ctx, "edge", "docker-proxy", "--socket", strings.TrimPrefix(dockertest.URL(), "unix://"), "--listen", "unix://"+sock)
		done <- err
	}()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	get := func(method, path string) (int, error) {
		req, _ := http.NewRequest(method, "http://docker"+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, err := get(http.MethodGet, "/v1.41/containers/json")
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the proxy never answered: %d %v (%v)", code, err, <-done)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, err := get(http.MethodPost, "/v1.41/containers/create"); err != nil || code != http.StatusForbidden {
		t.Errorf("POST /containers/create: %d %v, want 403", code, err)
	}
	// The container's health check.
	if _, err := newHarness(t).run(context.Background(), "edge", "ping", "--listen", "unix://"+sock); err != nil {
		t.Errorf("edge ping of a running proxy: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("docker-proxy exited with %v", err)
	}
	if !strings.Contains(h.logs.String(), "refused") {
		t.Errorf("the refusal is not logged:\n%s", h.logs.String())
	}
	if _, err := newHarness(t).run(context.Background(), "edge", "ping", "--listen", "unix://"+sock); err == nil {
		t.Error("edge ping of a stopped proxy succeeded")
	}
}

func TestEdgeDockerProxyFlags(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--socket", "docker.sock"}, "--socket \"docker.sock\": want the absolute path"},
		{[]string{"--listen", "http://127.0.0.1:2375"}, "want unix:///path or tcp://host:port"},
		{[]string{"--listen", "unix://relative/x.sock"}, "want unix:///absolute/path"},
	} {
		_, err := h.run(context.Background(), append([]string{"edge", "docker-proxy"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
