package mailpittest_test

import (
	"net"
	"net/smtp"
	"strconv"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/delivery/mailpittest"
)

func send(t *testing.T, srv *mailpittest.Server, to, subject string) error {
	t.Helper()
	body := "From: test@example.test\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@example.test>\r\n\r\nhello " + subject + "\r\n"
	return smtp.SendMail(net.JoinHostPort(srv.SMTPHost, strconv.Itoa(srv.SMTPPort)), nil,
		"test@example.test", []string{to}, []byte(body))
}

func TestServerLifecycle(t *testing.T) {
	srv := mailpittest.Start(t)
	if err := send(t, srv, "a@example.test", "first"); err != nil {
		t.Fatalf("send: %v", err)
	}
	msgs := srv.Messages(t)
	if len(msgs) != 1 || msgs[0].Subject != "first" || msgs[0].MessageID != "first@example.test" ||
		len(msgs[0].To) != 1 || msgs[0].To[0].Address != "a@example.test" || !strings.Contains(msgs[0].Text, "hello first") {
		t.Fatalf("messages = %+v", msgs)
	}

	srv.Stop()
	srv.Stop() // idempotent
	if err := send(t, srv, "a@example.test", "lost"); err == nil {
		t.Fatal("send to a stopped server succeeded")
	}
	srv.Restart(t)
	if err := send(t, srv, "b@example.test", "second"); err != nil {
		t.Fatalf("send after restart: %v", err)
	}
	if got := srv.Messages(t); len(got) != 2 {
		t.Errorf("after restart mailpit holds %d messages, want 2 (the database survives)", len(got))
	}
	if got := srv.Search(t, "to:b@example.test"); len(got) != 1 || got[0].Subject != "second" {
		t.Errorf("search = %+v", got)
	}
}

func TestChaos(t *testing.T) {
	srv := mailpittest.Start(t)
	srv.SetChaos(t, mailpittest.Chaos{Recipient: mailpittest.ChaosTrigger{ErrorCode: 452, Probability: 100}})
	if err := send(t, srv, "a@example.test", "refused"); err == nil || !strings.Contains(err.Error(), "452") {
		t.Errorf("send with chaos = %v, want a 452 reply", err)
	}
	srv.SetChaos(t, mailpittest.Chaos{})
	if err := send(t, srv, "a@example.test", "accepted"); err != nil {
		t.Errorf("send without chaos: %v", err)
	}
}
