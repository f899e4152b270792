package orders_test

import (
	"context"
	"errors"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/quartz"
	"github.com/riverqueue/river/rivertype"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/delivery/mailpittest"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// langflowTenants is the tenants double with a real rotation: at the tenant's Langflow (the
// langflowtest double), through the gate the daemon uses.
type langflowTenants struct {
	*suspender
	gate *langflow.Gate
}

func (l langflowTenants) RotateCustomer(ctx context.Context, a pool.Account, pw string) error {
	return l.gate.RotateAccount(ctx, a, pw)
}

// langflowAccount seeds one ready account whose tenant is a langflowtest server, with its
// customer login made by the gate.
func langflowAccount(t *testing.T, s *store.Store) (pool.Account, *langflowtest.Server) {
	t.Helper()
	ctx := context.Background()
	as, err := s.CreateAccounts(ctx, "basic", "client", 1)
	if err != nil {
		t.Fatal(err)
	}
	a := as[0]
	lf := langflowtest.NewServer(t, langflowtest.Options{Superuser: a.OperatorUser, SuperuserPassword: a.OperatorPassword})
	id, err := langflow.NewGate(langflow.GateOptions{}).EnsureCustomer(ctx, lf.URL,
		langflow.Credentials{Username: a.OperatorUser, Password: a.OperatorPassword},
		langflow.Credentials{Username: a.CustomerUser, Password: a.CustomerPassword})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkReady(ctx, a.ID, pool.Provisioned{Host: "local", URL: lf.URL, CustomerUserID: id, Generation: "test"}); err != nil {
		t.Fatal(err)
	}
	a, err = s.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return a, lf
}

// logsIn reports whether the customer logs in at the tenant with pw.
func logsIn(t *testing.T, url, user, pw string) bool {
	t.Helper()
	c, err := langflow.New(url, langflow.Options{RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Login(context.Background(), user, pw)
	if err != nil && !errors.Is(err, langflow.ErrUnauthorized) {
		t.Fatalf("login: %v", err)
	}
	return err == nil
}

var passwordLine = regexp.MustCompile(`Password:\s+(\S+)`)

func mailedPassword(t *testing.T, m mailpittest.Message) string {
	t.Helper()
	got := passwordLine.FindStringSubmatch(m.Text)
	if got == nil {
		t.Fatalf("no password in e-mail:\n%s", m.Text)
	}
	return got[1]
}

// lostAck sends through the real SMTP server and then reports a temporary failure once: the
// server accepted the e-mail, the daemon never learned it — what a crash in that instant
// leaves, for the retry to deal with.
type lostAck struct {
	orders.Mailer
	lost atomic.Int32
}

func (l *lostAck) Send(ctx context.Context, m delivery.Message) error {
	if err := l.Mailer.Send(ctx, m); err != nil {
		return err
	}
	if l.lost.Add(1) == 1 {
		return errors.New("connection reset after DATA (injected)")
	}
	return nil
}

// The retry of an e-mail the SMTP server accepted but the daemon did not record carries the
// same password (and Message-ID), and that password works at the tenant; the pool's does not.
func TestRetriedEmailCarriesTheSamePassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		a, lf := langflowAccount(t, s)
		var mailer *lostAck
		e := newEnv(t, s, func(c *orders.Config) {
			mailer = &lostAck{Mailer: c.Mailer}
			c.Mailer = mailer
			c.Tenants = langflowTenants{suspender: newSuspender(), gate: langflow.NewGate(langflow.GateOptions{})}
		})
		e.send(paid("evt_same", "cs_same"))
		waitFor(t, "delivered", func() bool { return order(t, s, "cs_same").State == store.OrderDelivered })
		msgs := e.mail.Messages(t)
		if len(msgs) != 2 {
			t.Fatalf("%d e-mails, want the lost one and its retry", len(msgs))
		}
		if msgs[0].MessageID != msgs[1].MessageID {
			t.Error("the retry has another Message-ID")
		}
		first, retry := mailedPassword(t, msgs[1]), mailedPassword(t, msgs[0])
		if first != retry {
			t.Fatal("the retry carries another password than the e-mail the server accepted first")
		}
		if first == a.CustomerPassword {
			t.Fatal("the e-mail carries the password the account had in the pool")
		}
		if !logsIn(t, lf.URL, a.CustomerUser, first) || logsIn(t, lf.URL, a.CustomerUser, a.CustomerPassword) {
			t.Fatal("the mailed password does not log in, or the pool's still does")
		}
		if got, _ := s.Get(ctx, a.ID); got.CustomerPassword != first {
			t.Fatal("the store does not hold the mailed password")
		}
	})
}

// slowRetry retries after 300 ms: 25 attempts span several seconds.
type slowRetry struct{}

func (slowRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(300 * time.Millisecond)
}

