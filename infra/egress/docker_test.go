package egress_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/infra/egress"
	"github.com/axiestudio/tenantpool/pool/dockerhost/dockertest"
)

// TestPolicyOnRealBridge applies the policy with the project's own code to a real Docker bridge
// network like the platform's (fixed bridge name, enable_icc=false) and judges it from inside a
// container on that network. Targets, every one made by the test and shown reachable first:
//
//   - a TCP listener of the test on the host, via the bridge's gateway and via the host's other
//     addresses (another interface's, and the test host's link to the host);
//   - test hosts in a network namespace the test creates, routed from the host: a private
//     10.x address, a private 192.168.x address and the metadata address 169.254.169.254;
//   - an allowed destination: the same namespace's address in 198.51.100.0/24 (not private).
//
// The policy also redirects the host's port 443 to the port of the test's host listener (as the
// platform redirects 443 to the edge's unprivileged port): a client on the "internet" (the
// namespace's 198.51.100.x address) reaches the listener through the host's 443, while the
// tenant reaches neither the host's 443 nor the listener's port; the host's own connection to
// its 443 reaches the listener too.
//
// With the policy the first three groups are unreachable and the allowed one still is; the nft
// listing of the table is exactly egress.Ruleset; applying again changes nothing; and Run puts
// back a table deleted under it (a flush) on its next tick.
func TestPolicyOnRealBridge(t *testing.T) {
	requireHost(t)
	dc := dockertest.Require(t)
	ctx := context.Background()
	id := randHex(t, 3) // 6 hex digits: interface names stay under 15 bytes
	octet := 10 + int(id[0]%200)

	// The test hosts: one network namespace, linked to the host by a veth pair.
	ns, hostIf, nsIf := "tpe-"+id, "tpe"+id+"h", "tpe"+id+"n"
	link := fmt.Sprintf("10.231.%d", octet)
	private10, private192 := link+".2", fmt.Sprintf("192.168.231.%d", octet)
	metadata, public := "169.254.169.254", fmt.Sprintf("198.51.100.%d", octet)
	ip(t, "netns", "add", ns)
	t.Cleanup(func() { ipQuiet("link", "del", hostIf); ipQuiet("netns", "del", ns) })
	ip(t, "link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	ip(t, "link", "set", nsIf, "netns", ns)
	ip(t, "addr", "add", link+".1/24", "dev", hostIf)
	ip(t, "link", "set", hostIf, "up")
	ip(t, "-n", ns, "link", "set", "lo", "up")
	ip(t, "-n", ns, "addr", "add", private10+"/24", "dev", nsIf)
	ip(t, "-n", ns, "link", "set", nsIf, "up")
	for _, a := range []string{private192, metadata, public} {
		ip(t, "-n", ns, "addr", "add", a+"/32", "dev", "lo")
		// Routed through the test host while the test runs; the route goes with the veth.
		ip(t, "route", "replace", a+"/32", "via", private10, "dev", hostIf)
	}
	ip(t, "-n", ns, "route", "add", "default", "via", link+".1")

	bin := buildProber(t)
	listener := exec.Command("ip", "netns", "exec", ns, bin, "listen",
		private10+":7001", private192+":7001", metadata+":80", public+":7001")
	out, err := listener.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	listener.Stderr = os.Stderr
	if err := listener.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = listener.Process.Kill(); _ = listener.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "listening\n" {
		t.Fatalf("test hosts did not start: %q %v", line, err)
	}

	// The host's own listener, on every address of the host.
	hl, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hl.Close() })
	go func() {
		for {
			c, err := hl.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, hostGreeting)
			c.Close()
		}
	}()
	hostPort := fmt.Sprint(hl.Addr().(*net.TCPAddr).Port)

	// The tenants' network, as the platform makes it, and a prober tenant on it.
	e := engine(t)
	bridge := "tpe" + id + "b"
	network := "tpe-" + id
	e.call(t, http.MethodPost, "/networks/create", map[string]any{
		"Name": network, "Driver": "bridge", "CheckDuplicate": true,
		"Options": map[string]string{"com.docker.network.bridge.name": bridge, "com.docker.network.bridge.enable_icc": "false"},
	}, nil)
	t.Cleanup(func() { e.call(t, http.MethodDelete, "/networks/"+network, nil, nil) })
	var created struct{ ID string }
	e.call(t, http.MethodPost, "/containers/create?name="+network+"-prober", map[string]any{
		"Image": proberImage(t, dc, bin), "Cmd": []string{"/prober", "serve", ":8080"},
		"HostConfig": map[string]any{"NetworkMode": network},
	}, &created)
	t.Cleanup(func() { e.call(t, http.MethodDelete, "/containers/"+created.ID+"?force=1&v=1", nil, nil) })
	e.call(t, http.MethodPost, "/containers/"+created.ID+"/start", nil, nil)
	var inspect struct {
		NetworkSettings struct {
			Networks map[string]struct{ IPAddress, Gateway string }
		}
	}
	e.call(t, http.MethodGet, "/containers/"+created.ID+"/json", nil, &inspect)
	tenant := inspect.NetworkSettings.Networks[network]
	if tenant.IPAddress == "" || tenant.Gateway == "" {
		t.Fatalf("prober has no address on %s: %+v", network, inspect.NetworkSettings)
	}
	pr := prober{base: "http://" + net.JoinHostPort(tenant.IPAddress, "8080")}

	blocked := map[string]string{
		"host via the bridge gateway":        net.JoinHostPort(tenant.Gateway, hostPort),
		"host via its link to the test host": net.JoinHostPort(link+".1", hostPort),
		"private 10.x test host":             net.JoinHostPort(private10, "7001"),
		"private 192.168.x test host":        net.JoinHostPort(private192, "7001"),
		"metadata address":                   net.JoinHostPort(metadata, "80"),
	}
	if a := otherHostAddress(hostIf); a != "" {
		blocked["host via "+a] = net.JoinHostPort(a, hostPort)
	}
	allowed := net.JoinHostPort(public, "7001")

	// The edge's redirect: the host's 443 is served by the listener on hostPort (the edge's
	// unprivileged port), for clients from outside — not for the tenants.
	toPort, _ := strconv.ParseUint(hostPort, 10, 16)
	policy := egress.Policy{Table: "tpe" + id, Bridge: bridge, Redirects: []egress.Redirect{{From: 443, To: uint16(toPort)}}}
	internet := internetClient{bin: bin, ns: ns, from: public, host: net.JoinHostPort(link+".1", "443")}
	if got, ok := internet.dial(); ok && got == hostGreeting {
		t.Fatalf("the host's 443 reaches the test's listener before the redirect: %q", got)
	}
	t.Cleanup(func() {
		if err := egress.Remove(policy); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	// Before the policy every target answers: an unreachable one below is the policy's doing.
	for what, addr := range blocked {
		pr.waitReachable(t, what, addr, true)
	}
	pr.waitReachable(t, "allowed public test host", allowed, true)

	if err := egress.Apply(policy); err != nil {
		t.Fatal(err)
	}
	for what, addr := range blocked {
		pr.waitReachable(t, what, addr, false)
	}
	pr.waitReachable(t, "allowed public test host", allowed, true)
	internet.waitReached(t)
	// The host's own connection to its 443 is redirected too (the output chain).
	waitFor(t, "the host's own connection to its 443 to reach the listener", func() bool {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(link+".1", "443"), 2*time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		b, _ := io.ReadAll(c)
		return string(b) == hostGreeting
	})
	pr.waitReachable(t, "host's 443 via the bridge gateway", net.JoinHostPort(tenant.Gateway, "443"), false)
	checkListing(t, policy)

	// Applying again is idempotent: the same table, the same rules, and still in force.
	if err := egress.Apply(policy); err != nil {
		t.Fatal(err)
	}
	checkListing(t, policy)
	if ok, err := egress.Installed(policy); !ok || err != nil {
		t.Fatalf("Installed after two applies = %v, %v", ok, err)
	}
	pr.waitReachable(t, "metadata address", blocked["metadata address"], false)

	// Run keeps it applied: a table deleted under it (a flushed ruleset) is back on the next tick.
	clk := quartz.NewMock(t)
	trap := clk.Trap().NewTicker("egress")
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- egress.Run(runCtx, clk, egress.DefaultInterval, policy, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	call := trap.MustWait(ctx)
	call.MustRelease(ctx)
	trap.Close()
	if err := egress.Remove(policy); err != nil {
		t.Fatal(err)
	}
	pr.waitReachable(t, "metadata address (table deleted)", blocked["metadata address"], true)
	clk.Advance(egress.DefaultInterval).MustWait(ctx)
	waitFor(t, "Run to put the table back", func() bool { ok, err := egress.Installed(policy); return ok && err == nil })
	for what, addr := range blocked {
		pr.waitReachable(t, what+" (after Run)", addr, false)
	}
	pr.waitReachable(t, "allowed public test host (after Run)", allowed, true)
	internet.waitReached(t)
}

const hostGreeting = "hello from the host\n"

// internetClient is a client on the public internet: the test host's namespace, connecting from
// its public address to the host's port 443.
type internetClient struct{ bin, ns, from, host string }

func (c internetClient) dial() (string, bool) {
	out, err := exec.Command("ip", "netns", "exec", c.ns, c.bin, "dial", c.from, c.host).CombinedOutput()
	return string(out), err == nil
}

// waitReached waits until the client's connection to the host's 443 is answered by the test's
// listener on the redirect's port.
func (c internetClient) waitReached(t *testing.T) {
	t.Helper()
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, ok := c.dial()
		if ok && got == hostGreeting {
			t.Logf("%s from %s reached the host's listener through the redirect", c.host, c.from)
			return
		}
		last = got
		if time.Now().After(deadline) {
			t.Fatalf("internet client %s → %s: last answer %q, want the host's listener", c.from, c.host, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// requireHost checks what the real test needs beyond Docker: root (netns, nftables) and the ip
// and nft commands (iproute2, nftables). Missing, the test skips; under POOL_TEST_REQUIRE_ALL=1
// (CI) it fails.
func requireHost(t *testing.T) {
	t.Helper()
	miss := func(why string) {
		if os.Getenv("POOL_TEST_REQUIRE_ALL") == "1" {
			t.Fatalf("POOL_TEST_REQUIRE_ALL=1 but %s", why)
		}
		t.Skip(why)
	}
	if os.Geteuid() != 0 {
		miss("not root: network namespaces and nftables need it")
	}
	for _, cmd := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(cmd); err != nil {
			miss(cmd + " is not installed (apt-get install iproute2 nftables)")
		}
	}
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func ipQuiet(args ...string) { _ = exec.Command("ip", args...).Run() }

func randHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// otherHostAddress is an IPv4 address of the host on an interface that is up and neither
// loopback, Docker's, nor the test's ("" when there is none).
func otherHostAddress(skip string) string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 || i.Name == skip ||
			strings.HasPrefix(i.Name, "docker") || strings.HasPrefix(i.Name, "br-") || strings.HasPrefix(i.Name, "veth") || strings.HasPrefix(i.Name, "tpe") {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.String()
			}
		}
	}
	return ""
}

// checkListing compares nft's own listing of the table with egress.Ruleset: the expressions
// written over netlink mean exactly the rules the package renders.
func checkListing(t *testing.T, p egress.Policy) {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "inet", p.Table).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), strings.TrimSpace(egress.Ruleset(p)); got != want {
		t.Errorf("nft lists\n%s\nwant\n%s", got, want)
	}
	out, err = exec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "table inet "+p.Table+"\n"); n != 1 {
		t.Errorf("%d tables inet %s:\n%s", n, p.Table, out)
	}
}

