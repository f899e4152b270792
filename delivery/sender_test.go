package delivery_test

import (
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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/delivery/mailpittest"
)

// smtpPassword is fake; Mailpit accepts any login.
const smtpPassword = "FAKE-smtp-secret-0000"

func newSender(t *testing.T, srv *mailpittest.Server, edit func(*delivery.Config)) *delivery.Sender {
	t.Helper()
	cfg := delivery.Config{
		Host:     srv.SMTPHost,
		Port:     srv.SMTPPort,
		TLS:      delivery.TLSNone,
		Username: "tenantpool",
		Password: smtpPassword,
		From:     "Axie Studio <hello@example.test>",
		Timeout:  5 * time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := delivery.NewSender(cfg, loadTemplates(t, ""))
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	return s
}

// checkNoSecrets fails if err, however it is printed, shows a password.
func checkNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, text := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, s := range append(secrets, smtpPassword, fakePassword) {
			if strings.Contains(text, s) {
				t.Errorf("error shows a secret: %s", text)
			}
		}
	}
}

func sendErr(t *testing.T, err error) *delivery.Error {
	t.Helper()
	if err == nil {
		t.Fatal("Send succeeded, want an error")
	}
	var e *delivery.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T is not a *delivery.Error: %v", err, err)
	}
	checkNoSecrets(t, err)
	t.Logf("error: %v", err)
	return e
}

func TestSendThroughMailpit(t *testing.T) {
	srv := mailpittest.Start(t)
	s := newSender(t, srv, nil)
	msg := goldenCases()["credentials_upsell_escaped"]
	if err := s.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	want, err := loadTemplates(t, "").Render(msg)
	if err != nil {
		t.Fatal(err)
	}

	got := srv.Messages(t)
	if len(got) != 1 {
		t.Fatalf("mailpit holds %d messages, want 1", len(got))
	}
	m := got[0]
	if m.Subject != want.Subject {
		t.Errorf("subject = %q, want %q", m.Subject, want.Subject)
	}
	if len(m.To) != 1 || m.To[0].Address != msg.CustomerEmail || m.To[0].Name != msg.CustomerName {
		t.Errorf("to = %+v, want %q <%s>", m.To, msg.CustomerName, msg.CustomerEmail)
	}
	if m.From.Address != "hello@example.test" || m.From.Name != "Axie Studio" {
		t.Errorf("from = %+v", m.From)
	}
	if wantID := msg.MessageID(msg.From); m.MessageID != wantID {
		t.Errorf("Message-ID = %q, want %q", m.MessageID, wantID)
	}
	// Mailpit decodes the transfer encoding; line endings may come back as CRLF.
	if text := strings.ReplaceAll(m.Text, "\r\n", "\n"); strings.TrimSpace(text) != strings.TrimSpace(want.Text) {
		t.Errorf("text part differs\n--- got ---\n%s\n--- want ---\n%s", text, want.Text)
	}
	if html := strings.ReplaceAll(m.HTML, "\r\n", "\n"); strings.TrimSpace(html) != strings.TrimSpace(want.HTML) {
		t.Errorf("HTML part differs\n--- got ---\n%s\n--- want ---\n%s", html, want.HTML)
	}
}

func TestSendPaymentFailedNotice(t *testing.T) {
	srv := mailpittest.Start(t)
	msg := goldenCases()["payment_failed"]
	if err := newSender(t, srv, nil).Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Search(t, "message-id:"+msg.MessageID("hello@example.test"))
	if len(got) != 1 {
		t.Fatalf("found %d payment-failed notices, want 1 (all: %+v)", len(got), srv.Messages(t))
	}
	if !strings.Contains(got[0].Subject, "payment failed") || !strings.Contains(got[0].HTML, msg.BillingURL) {
		t.Errorf("unexpected notice: subject %q, HTML:\n%s", got[0].Subject, got[0].HTML)
	}
}