// A resend is one job: it records a new password, rotates the tenant to it and sends it. While
// SMTP fails, the tenant already takes only the new password, which is recorded; once SMTP is
// back the e-mail carries that same password.
func TestResendSurvivesAnSMTPOutage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		a, lf := langflowAccount(t, s)
		e := newEnvWith(t, s, func(c *orders.Config) {
			c.Tenants = langflowTenants{suspender: newSuspender(), gate: langflow.NewGate(langflow.GateOptions{})}
		}, func(w *control.WorkerConfig) { w.RetryPolicy = slowRetry{} }) // the outage outlasts some attempts, never all 25
		e.send(paid("evt_rs", "cs_rs"))
		waitFor(t, "delivered", func() bool { return order(t, s, "cs_rs").State == store.OrderDelivered })
		old := mailedPassword(t, e.mail.Messages(t)[0])

		e.mail.SetChaos(t, mailpittest.Chaos{Recipient: mailpittest.ChaosTrigger{ErrorCode: 451, Probability: 100}})
		n, err := e.svc.Resend(ctx, "cs_rs")
		if err != nil || n != 1 {
			t.Fatalf("resend = %d, %v", n, err)
		}
		if !logsIn(t, lf.URL, a.CustomerUser, old) {
			t.Fatal("queuing the resend rotated the password before its job ran")
		}
		// The job's first attempts fail at SMTP, after the rotation.
		waitFor(t, "the old password to stop working", func() bool { return !logsIn(t, lf.URL, a.CustomerUser, old) })
		recorded, err := s.DeliveryPassword(ctx, "credentials:cs_rs:resend-1", "cs_rs", a.ID)
		if err != nil || !logsIn(t, lf.URL, a.CustomerUser, recorded) {
			t.Fatalf("the password the tenant took is not the recorded one (%v)", err)
		}
		waitFor(t, "a failed attempt", func() bool {
			var errs int
			q := `SELECT COUNT(*) FROM river_job WHERE kind = 'order_deliver' AND attempt >= 2`
			s.DB().QueryRow(q).Scan(&errs)
			return errs > 0
		})
		if len(e.mail.Messages(t)) != 1 {
			t.Fatal("an e-mail went out through the outage")
		}
		e.mail.SetChaos(t, mailpittest.Chaos{})
		waitFor(t, "the resend", func() bool { return len(e.mail.Messages(t)) == 2 })
		got := mailedPassword(t, e.mail.Messages(t)[0])
		if got != recorded || !logsIn(t, lf.URL, a.CustomerUser, got) {
			t.Fatal("the resend does not carry the password recorded before the outage, or it does not log in")
		}
		if after, _ := s.Get(ctx, a.ID); after.CustomerPassword != got {
			t.Fatal("the store does not hold the resent password")
		}
	})
}

// An e-mail still failing when a resend is queued is dropped once the resend exists: the
// customer gets the resend's password, and nothing rotates the tenant back to the older one.
func TestResendSupersedesAnUnsentEmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		a, lf := langflowAccount(t, s)
		e := newEnvWith(t, s, func(c *orders.Config) {
			c.Tenants = langflowTenants{suspender: newSuspender(), gate: langflow.NewGate(langflow.GateOptions{})}
		}, func(w *control.WorkerConfig) { w.RetryPolicy = slowRetry{} })
		e.mail.SetChaos(t, mailpittest.Chaos{Recipient: mailpittest.ChaosTrigger{ErrorCode: 451, Probability: 100}})
		e.send(paid("evt_sup", "cs_sup"))
		waitFor(t, "the first e-mail to fail", func() bool {
			var n int
			s.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'order_deliver' AND attempt >= 2`).Scan(&n)
			return n > 0
		})
		if _, err := e.svc.Resend(ctx, "cs_sup"); err != nil {
			t.Fatal(err)
		}
		// The first e-mail's next attempt, still in the outage, finds the resend and ends.
		waitFor(t, "the first e-mail job superseded", func() bool {
			var st string
			s.DB().QueryRow(`SELECT state FROM river_job WHERE kind = 'order_deliver' ORDER BY id LIMIT 1`).Scan(&st)
			return st == "completed"
		})
		e.mail.SetChaos(t, mailpittest.Chaos{})
		waitFor(t, "every e-mail job done", func() bool { return jobsDone(t, s, "order_deliver") })
		msgs := e.mail.Messages(t)
		if len(msgs) != 1 {
			t.Fatalf("%d e-mails, want only the resend", len(msgs))
		}
		pw := mailedPassword(t, msgs[0])
		want, err := s.DeliveryPassword(ctx, "credentials:cs_sup:resend-1", "cs_sup", a.ID)
		if err != nil || pw != want {
			t.Fatalf("the e-mail does not carry the resend's password (%v)", err)
		}
		if !logsIn(t, lf.URL, a.CustomerUser, pw) {
			t.Fatal("the resend's password does not log in: the older e-mail rotated the tenant back")
		}
		if o := order(t, s, "cs_sup"); o.State != store.OrderDelivered {
			t.Fatalf("order is %s", o.State)
		}
	})
}
