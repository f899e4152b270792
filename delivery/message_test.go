package delivery_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/axiestudio/tenantpool/delivery"
)

func TestDedupeKeyAndMessageID(t *testing.T) {
	a := credentials()
	b := credentials()
	b.CustomerName, b.Password = "Someone Else", "other" // not part of the identity
	if a.DedupeKey() != b.DedupeKey() || a.MessageID(a.From) != b.MessageID(b.From) {
		t.Error("the same order and kind gave different keys")
	}
	if got, want := a.DedupeKey(), "credentials:cs_test_order_0001"; got != want {
		t.Errorf("DedupeKey = %q, want %q", got, want)
	}
	id := a.MessageID("Axie Studio <hello@example.test>")
	if !regexp.MustCompile(`^credentials\.[0-9a-f]{32}@example\.test$`).MatchString(id) {
		t.Errorf("MessageID = %q", id)
	}
	if strings.Contains(id, a.OrderID) {
		t.Errorf("MessageID %q shows the order id", id)
	}

	failed := goldenCases()["payment_failed"]
	other := failed
	other.Ref = "in_test_0002"
	for _, m := range []delivery.Message{failed, other} {
		if m.DedupeKey() == a.DedupeKey() || m.MessageID(a.From) == id {
			t.Errorf("%v collides with the credentials e-mail of the same order", m)
		}
	}
	if failed.MessageID(a.From) == other.MessageID(a.From) {
		t.Error("two failed invoices of one order share a Message-ID")
	}
	if got := a.MessageID(""); !strings.HasSuffix(got, "@tenantpool.invalid") {
		t.Errorf("MessageID without a from address = %q", got)
	}
}

func TestMessageNeverPrintsThePassword(t *testing.T) {
	msg := credentials()
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("sending", "msg", msg)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("sending", "msg", msg)
	for _, out := range []string{fmt.Sprint(msg), fmt.Sprintf("%v %+v %#v %s", msg, msg, msg, msg), logBuf.String()} {
		if strings.Contains(out, fakePassword) {
			t.Errorf("password printed: %s", out)
		}
	}
	if !strings.Contains(logBuf.String(), "cs_test_order_0001") {
		t.Errorf("log line lacks the order: %s", logBuf.String())
	}
}

func TestValidate(t *testing.T) {
	for name, c := range map[string]struct {
		edit    func(*delivery.Message)
		wantErr string
	}{
		"ok":                    {func(*delivery.Message) {}, ""},
		"named address":         {func(m *delivery.Message) { m.CustomerEmail = "Ada <ada@example.test>" }, "not a bare address"},
		"login URL not http":    {func(m *delivery.Message) { m.LoginURL = "javascript:alert(1)" }, "login URL"},
		"no username":           {func(m *delivery.Message) { m.Username = "" }, "no username"},
		"bad upsell URL":        {func(m *delivery.Message) { m.UpsellURL = "ftp://x" }, "upsell URL"},
		"payment_failed no pwd": {func(m *delivery.Message) { *m = goldenCases()["payment_failed_minimal"] }, ""},
		"operator alert":        {func(m *delivery.Message) { *m = goldenCases()["operator_alert_minimal"] }, ""},
		"alert without slug": {func(m *delivery.Message) {
			*m = goldenCases()["operator_alert"]
			m.Slug = ""
		}, "no tenant slug"},
		"alert without reason": {func(m *delivery.Message) {
			*m = goldenCases()["operator_alert"]
			m.Reason = ""
		}, "no reason"},
		"alert bad tenant URL": {func(m *delivery.Message) {
			*m = goldenCases()["operator_alert"]
			m.TenantURL = "javascript:alert(1)"
		}, "tenant URL"},
	} {
		t.Run(name, func(t *testing.T) {
			msg := credentials()
			c.edit(&msg)
			err := msg.Validate()
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("Validate = %v, want an error about %q", err, c.wantErr)
			}
		})
	}
}

func TestIsPermanentOnUnwrappedErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("something odd"), false},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, false},
		{fmt.Errorf("dial failed: %w", &textproto.Error{Code: 535, Msg: "5.7.8 bad credentials"}), false},
		{fmt.Errorf("dial failed: %w", &textproto.Error{Code: 554, Msg: "go away"}), false},
		{&delivery.Error{Permanent: true}, true},
		{fmt.Errorf("job: %w", &delivery.Error{Permanent: true}), true},
	} {
		if got := delivery.IsPermanent(c.err); got != c.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestConfig(t *testing.T) {
	tmpl := loadTemplates(t, "")
	for _, c := range []struct {
		cfg     delivery.Config
		wantErr string
	}{
		{delivery.Config{Host: "smtp.example.test"}, ""},
		{delivery.Config{}, "no host"},
		{delivery.Config{Host: "h", TLS: "ssl"}, "unknown SMTP TLS mode"},
		{delivery.Config{Host: "h", Port: 70000}, "out of range"},
		{delivery.Config{Host: "h", From: "not an address"}, "from address"},
	} {
		_, err := delivery.NewSender(c.cfg, tmpl)
		if (c.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("NewSender(%+v) = %v, want error %q", c.cfg, err, c.wantErr)
		}
	}
	for in, want := range map[string]delivery.TLSMode{"none": delivery.TLSNone, "STARTTLS": delivery.TLSStartTLS, " tls ": delivery.TLSImplicit} {
		if got, err := delivery.ParseTLSMode(in); err != nil || got != want {
			t.Errorf("ParseTLSMode(%q) = %q, %v", in, got, err)
		}
	}
}
