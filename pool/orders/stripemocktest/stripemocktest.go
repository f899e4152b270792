// Package stripemocktest runs stripe-mock, Stripe's own mock of its API (built from its OpenAPI
// spec), for tests of the code that calls the Stripe API through stripe-go.
//
// The binary is found through the environment variable TENANTPOOL_STRIPE_MOCK (the Makefile
// exports it and builds the binary with `make stripe-mock`), else in
// $HOME/.cache/tenantpool/stripe-mock-*/stripe-mock. Without a binary the test is skipped, or
// fails when POOL_TEST_REQUIRE_ALL=1 (as in CI).
//
// stripe-mock answers every GET with its fixture of that resource (the id is the one asked for);
// tests that need particular data (a session's line items, amounts, livemode) start a server with
// patched fixtures: Start(t, stripemocktest.Fixture("item", map[string]any{...})). The bundled
// fixtures are copied next to the binary by `make stripe-mock`.
package stripemocktest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/internal/testtool"
)

// Key is an API key stripe-mock accepts (any sk_test_ key works).
const Key = "sk_test_tenantpool"

// Server is one stripe-mock process on a loopback port.
type Server struct {
	URL string // http://127.0.0.1:port, the API base for stripe-go's backend config

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	out    *testtool.SyncBuffer
	once   sync.Once
}

// Option changes the fixtures a server starts with.
type Option func(resources map[string]any)

// Fixture deep-merges fields into the fixture of resource (e.g. "checkout.session", "item",
// "subscription", "price"): maps merge key by key, anything else replaces.
func Fixture(resource string, fields map[string]any) Option {
	return func(resources map[string]any) {
		cur, _ := resources[resource].(map[string]any)
		if cur == nil {
			cur = map[string]any{}
		}
		resources[resource] = merge(cur, fields)
	}
}

func merge(dst, src map[string]any) map[string]any {
	out := maps.Clone(dst)
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := out[k].(map[string]any); ok {
				out[k] = merge(dm, sm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// Binary returns the path of the stripe-mock binary, or "" if there is none.
func Binary() string { return testtool.Find("TENANTPOOL_STRIPE_MOCK", "stripe-mock") }

// Start runs stripe-mock on a free loopback port, waits until it answers, and stops it in
// t.Cleanup. With options, it starts with the bundled fixtures patched by them.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "stripe-mock binary not found: run `make stripe-mock` or set TENANTPOOL_STRIPE_MOCK"
		if os.Getenv("POOL_TEST_REQUIRE_ALL") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var extra []string
	if len(opts) > 0 {
		path, err := writeFixtures(bin, t.TempDir(), opts)
		if err != nil {
			t.Fatalf("stripe-mock fixtures: %v", err)
		}
		extra = []string{"-fixtures", path}
	}
	var lastErr error
	for range 3 { // a free port can be taken by someone else between probing and binding
		port, err := freePort()
		if err != nil {
			t.Fatalf("stripe-mock: %v", err)
		}
		s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), out: &testtool.SyncBuffer{}}
		// Without an HTTPS address stripe-mock also binds its default HTTPS port: let it pick one.
		args := append([]string{"-http-addr", "127.0.0.1:" + strconv.Itoa(port), "-https-addr", "127.0.0.1:0"}, extra...)
		if lastErr = s.start(bin, args); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("stripe-mock: %v", lastErr)
	return nil
}

// writeFixtures reads the bundled fixtures (copied beside the binary by `make stripe-mock`),
// applies opts and writes the result into dir.
func writeFixtures(bin, dir string, opts []Option) (string, error) {
	src := filepath.Join(filepath.Dir(bin), "fixtures3.json")
	raw, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("%w (run `make stripe-mock`, which copies stripe-mock's bundled fixtures there)", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", fmt.Errorf("%s: %w", src, err)
	}
	resources, _ := doc["resources"].(map[string]any)
	if resources == nil {
		return "", fmt.Errorf("%s: no resources", src)
	}
	for _, o := range opts {
		o(resources)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "fixtures.json")
	return path, os.WriteFile(path, out, 0o600)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start(bin string, args []string) error {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited at start: %s", s.out.String())
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/v1/customers/cus_ready", nil)
		req.SetBasicAuth(Key, "")
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-exited
	return fmt.Errorf("did not answer within 30s: %s", s.out.String())
}

// Stop kills the server.
func (s *Server) Stop() {
	s.once.Do(func() {
		if s.cmd != nil {
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// Log is what the server printed.
func (s *Server) Log() string { return s.out.String() }
