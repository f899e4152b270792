package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/delivery/mailpittest"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// ackEater is a TCP proxy in front of an SMTP server that passes everything through until the
// client has sent a message's end of data ("\r\n.\r\n"), and then drops what the server
// answers: the server accepts (and stores) the e-mail, the client never hears it did.
type ackEater struct {
	ln     net.Listener
	target string
	passed atomic.Bool // a message's data went through
}

func newAckEater(t *testing.T, target string) *ackEater {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &ackEater{ln: ln, target: target}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(c) })
		}
	})
	return p
}

func (p *ackEater) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *ackEater) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	var eaten atomic.Bool
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := server.Read(buf)
			if n > 0 && !eaten.Load() {
				client.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	var tail []byte
	buf := make([]byte, 4096)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			seen := append(tail, buf[:n]...)
			if bytes.Contains(seen, []byte("\r\n.\r\n")) {
				eaten.Store(true) // before the server can answer the end of data
				p.passed.Store(true)
			}
			tail = append([]byte(nil), seen[max(0, len(seen)-4):]...)
			server.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

var mailedPassword = regexp.MustCompile(`Password:\s+(\S+)`)

// TestKilledAfterSMTPAcceptResendsTheSamePassword SIGKILLs a daemon after the SMTP server
// accepted a credentials e-mail and before the daemon recorded it. The restarted daemon sends
// it again: the same Message-ID and the same password, which logs in at the tenant.
func TestKilledAfterSMTPAcceptResendsTheSamePassword(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real daemon processes")
	}
	ctx := context.Background()
	mp := mailpittest.Start(t)
	eater := newAckEater(t, net.JoinHostPort(mp.SMTPHost, strconv.Itoa(mp.SMTPPort)))
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "poold.yaml")
	os.WriteFile(cfg, []byte("tiers:\n  - {name: basic, min_ready: 1, max_total: 1, max_in_flight: 1, memory_mb: 512, cpus: 1}\n"), 0o600)

	// One ready account whose tenant is a Langflow double, with its customer login made.
	s := storetest.OpenSQLite(t, data, nil)
	as, err := s.CreateAccounts(ctx, "basic", "client", 1)
	if err != nil {
		t.Fatal(err)
	}
	a := as[0]
	lf := langflowtest.NewServer(t, langflowtest.Options{Superuser: a.OperatorUser, SuperuserPassword: a.OperatorPassword})
	uid, err := langflow.NewGate(langflow.GateOptions{}).EnsureCustomer(ctx, lf.URL,
		langflow.Credentials{Username: a.OperatorUser, Password: a.OperatorPassword},
		langflow.Credentials{Username: a.CustomerUser, Password: a.CustomerPassword})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkReady(ctx, a.ID, pool.Provisioned{Host: "local", URL: lf.URL, CustomerUserID: uid}); err != nil {
		t.Fatal(err)
	}

	env := func(smtpPort int) []string {
		return []string{"POOL_DATA_DIR=" + data, "POOL_CONFIG=" + cfg, "POOL_LOG_FORMAT=json",
			"POOL_SECRET_KEY=" + base64.StdEncoding.EncodeToString(storetest.Key), "TESTPOOLD_LANGFLOW_ROTATE=1",
			"POOL_STRIPE_WEBHOOK_SECRET=" + whsec, "POOL_SMTP_HOST=127.0.0.1", "POOL_SMTP_PORT=" + strconv.Itoa(smtpPort),
			"POOL_SMTP_TLS=none", "POOL_SMTP_FROM=Pool <pool@example.test>"}
	}
	d := startDaemon(t, env(eater.port()))
	if !postWebhook(d.addr, paidEvent(900)) {
		t.Fatalf("order not acknowledged:\n%s", d.logs.String())
	}
	to := "cs_crash_900@example.test"
	mails := func() []mailpittest.Message {
		var out []mailpittest.Message
		for _, m := range mp.Messages(t) {
			if len(m.To) == 1 && m.To[0].Address == to {
				out = append(out, m)
			}
		}
		return out
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s:\n%s", what, d.logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("Mailpit to accept the e-mail", func() bool { return eater.passed.Load() && len(mails()) == 1 })
	d.kill() // the daemon still waits for the server's answer: the e-mail is not recorded
	if o, err := s.GetOrder(ctx, "cs_crash_900"); err != nil || o.State != store.OrderClaimed {
		t.Fatalf("order after the kill: %+v, %v (want claimed: the e-mail unrecorded)", o, err)
	}

	d = startDaemon(t, env(mp.SMTPPort))
	waitFor("the re-sent e-mail", func() bool { return len(mails()) == 2 })
	waitFor("the order delivered", func() bool {
		o, err := s.GetOrder(ctx, "cs_crash_900")
		return err == nil && o.State == store.OrderDelivered
	})
	ms := mails()
	if ms[0].MessageID != ms[1].MessageID {
		t.Errorf("the re-send has another Message-ID: %s, %s", ms[0].MessageID, ms[1].MessageID)
	}
	var pws []string
	for _, m := range ms {
		got := mailedPassword.FindStringSubmatch(m.Text)
		if got == nil {
			t.Fatalf("no password in the e-mail:\n%s", m.Text)
		}
		pws = append(pws, got[1])
	}
	if pws[0] != pws[1] {
		t.Fatal("the re-sent e-mail carries another password than the one the server accepted first")
	}
	c, err := langflow.New(lf.URL, langflow.Options{RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, a.CustomerUser, pws[0]); err != nil {
		t.Fatalf("the mailed password does not log in at the tenant: %v", err)
	}
	if _, err := c.Login(ctx, a.CustomerUser, a.CustomerPassword); err == nil {
		t.Fatal("the pool's password still logs in")
	}
}

// TestReplicaDeathRescuesDeliveryAtOnce runs two real daemons on one PostgreSQL. The one that
// holds a paid order's delivery job hangs in its SMTP send and is SIGKILLed; the other replica
// sees its heartbeat stop, rescues the job and e-mails the customer — within the heartbeat's
// dead-after, not the 3 (short jobs) or 20 minutes (river) of the rescue thresholds.
func TestReplicaDeathRescuesDeliveryAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real daemon processes")
	}
	ctx := context.Background()
	dbURL := storetest.SchemaURL(t, storetest.RequirePostgres(t))
	mp := mailpittest.Start(t)
	// An SMTP server that accepts connections and never answers: the send hangs.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		hole.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "poold.yaml")
	os.WriteFile(cfg, []byte("tiers:\n  - {name: basic, min_ready: 1, max_total: 1, max_in_flight: 1, memory_mb: 512, cpus: 1}\n"), 0o600)
	s, err := store.Open(ctx, store.Options{DatabaseURL: dbURL, Key: storetest.Key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	as, err := s.CreateAccounts(ctx, "basic", "client", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkReady(ctx, as[0].ID, pool.Provisioned{Host: "local", URL: "https://client01.example.test", CustomerUserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	env := func(i, smtpPort int) []string {
		return []string{"POOL_DATABASE_URL=" + dbURL, "POOL_DATA_DIR=" + filepath.Join(dir, fmt.Sprint("replica", i)),
			"POOL_CONFIG=" + cfg, "POOL_SECRET_KEY=" + base64.StdEncoding.EncodeToString(storetest.Key), "POOL_LOG_FORMAT=json",
			"POOL_STRIPE_WEBHOOK_SECRET=" + whsec, "POOL_SMTP_HOST=127.0.0.1", "POOL_SMTP_PORT=" + strconv.Itoa(smtpPort),
			"POOL_SMTP_TLS=none", "POOL_SMTP_FROM=Pool <pool@example.test>"}
	}
	holder := startDaemon(t, env(0, hole.Addr().(*net.TCPAddr).Port))
	if !postWebhook(holder.addr, paidEvent(901)) {
		t.Fatalf("order not acknowledged:\n%s", holder.logs.String())
	}
	query := func(q string) string {
		var v string
		if err := s.DB().QueryRow(q).Scan(&v); err != nil {
			return ""
		}
		return v
	}
	deadline := time.Now().Add(60 * time.Second)
	for query(`SELECT state FROM river_job WHERE kind = 'order_deliver'`) != "running" {
		if time.Now().After(deadline) {
			t.Fatalf("the delivery job never ran on the first replica:\n%s", holder.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	other := startDaemon(t, env(1, mp.SMTPPort))
	holder.kill()
	killed := time.Now()
	to := "cs_crash_901@example.test"
	deadline = killed.Add(2 * time.Minute) // well before the 3-minute short rescue, let alone river's 20
	for {
		if ms := mp.Messages(t); len(ms) == 1 && ms[0].To[0].Address == to {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no e-mail 2 minutes after the replica died:\n%s", other.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(killed)
	if errs := query(`SELECT errors::text FROM river_job WHERE kind = 'order_deliver'`); !strings.Contains(errs, "stopped its heartbeat") {
		t.Fatalf("the job was not rescued for the dead replica's heartbeat: errors %s\n%s", errs, other.logs.String())
	}
	if n := query(`SELECT array_length(attempted_by, 1)::text FROM river_job WHERE kind = 'order_deliver'`); n != "2" {
		t.Errorf("the job was attempted by %s processes, want 2 (the dead replica, then the live one)", n)
	}
	t.Logf("e-mail sent by the live replica %s after the holder was killed", took.Round(100*time.Millisecond))
}
