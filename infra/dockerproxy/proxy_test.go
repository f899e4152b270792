package dockerproxy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/infra/dockerproxy"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/dockerhost/dockertest"
)

// proxy starts the proxy in front of the real engine on a unix socket in a temp dir and returns
// the socket path.
func proxy(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := dockerproxy.Listen("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		done <- dockerproxy.Serve(ctx, l, dockerproxy.Handler(strings.TrimPrefix(dockertest.URL(), "unix://"), log))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return sock
}

// raw sends one request exactly as written (no client-side cleaning of the path) and returns
// the status and body.
func raw(t *testing.T, sock, method, uri string, header string, body string) (int, string) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n%s", method, uri, header)
	if body != "" {
		req += "Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"+body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, uri, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// What Traefik's Docker provider asks gets the engine's own answers through the proxy.
func TestAllowedReadsReachTheEngine(t *testing.T) {
	c := dockertest.Require(t)
	sock := proxy(t)
	slug, _ := dockertest.Slug(t)
	id := dockertest.Run(t, c, dockertest.Name(slug), "", dockertest.TenantLabels(slug)...)
	engineVersion, err := c.Ping(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	if code, body := raw(t, sock, "GET", "/_ping", "", ""); code != 200 || body != "OK" {
		t.Errorf("GET /_ping: %d %q", code, body)
	}
	if code, _ := raw(t, sock, "HEAD", "/_ping", "", ""); code != 200 {
		t.Errorf("HEAD /_ping: %d", code)
	}
	code, body := raw(t, sock, "GET", "/v1.24/version", "", "")
	var v struct{ ApiVersion string }
	if code != 200 || json.Unmarshal([]byte(body), &v) != nil || v.ApiVersion != engineVersion {
		t.Errorf("GET /v1.24/version: %d %s, want the engine's API version %s", code, body, engineVersion)
	}
	code, body = raw(t, sock, "GET", "/v1.24/containers/json?all=1", "", "")
	if code != 200 || !strings.Contains(body, id) {
		t.Errorf("GET containers/json: %d, listing lacks %s", code, id)
	}
	filters := `{"label":["tenantpool.slug=` + slug + `"]}`
	code, body = raw(t, sock, "GET", "/containers/json?all=1&filters="+urlQuery(filters), "", "")
	var list []struct{ Id string }
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list) != 1 || list[0].Id != id {
		t.Errorf("filtered list: %d %s, want only %s", code, body, id)
	}
	for _, ref := range []string{id, dockertest.Name(slug)} {
		code, body = raw(t, sock, "GET", "/v1.24/containers/"+ref+"/json", "", "")
		var in struct {
			Id     string
			Config struct{ Labels map[string]string }
		}
		if code != 200 || json.Unmarshal([]byte(body), &in) != nil || in.Id != id || in.Config.Labels["tenantpool.slug"] != slug {
			t.Errorf("inspect %s: %d %.200s", ref, code, body)
		}
	}
	// The event stream (bounded by until, so that it ends) comes through with the start of the
	// test container in it.
	since := time.Now().Add(-time.Minute).Unix()
	code, body = raw(t, sock, "GET", fmt.Sprintf("/v1.24/events?since=%d&until=%d&filters=%s", since, time.Now().Unix()+1,
		urlQuery(`{"type":["container"]}`)), "", "")
	if code != 200 || !strings.Contains(body, id) {
		t.Errorf("events: %d, want the stream with %s", code, id)
	}
}

func urlQuery(s string) string {
	r := strings.NewReplacer("{", "%7B", "}", "%7D", `"`, "%22", "[", "%5B", "]", "%5D", ":", "%3A", "=", "%3D", ",", "%2C")
	return r.Replace(s)
}

// Everything else is refused with 403 and changes nothing on the engine.
func TestEverythingElseRefused(t *testing.T) {
	c := dockertest.Require(t)
	sock := proxy(t)
	slug, _ := dockertest.Slug(t)
	id := dockertest.Run(t, c, dockertest.Name(slug), "", dockertest.TenantLabels(slug)...)
	ref := dockertest.Image(t, c)
	intruder := dockertest.Name(slug + "x")
	create := `{"Image":"` + ref + `","Labels":{"tenantpool.slug":"` + slug + `x"}}`

	for _, tc := range []struct{ method, uri, header, body string }{
		{"POST", "/containers/create?name=" + intruder, "", create},
		{"POST", "/v1.41/containers/create?name=" + intruder, "", create},
		{"POST", "/v1.41/containers/" + id + "/exec", "", `{"Cmd":["/sleeper"]}`},
		{"POST", "/exec/" + id + "/start", "", `{}`},
		{"POST", "/containers/" + id + "/stop", "", ""},
		{"POST", "/containers/" + id + "/kill", "", ""},
		{"DELETE", "/containers/" + id + "?force=1", "", ""},
		{"DELETE", "/v1.41/containers/" + id + "?force=1", "", ""},
		{"GET", "/containers/" + id + "/archive?path=/", "", ""},
		{"PUT", "/containers/" + id + "/archive?path=/", "", "x"},
		{"GET", "/containers/" + id + "/export", "", ""},
		{"GET", "/containers/" + id + "/logs?stdout=1", "", ""},
		{"GET", "/containers/" + id + "/attach/ws?stream=1", "Upgrade: websocket\r\nConnection: Upgrade\r\n", ""},
		{"GET", "/v1.41/../containers/" + id + "/archive?path=/", "", ""},
		{"GET", "/v1.41/containers/json/../../images/json", "", ""},
		{"GET", "/containers/" + id + "/json/../../../images/json", "", ""},
		{"GET", "/v1.41/containers/%2e%2e/images/json", "", ""},
		{"GET", "/containers/..%2Fimages/json", "", ""},
		{"GET", "/containers/" + id + "%2Farchive?path=/", "", ""},
		{"GET", "//containers/json", "", ""},
		{"GET", "/./containers/json", "", ""},
		{"GET", "http://docker/images/json", "", ""},
		{"GET", "/images/json", "", ""},
		{"GET", "/info", "", ""},
		{"GET", "/volumes", "", ""},
		{"GET", "/networks", "", ""},
		{"GET", "/containers/json?all=1&size=1", "", ""},
		{"GET", "/containers/" + id + "/json?size=1", "", ""},
		{"GET", "/_ping", "", "{}"},
		{"POST", "/_ping", "", ""},
		{"GET", "/vx/containers/json", "", ""},
		{"GET", "/containers/.hidden/json", "", ""},
	} {
		code, body := raw(t, sock, tc.method, tc.uri, tc.header, tc.body)
		if code != http.StatusForbidden || !strings.Contains(body, "refused by the edge's Docker proxy") {
			t.Errorf("%s %s: %d %.120s, want 403", tc.method, tc.uri, code, body)
		}
	}

	// Nothing changed: the container still runs, nothing was created.
	got, err := c.InspectContainer(t.Context(), id)
	if err != nil || got.State != "running" {
		t.Errorf("the test container after the refusals: %+v, %v; want it running", got, err)
	}
	if _, err := c.InspectContainer(t.Context(), intruder); !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("container %s: %v, want none created", intruder, err)
	}
}
