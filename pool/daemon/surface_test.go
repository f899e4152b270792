package daemon_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/internal/testtool"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

const adminToken = "surface-test-admin-token-0123456789abcdef"

// startDaemon runs a daemon without provisioning on SQLite, with the Stripe webhook and the
// admin API on, both listeners on free loopback ports; change adjusts its Config.
func startDaemon(t *testing.T, change func(*daemon.Config)) *daemon.Daemon {
	t.Helper()
	tmpl, err := delivery.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testtool.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	cfg := daemon.Config{
		Store:   store.Options{DataDir: t.TempDir(), Key: storetest.Key},
		Tiers:   pool.Tiers{"basic": {Name: "basic", MinReady: 0, MaxTotal: 10, MaxInFlight: 1}},
		Prefix:  "client",
		Tenants: func(context.Context, *store.Store) (pool.Tenants, error) { return nil, daemon.ErrNotConfigured },
		Listen:  "127.0.0.1:0", AdminListen: "127.0.0.1:0", ReconcileSchedule: "@every 1h", StuckTimeout: time.Hour,
		// A loaded machine may take a while to see the last connections go idle.
		ProvisionConcurrency: 1, HardFailureLimit: 10, ShutdownTimeout: 30 * time.Second,
		Probe:       daemon.Probe{Schedule: "off"},
		Orders:      &daemon.Orders{Secrets: []string{"whsec_surface_test"}},
		Mail:        &daemon.Mail{SMTP: delivery.Config{Host: "127.0.0.1", Port: 1, TLS: delivery.TLSNone, From: "pool@example.test"}, Templates: tmpl},
		AdminTokens: []string{adminToken},
		Log:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if change != nil {
		change(&cfg)
	}
	d, err := daemon.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return d
}

func status(t *testing.T, c *http.Client, method, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// The public listener serves the Stripe webhook and nothing of the operator's (admin API,
// metrics, readiness), even with a valid token; the admin listener serves those and not the
// webhook.
func TestListenersServeOnlyTheirRoutes(t *testing.T) {
	d := startDaemon(t, nil)
	pub, adm := "http://"+d.PublicAddr().String(), "http://"+d.AdminAddr().String()
	c := http.DefaultClient
	for _, tc := range []struct {
		name, method, url string
		want              int
	}{
		// The webhook is mounted publicly: an unsigned event is refused by it (400), not 404.
		{"public webhook", "POST", pub + "/webhooks/stripe", http.StatusBadRequest},
		{"public healthz", "GET", pub + "/healthz", http.StatusOK},
		{"public admin API", "GET", pub + "/admin/v1/status", http.StatusNotFound},
		{"public admin claim", "POST", pub + "/admin/v1/claim", http.StatusNotFound},
		{"public metrics", "GET", pub + "/metrics", http.StatusNotFound},
		{"public readyz", "GET", pub + "/readyz", http.StatusNotFound},
		{"admin webhook", "POST", adm + "/webhooks/stripe", http.StatusNotFound},
		{"admin API", "GET", adm + "/admin/v1/status", http.StatusOK},
		{"admin metrics", "GET", adm + "/metrics", http.StatusOK},
		{"admin readyz", "GET", adm + "/readyz", http.StatusOK},
		{"admin healthz", "GET", adm + "/healthz", http.StatusOK},
	} {
		if got := status(t, c, tc.method, tc.url, adminToken); got != tc.want {
			t.Errorf("%s: %s %s = %d, want %d", tc.name, tc.method, tc.url, got, tc.want)
		}
	}
}

// closedByPeer reports whether err is the server closing the connection (EOF or a reset), not
// the client's own deadline.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// A client that sends its headers and then trickles its body a byte at a time is cut off by
// the read timeout, long before its body is complete.
func TestSlowBodyIsCutOff(t *testing.T) {
	d := startDaemon(t, func(c *daemon.Config) { c.HTTP.ReadTimeout = 500 * time.Millisecond })
	for _, tc := range []struct{ name, addr, path, auth string }{
		{"public webhook", d.PublicAddr().String(), "/webhooks/stripe", ""},
		{"admin API", d.AdminAddr().String(), "/admin/v1/accounts/batch", "Authorization: Bearer " + adminToken + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			const bodyLen = 100_000
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: poold\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", tc.path, tc.auth, bodyLen)
			sent := make(chan int, 1)
			go func() { // one byte every 20 ms: 100,000 bytes would take half an hour
				n := 1
				for ; n < bodyLen; n++ {
					if _, err := conn.Write([]byte(" ")); err != nil {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				sent <- n
			}()
			conn.SetReadDeadline(time.Now().Add(2 * time.Minute)) // only a safety net
			_, err = io.Copy(io.Discard, conn)                    // a response, if any, then the close
			if err != nil && !closedByPeer(err) {
				t.Fatalf("the connection was not closed by the server: %v", err)
			}
			if n := <-sent; n >= bodyLen {
				t.Fatalf("the whole body (%d bytes) got through", n)
			}
		})
	}
}

// An idle keep-alive connection is closed by the server after its request was answered.
func TestIdleKeepAliveIsClosed(t *testing.T) {
	d := startDaemon(t, func(c *daemon.Config) { c.HTTP.IdleTimeout = 300 * time.Millisecond })
	for _, addr := range []string{d.PublicAddr().String(), d.AdminAddr().String()} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: poold\r\n\r\n")
		r := bufio.NewReader(conn)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("%s: %d, close=%v: want a 200 on a kept-alive connection", addr, resp.StatusCode, resp.Close)
		}
		conn.SetReadDeadline(time.Now().Add(2 * time.Minute)) // only a safety net
		if _, err := r.ReadByte(); !closedByPeer(err) {
			t.Fatalf("%s: idle connection: read = %v, want it closed by the server", addr, err)
		}
		conn.Close()
	}
}

// Headers beyond MaxHeaderBytes get 431, bodies beyond MaxBody 413, on either listener.
func TestHeaderAndBodyLimits(t *testing.T) {
	d := startDaemon(t, func(c *daemon.Config) { c.HTTP.MaxHeaderBytes, c.HTTP.MaxBody = 4<<10, 1<<10 })
	req, _ := http.NewRequest("GET", "http://"+d.PublicAddr().String()+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("16 KiB header: %d, want 431", resp.StatusCode)
	}
	body := `{"count":1,"tier":"basic","prefix":"` + strings.Repeat("x", 2<<10) + `"}`
	req, _ = http.NewRequest("POST", "http://"+d.AdminAddr().String()+"/admin/v1/accounts/batch", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("2 KiB body over a 1 KiB limit: %d, want 413", resp.StatusCode)
	}
}

// writeCert writes a fresh self-signed certificate for 127.0.0.1 to cert and key and returns it.
func writeCert(t *testing.T, certPath, keyPath string, serial int64) *x509.Certificate {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "poold test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	// Written beside and renamed into place, as a certificate renewal does.
	for path, block := range map[string]*pem.Block{certPath: {Type: "CERTIFICATE", Bytes: der}, keyPath: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path+".new", pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Both listeners serve TLS from their files, and a renewed certificate is served without a
// restart.
func TestTLSListenersReloadTheirCertificate(t *testing.T) {
	dir := t.TempDir()
	pubFiles := daemon.TLSFiles{Cert: filepath.Join(dir, "pub.crt"), Key: filepath.Join(dir, "pub.key")}
	admFiles := daemon.TLSFiles{Cert: filepath.Join(dir, "adm.crt"), Key: filepath.Join(dir, "adm.key")}
	pubCert := writeCert(t, pubFiles.Cert, pubFiles.Key, 1)
	admCert := writeCert(t, admFiles.Cert, admFiles.Key, 2)
	d := startDaemon(t, func(c *daemon.Config) { c.TLS, c.AdminTLS = pubFiles, admFiles })

	client := func(trust ...*x509.Certificate) *http.Client {
		roots := x509.NewCertPool()
		for _, c := range trust {
			roots.AddCert(c)
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true}}
	}
	served := func(c *http.Client, url string) (*big.Int, error) {
		resp, err := c.Get(url)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: %d", url, resp.StatusCode)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber, nil
	}
	pub, adm := "https://"+d.PublicAddr().String()+"/healthz", "https://"+d.AdminAddr().String()+"/readyz"
	if sn, err := served(client(pubCert), pub); err != nil || sn.Int64() != 1 {
		t.Fatalf("public TLS: serial %v, %v", sn, err)
	}
	if sn, err := served(client(admCert), adm); err != nil || sn.Int64() != 2 {
		t.Fatalf("admin TLS: serial %v, %v", sn, err)
	}
	// Plain HTTP gets Go's fixed 400 ("an HTTP request to an HTTPS server"), never the route.
	if resp, err := http.Get("http://" + d.PublicAddr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served on a TLS listener")
		}
	}

	renewed := writeCert(t, pubFiles.Cert, pubFiles.Key, 3)
	c := client(pubCert, renewed)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		sn, err := served(c, pub)
		if err == nil && sn.Int64() == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate was never served: serial %v, %v", sn, err)
		}
	}
}