// A resend after a crash (new Sender, same order) carries the same Message-ID, so the receiving
// side can recognise it; Mailpit with --ignore-duplicate-ids drops it like such a receiver.
func TestResendHasSameMessageID(t *testing.T) {
	srv := mailpittest.Start(t, "--ignore-duplicate-ids")
	msg := credentials()
	for i := range 2 {
		if err := newSender(t, srv, nil).Send(context.Background(), msg); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	other := credentials()
	other.OrderID = "cs_test_order_0002"
	if err := newSender(t, srv, nil).Send(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if got := srv.Messages(t); len(got) != 2 {
		t.Errorf("mailpit kept %d messages, want 2 (one per order): %+v", len(got), got)
	}
}

func TestSendWhileServerDownIsTemporary(t *testing.T) {
	srv := mailpittest.Start(t)
	s := newSender(t, srv, nil)
	msg := credentials()

	srv.Stop()
	e := sendErr(t, s.Send(context.Background(), msg))
	if delivery.IsPermanent(e) || e.Permanent {
		t.Errorf("connection refused classified permanent: %v", e)
	}
	if e.Code != 0 || e.OrderID != msg.OrderID || e.Kind != delivery.KindCredentials {
		t.Errorf("error fields = %+v", e)
	}

	srv.Restart(t)
	if err := s.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send after restart: %v", err)
	}
	if got := srv.Messages(t); len(got) != 1 {
		t.Errorf("mailpit holds %d messages, want 1", len(got))
	}
}

func TestSendClassifiesServerReplies(t *testing.T) {
	for _, c := range []struct {
		name      string
		chaos     mailpittest.Chaos
		wantCode  int
		permanent bool
	}{
		{"4xx to RCPT TO", mailpittest.Chaos{Recipient: mailpittest.ChaosTrigger{ErrorCode: 451, Probability: 100}}, 451, false},
		{"4xx to MAIL FROM", mailpittest.Chaos{Sender: mailpittest.ChaosTrigger{ErrorCode: 421, Probability: 100}}, 421, false},
		{"5xx to RCPT TO", mailpittest.Chaos{Recipient: mailpittest.ChaosTrigger{ErrorCode: 550, Probability: 100}}, 550, true},
		{"5xx to MAIL FROM", mailpittest.Chaos{Sender: mailpittest.ChaosTrigger{ErrorCode: 553, Probability: 100}}, 553, true},
		// Bad SMTP credentials are the operator's to fix; the queued e-mails must survive that.
		{"auth refused", mailpittest.Chaos{Authentication: mailpittest.ChaosTrigger{ErrorCode: 535, Probability: 100}}, 535, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := mailpittest.Start(t)
			s := newSender(t, srv, nil)
			srv.SetChaos(t, c.chaos)
			e := sendErr(t, s.Send(context.Background(), credentials()))
			if e.Code != c.wantCode || e.Permanent != c.permanent || delivery.IsPermanent(e) != c.permanent {
				t.Errorf("got code %d permanent %v, want %d %v: %v", e.Code, e.Permanent, c.wantCode, c.permanent, e)
			}
			if !c.permanent {
				srv.SetChaos(t, mailpittest.Chaos{})
				if err := s.Send(context.Background(), credentials()); err != nil {
					t.Errorf("retry after the fault cleared: %v", err)
				}
			}
			if got, want := len(srv.Messages(t)), map[bool]int{true: 0, false: 1}[c.permanent]; got != want {
				t.Errorf("mailpit holds %d messages, want %d", got, want)
			}
		})
	}
}

func TestSendRecipientRejectedIsPermanent(t *testing.T) {
	srv := mailpittest.Start(t, "--smtp-allowed-recipients", `@example\.test$`)
	msg := credentials()
	msg.CustomerEmail = "someone@elsewhere.invalid"
	e := sendErr(t, newSender(t, srv, nil).Send(context.Background(), msg))
	if !e.Permanent || e.Code != 550 {
		t.Errorf("got code %d permanent %v, want 550 true: %v", e.Code, e.Permanent, e)
	}
}

