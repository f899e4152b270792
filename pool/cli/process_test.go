package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/axiestudio/tenantpool/delivery/mailpittest"
	"github.com/axiestudio/tenantpool/internal/testtool"
	"github.com/axiestudio/tenantpool/pool/orders/stripemocktest"
)

const whsec = "whsec_process_test"

// buildTestPoold builds the daemon with the provisioner double (once per test binary).
var buildTestPoold = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "testpoold")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "testpoold")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/axiestudio/tenantpool/pool/cli/internal/testpoold").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build testpoold: %v\n%s", err, out)
	}
	return bin, nil
})

// poold is one real poold process.
type poold struct {
	t      testing.TB
	cmd    *exec.Cmd
	addr   string // the admin listener: /readyz, the admin API
	public string // the public listener: the Stripe webhook
	logs   *testtool.SyncBuffer
	done   chan struct{}
}

func startDaemon(t testing.TB, env []string, args ...string) *poold {
	t.Helper()
	bin, err := buildTestPoold()
	if err != nil {
		t.Fatal(err)
	}
	addr, public := freePort(t), freePort(t)
	d := &poold{t: t, addr: addr, public: public, logs: &testtool.SyncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(bin, append([]string{"serve", "--listen", public, "--admin-listen", addr}, args...)...)
	d.cmd.Env = append(os.Environ(), env...)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		select {
		case <-d.done:
			t.Fatalf("daemon exited: %s", d.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready: %v\n%s", err, d.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL: no shutdown code runs, as in a crash or an OOM kill.
func (d *poold) kill() {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

func paidEvent(i int) []byte {
	sess := fmt.Sprintf("cs_crash_%03d", i)
	b, _ := json.Marshal(map[string]any{
		"id": fmt.Sprintf("evt_crash_%03d", i), "object": "event", "type": "checkout.session.completed",
		"api_version": "2025-07-30.basil", "created": time.Now().Unix(), "livemode": false,
		"data": map[string]any{"object": map[string]any{
			"id": sess, "object": "checkout.session", "payment_status": "paid", "status": "complete", "mode": "subscription",
			"customer": "cus_" + sess, "subscription": "sub_" + sess,
			"customer_details": map[string]any{"email": sess + "@example.test", "name": "Customer " + sess},
			"metadata":         map[string]any{"tier": "basic"},
		}},
	})
	return b
}

// postWebhook sends one signed event; it reports whether the daemon acknowledged it (2xx).
func postWebhook(addr string, payload []byte) bool {
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: whsec, Timestamp: time.Now()}).Header
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/stripe", bytes.NewReader(payload))
	req.Header.Set("Stripe-Signature", sig)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// TestCrashMidStreamLosesNoEmail kills the daemon with SIGKILL while orders stream in, restarts
// it, and checks that every order it acknowledged gets exactly one e-mail — and that Stripe's
// retries of everything afterwards send nothing twice.
func TestCrashMidStreamLosesNoEmail(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real daemon processes")
	}
	mp := mailpittest.Start(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "poold.yaml")
	os.WriteFile(cfg, []byte("tiers:\n  - {name: basic, min_ready: 120, max_total: 200, max_in_flight: 40, memory_mb: 512, cpus: 1, prices: {month: price_basic_month}}\n"), 0o600)
	// Every session's line items, read from the Stripe API: one basic seat, paid in full.
	api := stripemocktest.Start(t,
		stripemocktest.Fixture("checkout.session", map[string]any{"amount_subtotal": 2900, "amount_total": 2900, "currency": "usd",
			"total_details": map[string]any{"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}}),
		stripemocktest.Fixture("item", map[string]any{"quantity": 1, "currency": "usd", "amount_subtotal": 2900, "amount_total": 2900,
			"price": map[string]any{"id": "price_basic_month", "unit_amount": 2900, "currency": "usd"}}))
	env := []string{
		"POOL_DATA_DIR=" + filepath.Join(dir, "data"), "POOL_CONFIG=" + cfg, "POOL_LOG_FORMAT=json",
		"POOL_STRIPE_WEBHOOK_SECRET=" + whsec, "POOL_STRIPE_API_KEY=" + stripemocktest.Key, "POOL_STRIPE_API_URL=" + api.URL,
		"POOL_SMTP_HOST=" + mp.SMTPHost, "POOL_SMTP_PORT=" + strconv.Itoa(mp.SMTPPort),
		"POOL_SMTP_TLS=none", "POOL_SMTP_FROM=Pool <pool@example.test>",
	}
	d := startDaemon(t, env, "--reconcile-schedule", "@every 1s")
	h := &harness{t: t, dir: filepath.Join(dir, "data"), env: map[string]string{"POOL_DATA_DIR": filepath.Join(dir, "data"), "POOL_CONFIG": cfg, "POOL_LOG_FORMAT": "json"}}
	deadline := time.Now().Add(60 * time.Second)
	for len(h.list("--state", "ready")) < 120 {
		if time.Now().After(deadline) {
			t.Fatalf("pool not filled:\n%s", d.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	const orders = 100
	var (
		mu    sync.Mutex
		acked = map[int]bool{}
		next  = make(chan int)
		wg    sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				if postWebhook(d.public, paidEvent(i)) {
					mu.Lock()
					acked[i] = true
					mu.Unlock()
				}
			}
		})
	}
	for i := range orders {
		if i == orders*2/5 {
			d.kill() // mid-stream: some requests are in flight, some jobs queued, some mails unsent
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if len(acked) == 0 || len(acked) == orders {
		t.Fatalf("%d of %d orders acknowledged: the kill did not land mid-stream", len(acked), orders)
	}

	d = startDaemon(t, env, "--reconcile-schedule", "@every 1s")
	// One e-mail = one Message-ID per recipient: if the kill lands between the SMTP server
	// accepting a message and the daemon recording it, the retry sends the same message again,
	// with the same Message-ID, which mail clients show once (SMTP cannot do better).
	resent := 0
	// waitMails waits until every recipient in want has an e-mail (or a minute passed). Orders
	// the kill left unacknowledged may get e-mails too, so a total count would end too early.
	waitMails := func(want func(yield func(int) bool)) map[string]int {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			ids := map[string]map[string]bool{}
			raw := 0
			for _, m := range mp.Messages(t) {
				for _, to := range m.To {
					if ids[to.Address] == nil {
						ids[to.Address] = map[string]bool{}
					}
					ids[to.Address][m.MessageID] = true
					raw++
				}
			}
			got := map[string]int{}
			total := 0
			for addr, set := range ids {
				got[addr] = len(set)
				total += len(set)
			}
			resent = raw - total
			all := true
			for i := range want {
				if got[fmt.Sprintf("cs_crash_%03d@example.test", i)] == 0 {
					all = false
					break
				}
			}
			if all || time.Now().After(deadline) {
				return got
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	got := waitMails(maps.Keys(acked))
	// A message re-sent after the kill carries the password of the first: one password per
	// recipient, however many copies.
	pws := map[string]map[string]bool{}
	for _, m := range mp.Messages(t) {
		pw := mailedPassword.FindStringSubmatch(m.Text)
		if pw == nil || len(m.To) != 1 {
			t.Fatalf("e-mail without a password or one recipient:\n%s", m.Text)
		}
		if pws[m.To[0].Address] == nil {
			pws[m.To[0].Address] = map[string]bool{}
		}
		pws[m.To[0].Address][pw[1]] = true
	}
	for addr, set := range pws {
		if len(set) != 1 {
			t.Errorf("%s got %d different passwords", addr, len(set))
		}
	}
	for i := range acked {
		addr := fmt.Sprintf("cs_crash_%03d@example.test", i)
		if got[addr] != 1 {
			t.Errorf("acknowledged order %d: %d e-mails, want exactly 1", i, got[addr])
		}
	}
	// Stripe retries every event (acknowledged or not) later: each order then has one e-mail.
	allOrders := make([]int, orders)
	for i := range orders {
		allOrders[i] = i
		if !postWebhook(d.public, paidEvent(i)) {
			t.Fatalf("retry of order %d not acknowledged:\n%s", i, d.logs.String())
		}
	}
	got = waitMails(slices.Values(allOrders))
	time.Sleep(time.Second) // a duplicate would arrive now
	got = waitMails(slices.Values(allOrders))
	for i := range orders {
		if addr := fmt.Sprintf("cs_crash_%03d@example.test", i); got[addr] != 1 {
			t.Errorf("order %d after retries: %d e-mails, want exactly 1", i, got[addr])
		}
	}
	if len(got) != orders {
		t.Errorf("%d recipients, want %d", len(got), orders)
	}
	if strings.Contains(d.logs.String(), "panic") {
		t.Errorf("daemon panicked:\n%s", d.logs.String())
	}
	t.Logf("%d of %d orders acknowledged before and during the kill; %d message(s) re-sent with the same Message-ID", len(acked), orders, resent)
}

// TestSIGTERMHandsBackInFlightWork stops a daemon whose provisioning hangs: it must exit within
// its shutdown timeout (plus a margin), leave the account provisioning (not failed), and a
// restarted daemon must finish it.
func TestSIGTERMHandsBackInFlightWork(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real daemon processes")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "poold.yaml")
	os.WriteFile(cfg, []byte("tiers:\n  - {name: basic, min_ready: 2, max_total: 2, max_in_flight: 2, memory_mb: 512, cpus: 1}\n"), 0o600)
	data := filepath.Join(dir, "data")
	env := []string{"POOL_DATA_DIR=" + data, "POOL_CONFIG=" + cfg, "POOL_LOG_FORMAT=json"}
	d := startDaemon(t, append(env, "TESTPOOLD_BLOCK=1"), "--reconcile-schedule", "@every 1s", "--shutdown-timeout", "1s")
	h := &harness{t: t, dir: data, env: map[string]string{"POOL_DATA_DIR": data, "POOL_CONFIG": cfg, "POOL_LOG_FORMAT": "json"}}
	deadline := time.Now().Add(30 * time.Second)
	for len(h.list("--state", "provisioning")) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("provisioning never started:\n%s", d.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the jobs are running (blocked in the provisioner)
	start := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon still running 20s after SIGTERM with a 1s shutdown timeout:\n%s", d.logs.String())
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, d.logs.String())
	}
	t.Logf("stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	if n := len(h.list("--state", "provisioning")); n != 2 {
		t.Fatalf("%d accounts provisioning after shutdown, want 2 (handed back, not failed)\n%v", n, h.list())
	}
	startDaemon(t, env, "--reconcile-schedule", "@every 1s")
	for len(h.list("--state", "ready")) < 2 {
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("the restarted daemon did not finish the handed-back accounts: %v", h.list())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(h.list()); n != 2 {
		t.Fatalf("%d accounts, want 2: the handed-back ones were finished, not replaced", n)
	}
}
