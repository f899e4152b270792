// Package mailpittest runs a real SMTP server, Mailpit, for tests, and reads what it received
// through Mailpit's HTTP API.
//
// The Mailpit binary is found through the environment variable TENANTPOOL_MAILPIT (the Makefile
// exports it and builds the binary with `make mailpit`), else in
// $HOME/.cache/tenantpool/mailpit-*/mailpit. Without a binary the test is skipped, or fails when
// POOL_TEST_REQUIRE_ALL=1 (as in CI).
package mailpittest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/internal/testtool"
)

// Server is one Mailpit process listening on loopback ports.
type Server struct {
	SMTPHost string // 127.0.0.1
	SMTPPort int
	HTTPURL  string // http://127.0.0.1:port, the API base

	bin  string
	args []string
	http *http.Client

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil while stopped
	exited chan struct{} // closed when cmd has exited
	out    *testtool.SyncBuffer
}

// Binary returns the path of the Mailpit binary, or "" if there is none.
func Binary() string { return testtool.Find("TENANTPOOL_MAILPIT", "mailpit") }

// Start runs Mailpit on free loopback ports with a database in t.TempDir(), waits until both its
// SMTP and HTTP ports answer, and stops it in t.Cleanup. SMTP accepts any login (also over
// plain connections unless extraArgs require TLS) and Mailpit's chaos API is enabled (see SetChaos). extraArgs are appended
// to Mailpit's command line, e.g. "--smtp-allowed-recipients", "@example\\.test$".
func Start(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "mailpit binary not found: run `make mailpit` or set TENANTPOOL_MAILPIT"
		if p := os.Getenv("TENANTPOOL_MAILPIT"); p != "" {
			msg = "mailpit binary " + p + " (TENANTPOOL_MAILPIT) not found: run `make mailpit`"
		}
		if os.Getenv("POOL_TEST_REQUIRE_ALL") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	var lastErr error
	for range 3 { // a free port can be taken by someone else between probing and binding
		ports, err := freePorts(2)
		if err != nil {
			t.Fatalf("mailpit: %v", err)
		}
		s := &Server{
			SMTPHost: "127.0.0.1",
			SMTPPort: ports[0],
			HTTPURL:  "http://127.0.0.1:" + strconv.Itoa(ports[1]),
			bin:      bin,
			http:     &http.Client{Timeout: 10 * time.Second},
		}
		s.args = []string{
			"--smtp", net.JoinHostPort(s.SMTPHost, strconv.Itoa(ports[0])),
			"--listen", "127.0.0.1:" + strconv.Itoa(ports[1]),
			"--database", filepath.Join(dir, "mailpit.db"),
			"--smtp-auth-accept-any",
			"--enable-chaos", "--disable-version-check", "--smtp-disable-rdns", "--quiet",
		}
		// Mailpit refuses to allow PLAIN/LOGIN without TLS when TLS is required anyway.
		if !slices.Contains(extraArgs, "--smtp-require-starttls") && !slices.Contains(extraArgs, "--smtp-require-tls") {
			s.args = append(s.args, "--smtp-auth-allow-insecure")
		}
		s.args = append(s.args, extraArgs...)
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("mailpit: %v", lastErr)
	return nil
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	out := &testtool.SyncBuffer{}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if s.ready() {
			s.cmd, s.exited, s.out = cmd, exited, out
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("mailpit exited before it was ready: %s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("mailpit not ready after 30s: %s", out.String())
		}
	}
}

// ready reports whether the HTTP API says ready and the SMTP port accepts connections.
func (s *Server) ready() bool {
	resp, err := s.http.Get(s.HTTPURL + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(s.SMTPHost, strconv.Itoa(s.SMTPPort)), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Stop terminates Mailpit (SIGTERM, then SIGKILL after 10s) and waits for it. Its database
// stays, so Restart brings back the stored messages. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Restart starts a stopped server again on the same ports and database.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	var err error
	for range 50 { // the old process may hold the ports for a moment
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("mailpit restart: %v", err)
}

// Address is an e-mail address as Mailpit reports it.
type Address struct {
	Name    string
	Address string
}

// Message is a received e-mail as Mailpit's API returns it (GET /api/v1/message/{ID}).
type Message struct {
	ID        string // Mailpit's database id
	MessageID string // the Message-ID header, without angle brackets
	From      Address
	To        []Address
	Subject   string
	Text      string
	HTML      string
}

// Messages returns every received message, newest first, with its text and HTML parts.
func (s *Server) Messages(t testing.TB) []Message {
	t.Helper()
	return s.list(t, "/api/v1/messages?limit=1000")
}

// Search returns the messages matching a Mailpit search query (e.g. `to:"ada@example.test"`,
// `subject:"ready"`, `message-id:"…"`), newest first.
func (s *Server) Search(t testing.TB, query string) []Message {
	t.Helper()
	return s.list(t, "/api/v1/search?limit=1000&query="+url.QueryEscape(query))
}

func (s *Server) list(t testing.TB, path string) []Message {
	t.Helper()
	var summary struct {
		Messages []struct{ ID string } `json:"messages"`
	}
	if err := s.getJSON(path, &summary); err != nil {
		t.Fatalf("mailpit: %v", err)
	}
	var msgs []Message
	for _, m := range summary.Messages {
		var full Message
		if err := s.getJSON("/api/v1/message/"+url.PathEscape(m.ID), &full); err != nil {
			t.Fatalf("mailpit: %v", err)
		}
		msgs = append(msgs, full)
	}
	return msgs
}

// Chaos makes Mailpit's SMTP server fail on purpose: each trigger answers with ErrorCode at
// the given Probability (0–100 %). ErrorCode 0 means Mailpit's default (451 for sender and
// recipient, 535 for authentication).
type Chaos struct {
	Sender         ChaosTrigger
	Recipient      ChaosTrigger
	Authentication ChaosTrigger
}

// ChaosTrigger is one Chaos trigger.
type ChaosTrigger struct {
	ErrorCode   int
	Probability int
}

// SetChaos sets Mailpit's chaos triggers (PUT /api/v1/chaos); Chaos{} switches them off.
func (s *Server) SetChaos(t testing.TB, c Chaos) {
	t.Helper()
	body, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPut, s.HTTPURL+"/api/v1/chaos", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("mailpit chaos: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("mailpit chaos: %s: %s", resp.Status, b)
	}
}

func (s *Server) getJSON(path string, v any) error {
	resp, err := s.http.Get(s.HTTPURL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// Log returns what Mailpit printed so far (for failure messages).
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}