// prober asks the prober container to dial.
type prober struct{ base string }

// dial reports whether the tenant's connection to addr reached the listener there.
func (p prober) dial(addr string) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/dial?addr="+url.QueryEscape(addr), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, "prober: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && strings.HasPrefix(string(body), "hello from"), strings.TrimSpace(string(body))
}

func (p prober) waitReachable(t *testing.T, what, addr string, want bool) {
	t.Helper()
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, msg := p.dial(addr)
		if ok == want {
			if !want {
				t.Logf("%s (%s) unreachable from the tenant: %s", what, addr, msg)
			}
			return
		}
		last = msg
		if time.Now().After(deadline) {
			t.Fatalf("%s (%s): reachable = %v, want %v (last answer: %s)", what, addr, ok, want, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// buildProber builds the static prober binary.
func buildProber(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "prober")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "github.com/axiestudio/tenantpool/infra/egress/internal/prober")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build prober: %v\n%s", err, out)
	}
	return bin
}

const proberRef = "tenantpool-test/prober:1"

// proberImage makes the prober image FROM scratch (imported only when the engine has none of
// the same bytes) and returns its ref.
func proberImage(t *testing.T, dc interface {
	ImageLabels(context.Context, string) (map[string]string, error)
	ImportImage(context.Context, string, io.Reader, ...string) error
}, bin string) string {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	const label = "tenantpool.test.sha256"
	if labels, err := dc.ImageLabels(context.Background(), proberRef); err == nil && labels[label] == digest {
		return proberRef
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "prober", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dc.ImportImage(context.Background(), proberRef, &buf, `CMD ["/prober"]`, "LABEL "+label+"="+digest); err != nil {
		t.Fatal(err)
	}
	return proberRef
}

// engineAPI is the few Engine API calls the test needs beyond dockerhost's (networks, a
// container on one): JSON over the local socket.
type engineAPI struct{ http *http.Client }

func engine(t *testing.T) engineAPI {
	sock := strings.TrimPrefix(dockertest.URL(), "unix://")
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return engineAPI{http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

func (e engineAPI) call(t *testing.T, method, path string, body, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://docker/v1.41"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}