func TestSendInvalidMessageIsPermanent(t *testing.T) {
	srv := mailpittest.Start(t)
	s := newSender(t, srv, nil)
	for name, edit := range map[string]func(*delivery.Message){
		"bad address":  func(m *delivery.Message) { m.CustomerEmail = "not an address" },
		"no password":  func(m *delivery.Message) { m.Password = "" },
		"no order":     func(m *delivery.Message) { m.OrderID = "" },
		"unknown kind": func(m *delivery.Message) { m.Kind = "welcome" },
		"bad from":     func(m *delivery.Message) { m.From = "@@" },
	} {
		t.Run(name, func(t *testing.T) {
			msg := credentials()
			edit(&msg)
			if e := sendErr(t, s.Send(context.Background(), msg)); !e.Permanent || !delivery.IsPermanent(e) {
				t.Errorf("invalid message classified temporary: %v", e)
			}
		})
	}
	if got := srv.Messages(t); len(got) != 0 {
		t.Errorf("mailpit holds %d messages, want none", len(got))
	}
}

func TestSendUsesConfiguredFrom(t *testing.T) {
	srv := mailpittest.Start(t)
	msg := credentials()
	msg.From = ""
	if err := newSender(t, srv, func(c *delivery.Config) { c.From = "Pool <pool@example.test>" }).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages(t)
	if len(got) != 1 || got[0].From.Address != "pool@example.test" {
		t.Fatalf("messages = %+v", got)
	}
	if want := msg.MessageID("pool@example.test"); got[0].MessageID != want {
		t.Errorf("Message-ID = %q, want %q", got[0].MessageID, want)
	}

	e := sendErr(t, newSender(t, srv, func(c *delivery.Config) { c.From = "" }).Send(context.Background(), msg))
	if !e.Permanent {
		t.Errorf("missing from address classified temporary: %v", e)
	}
}

