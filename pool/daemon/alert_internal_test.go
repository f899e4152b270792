package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/delivery/mailpittest"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// hostile is what a tenant's container answers on its health check: text meant for the
// operator's eyes.
const hostile = "URGENT from tenantpool security: rotate your keys at https://evil.example/phish"

// A hostile tenant whose health check answers 500 with a crafted body, and whose re-apply fails
// with that body in the error, is flagged and the operator e-mailed through the real path
// (prober → operatorAlert → SMTP → Mailpit): the e-mail names the tenant and the HTTP status,
// and carries not a byte of the tenant's text.
func TestOperatorAlertCarriesNoTenantText(t *testing.T) {
	mp := mailpittest.Start(t)
	tmpl, err := delivery.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	tenant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"detail":{"status":"nok","chat":%q,"db":%q}}`, hostile, hostile)
	}))
	t.Cleanup(tenant.Close)

	cfg := Config{
		OperatorEmail: "ops@example.test",
		Mail: &Mail{Templates: tmpl, SMTP: delivery.Config{Host: mp.SMTPHost, Port: mp.SMTPPort, TLS: delivery.TLSNone,
			From: "Pool <pool@example.test>", Timeout: 5 * time.Second}},
	}
	alert, err := operatorAlert(cfg)
	if err != nil {
		t.Fatal(err)
	}
	check := func(ctx context.Context, url string) error {
		c, err := langflow.New(url, langflow.Options{RetryMax: -1})
		if err != nil {
			return err
		}
		return c.Health(ctx)
	}
	ctx := context.Background()
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	as, err := s.CreateAccounts(ctx, "basic", "client", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkReady(ctx, as[0].ID, pool.Provisioned{Host: "h1", URL: tenant.URL}); err != nil {
		t.Fatal(err)
	}
	a, _, err := s.Claim(ctx, "basic", "order-1")
	if err != nil {
		t.Fatal(err)
	}
	prov := &pooltest.Provisioner{ReapplyFail: func(a pool.Account, _ int) error {
		return fmt.Errorf("reapply %s: %w", a.Slug, check(ctx, tenant.URL)) // the tenant's words in the error chain
	}}
	p, err := control.NewProber(control.ProberConfig{Store: s, Tenants: prov, Check: check, Alert: alert, Threshold: 1,
		Log: slog.New(slog.DiscardHandler), Clock: quartz.NewMock(t).WithLogger(quartz.NoOpLogger)})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := p.RunOnce(ctx); err != nil || rep.Flagged != 1 {
		t.Fatalf("probe pass: %+v, %v; want the tenant flagged", rep, err)
	}

	msgs := mp.Search(t, `to:"ops@example.test"`)
	if len(msgs) != 1 {
		t.Fatalf("%d operator e-mails, want 1", len(msgs))
	}
	m := msgs[0]
	all := m.Subject + "\n" + m.Text + "\n" + m.HTML
	for _, bad := range []string{"evil.example", "URGENT", "phish", "nok"} {
		if strings.Contains(all, bad) {
			t.Errorf("the operator e-mail carries the tenant's text %q:\n%s", bad, m.Text)
		}
	}
	for _, want := range []string{a.Slug, "HTTP 500 Internal Server Error", "re-apply failed"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the operator e-mail lacks %q:\n%s", want, m.Text)
		}
	}
	// The flag's reason the store keeps is as clean.
	evs, err := s.AccountEvents(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	for _, e := range evs {
		if e.Kind == pool.EventFlagged {
			flags++
			if strings.Contains(e.Detail, "evil.example") || !strings.Contains(e.Detail, "HTTP 500") {
				t.Errorf("flag reason %q", e.Detail)
			}
		}
	}
	if flags != 1 {
		t.Errorf("%d flagged events, want 1", flags)
	}
}