func TestSendConcurrently(t *testing.T) {
	srv := mailpittest.Start(t)
	s := newSender(t, srv, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			msg := credentials()
			msg.OrderID = fmt.Sprintf("cs_test_concurrent_%d", i)
			errs <- s.Send(context.Background(), msg)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := srv.Messages(t); len(got) != 8 {
		t.Errorf("mailpit holds %d messages, want 8", len(got))
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key to dir and returns their paths and
// a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

func TestSendTLSModes(t *testing.T) {
	certFile, keyFile, roots := selfSigned(t)
	trust := func(mode delivery.TLSMode) func(*delivery.Config) {
		return func(c *delivery.Config) {
			c.TLS = mode
			c.TLSConfig = &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
		}
	}
	t.Run("starttls", func(t *testing.T) {
		srv := mailpittest.Start(t, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-require-starttls")
		if err := newSender(t, srv, trust(delivery.TLSStartTLS)).Send(context.Background(), credentials()); err != nil {
			t.Fatalf("Send: %v", err)
		}
		// Without STARTTLS the server refuses: a configuration fault, so temporary.
		e := sendErr(t, newSender(t, srv, trust(delivery.TLSNone)).Send(context.Background(), credentials()))
		if e.Permanent {
			t.Errorf("STARTTLS required classified permanent: %v", e)
		}
		if got := srv.Messages(t); len(got) != 1 {
			t.Errorf("mailpit holds %d messages, want 1", len(got))
		}
	})
	t.Run("tls", func(t *testing.T) {
		srv := mailpittest.Start(t, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-require-tls")
		if err := newSender(t, srv, trust(delivery.TLSImplicit)).Send(context.Background(), credentials()); err != nil {
			t.Fatalf("Send: %v", err)
		}
		// An untrusted certificate fails the attempt without delivering.
		e := sendErr(t, newSender(t, srv, func(c *delivery.Config) { c.TLS = delivery.TLSImplicit }).Send(context.Background(), credentials()))
		if e.Permanent {
			t.Errorf("TLS failure classified permanent: %v", e)
		}
		if got := srv.Messages(t); len(got) != 1 {
			t.Errorf("mailpit holds %d messages, want 1", len(got))
		}
	})
}

func TestSendCancelledIsTemporary(t *testing.T) {
	srv := mailpittest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := sendErr(t, newSender(t, srv, nil).Send(ctx, credentials()))
	if e.Permanent || !errors.Is(e, context.Canceled) {
		t.Errorf("cancelled send: permanent %v, is context.Canceled %v: %v", e.Permanent, errors.Is(e, context.Canceled), e)
	}
}

// proxy forwards TCP connections to target and counts them: how many SMTP sessions a Sender
// opened, and how many are open now.
func proxy(t *testing.T, target string) (port int, sessions, open func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	n, live := 0, 0
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n, live = n+1, live+1
			mu.Unlock()
			go func() {
				defer func() {
					mu.Lock()
					live--
					mu.Unlock()
				}()
				defer in.Close()
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(out, in); done <- struct{}{} }()
				go func() { io.Copy(in, out); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, func() int {
			mu.Lock()
			defer mu.Unlock()
			return n
		}, func() int {
			mu.Lock()
			defer mu.Unlock()
			return live
		}
}

func sendN(t *testing.T, s *delivery.Sender, prefix string, n int) {
	t.Helper()
	for i := range n {
		msg := credentials()
		msg.OrderID = fmt.Sprintf("cs_test_%s_%d", prefix, i)
		if err := s.Send(context.Background(), msg); err != nil {
			t.Fatalf("send %s %d: %v", prefix, i, err)
		}
	}
}

// One SMTP session (greeting, EHLO, AUTH) carries many e-mails; concurrent sends open a session
// each and leave them for the next ones.
func TestSendKeepsConnections(t *testing.T) {
	srv := mailpittest.Start(t)
	port, sessions, _ := proxy(t, net.JoinHostPort(srv.SMTPHost, fmt.Sprint(srv.SMTPPort)))
	s := newSender(t, srv, func(c *delivery.Config) { c.Port = port })
	t.Cleanup(func() { s.Close() })
	sendN(t, s, "seq", 5)
	if got := sessions(); got != 1 {
		t.Fatalf("5 e-mails in a row opened %d SMTP sessions, want 1", got)
	}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			msg := credentials()
			msg.OrderID = fmt.Sprintf("cs_test_par_%d", i)
			if err := s.Send(context.Background(), msg); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	opened := sessions()
	if opened > 6 {
		t.Fatalf("6 concurrent e-mails opened %d sessions in all, want at most 6", opened)
	}
	sendN(t, s, "after", 4)
	if got := sessions(); got != opened {
		t.Errorf("e-mails after the concurrent ones opened %d more sessions, want 0 (kept ones)", got-opened)
	}
	if got := len(srv.Messages(t)); got != 15 {
		t.Errorf("mailpit holds %d messages, want 15", got)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	sendN(t, s, "closed", 1) // a closed Sender still sends, on a session of its own
}

// A kept session the server dropped (here: the server restarted) is replaced without an error
// and without a lost or doubled e-mail.
func TestSendReplacesDroppedConnection(t *testing.T) {
	srv := mailpittest.Start(t)
	s := newSender(t, srv, nil)
	t.Cleanup(func() { s.Close() })
	sendN(t, s, "before", 1)
	srv.Restart(t)
	sendN(t, s, "after", 1)
	after := credentials()
	after.OrderID = "cs_test_after_0"
	if got := srv.Search(t, `message-id:"`+after.MessageID(after.From)+`"`); len(got) != 1 {
		t.Errorf("the e-mail after the restart is there %d times, want 1", len(got))
	}
}

// A session idle for IdleTimeout is closed and not used again; a negative IdleTimeout keeps none.
func TestSendIdleTimeout(t *testing.T) {
	srv := mailpittest.Start(t)
	port, sessions, open := proxy(t, net.JoinHostPort(srv.SMTPHost, fmt.Sprint(srv.SMTPPort)))
	s := newSender(t, srv, func(c *delivery.Config) { c.Port, c.IdleTimeout = port, 100*time.Millisecond })
	t.Cleanup(func() { s.Close() })
	sendN(t, s, "first", 1)
	for deadline := time.Now().Add(10 * time.Second); open() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the idle session was not closed after the idle timeout")
		}
	}
	sendN(t, s, "second", 1)
	if got := sessions(); got != 2 {
		t.Errorf("after the idle timeout: %d sessions, want 2", got)
	}
	never := newSender(t, srv, func(c *delivery.Config) { c.Port, c.IdleTimeout = port, -1 })
	sendN(t, never, "never", 3)
	if got := sessions(); got != 5 {
		t.Errorf("IdleTimeout < 0: %d sessions in all, want 5 (one per e-mail)", got)
	}
}
