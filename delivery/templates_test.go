package delivery_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/delivery"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fakePassword is obviously not a secret: golden files are committed.
const fakePassword = "FAKE-pass-0000"

func credentials() delivery.Message {
	return delivery.Message{
		Kind:           delivery.KindCredentials,
		OrderID:        "cs_test_order_0001",
		CustomerName:   "Ada Lovelace",
		CustomerEmail:  "ada@example.test",
		Tier:           "premium",
		LoginURL:       "https://client07.example.test/login",
		Username:       "ada",
		Password:       fakePassword,
		SupportContact: "https://help.example.test",
		From:           "Axie Studio <hello@example.test>",
	}
}

func goldenCases() map[string]delivery.Message {
	upsell := credentials()
	upsell.Tier = "basic"
	upsell.CustomerName = `Zoë "Z" <b>O'Brien</b> & Co`
	upsell.UpsellURL = "https://example.test/upgrade?tier=premium&order=cs_test_order_0001"
	upsell.SupportContact = "support@example.test"

	domain := credentials()
	domain.Tier, domain.DomainURL = "premium", "https://shop.example.test/domains?t=AAAA&x=<1>"

	minimal := credentials()
	minimal.CustomerName, minimal.Tier, minimal.SupportContact = "", "", ""

	seats := credentials()
	seats.Tier, seats.UpsellURL = "basic", "https://example.test/upgrade"
	for i, u := range []string{"client07", "client08", "client09"} {
		seats.Logins = append(seats.Logins, delivery.Login{Seat: i + 1, LoginURL: "https://" + u + ".example.test/login",
			Username: "ada-" + u, Password: fakePassword + "-" + u})
	}
	seats.LoginURL, seats.Username, seats.Password = seats.Logins[0].LoginURL, seats.Logins[0].Username, seats.Logins[0].Password

	failed := delivery.Message{
		Kind:           delivery.KindPaymentFailed,
		OrderID:        "cs_test_order_0001",
		Ref:            "in_test_0001",
		CustomerName:   "Ada Lovelace",
		CustomerEmail:  "ada@example.test",
		Tier:           "premium",
		SupportContact: "support@example.test",
		BillingURL:     "https://billing.example.test/p/session_0001",
	}
	failedMinimal := failed
	failedMinimal.CustomerName, failedMinimal.Tier, failedMinimal.SupportContact, failedMinimal.BillingURL = "", "", "", ""

	alert := delivery.Message{
		Kind:          delivery.KindOperatorAlert,
		OrderID:       "cs_test_order_0001",
		Ref:           "1764106200000",
		CustomerEmail: "ops@example.test",
		Tier:          "premium",
		Slug:          "client07",
		TenantURL:     "https://client07.example.test",
		Failures:      6,
		Reason:        `6 consecutive failed health probes, still failing after a re-apply: langflow health: 500 {"status":"nok"} <db down> & co`,
	}
	alertMinimal := alert
	alertMinimal.Tier, alertMinimal.TenantURL, alertMinimal.Failures = "", "", 0

	records := delivery.Message{
		Kind: delivery.KindCustomDomain, OrderID: "cs_test_order_0001", Ref: "ai.acme.example:records",
		CustomerName: "Ada Lovelace", CustomerEmail: "ada@example.test", Tier: "premium",
		Hostname: "ai.acme.example", DomainStep: delivery.DomainRecords,
		DNSRecords: []delivery.DNSRecord{
			{Type: "CNAME", Name: "ai.acme.example", Value: "customers.example.test"},
			{Type: "TXT", Name: "_cf-custom-hostname.ai.acme.example", Value: "5cc1f2a4-0001"},
			{Type: "TXT", Name: "_acme-challenge.ai.acme.example", Value: "dcv-<0001>&"},
		},
		DomainURL: "https://shop.example.test/domains?t=abc", SupportContact: "support@example.test",
	}
	live := records
	live.Ref, live.DomainStep, live.DNSRecords, live.DomainURL = "ai.acme.example:live", delivery.DomainLive, nil, ""
	action := records
	action.Ref, action.DomainStep, action.DNSRecords, action.Reason = "ai.acme.example:action", delivery.DomainAction, nil, "Cloudflare reports it moved: its CNAME no longer points at customers.example.test"

	downgrade := delivery.Message{
		Kind:           delivery.KindDowngradeNotice,
		OrderID:        "cs_test_order_0001",
		Ref:            "plan-7",
		CustomerName:   "Ada <b>Lovelace</b>",
		CustomerEmail:  "ada@example.test",
		Tier:           "basic",
		Domains:        []string{"studio.ada.example", "flows.ada.example"},
		DetachAt:       time.Date(2026, 12, 6, 13, 20, 0, 0, time.UTC),
		SupportContact: "support@example.test",
		BillingURL:     "https://billing.example.test/p/session_0001",
	}

	return map[string]delivery.Message{
		"downgrade_notice":           downgrade,
		"custom_domain_records":      records,
		"custom_domain_live":         live,
		"custom_domain_action":       action,
		"operator_alert":             alert,
		"operator_alert_minimal":     alertMinimal,
		"credentials":                credentials(),
		"credentials_upsell_escaped": upsell,
		"credentials_minimal":        minimal,
		"credentials_domain_page":    domain,
		"credentials_seats":          seats,
		"payment_failed":             failed,
		"payment_failed_minimal":     failedMinimal,
	}
}

func loadTemplates(t *testing.T, dir string) *delivery.Templates {
	t.Helper()
	tmpl, err := delivery.LoadTemplates(dir)
	if err != nil {
		t.Fatalf("LoadTemplates(%q): %v", dir, err)
	}
	return tmpl
}

func TestRenderGolden(t *testing.T) {
	tmpl := loadTemplates(t, "")
	for name, msg := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			if err := msg.Validate(); err != nil {
				t.Fatalf("golden input is invalid: %v", err)
			}
			e, err := tmpl.Render(msg)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			checkGolden(t, name+".txt.golden", "Subject: "+e.Subject+"\n\n"+e.Text)
			checkGolden(t, name+".html.golden", e.HTML)
		})
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./delivery -run TestRenderGolden -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendering (rerun with -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func TestRenderEscapesHTMLButNotText(t *testing.T) {
	msg := goldenCases()["credentials_upsell_escaped"]
	e, err := loadTemplates(t, "").Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<b>O'Brien</b>", "& Co", `"Z"`} {
		if strings.Contains(e.HTML, bad) {
			t.Errorf("HTML contains unescaped %q", bad)
		}
	}
	if !strings.Contains(e.HTML, "&lt;b&gt;O&#39;Brien&lt;/b&gt; &amp; Co") {
		t.Errorf("HTML does not contain the escaped name:\n%s", e.HTML)
	}
	if !strings.Contains(e.Text, msg.CustomerName) {
		t.Errorf("text part does not contain the name as written:\n%s", e.Text)
	}
	if !strings.Contains(e.HTML, `href="https://example.test/upgrade?tier=premium&amp;order=cs_test_order_0001"`) {
		t.Errorf("HTML does not link the upsell URL:\n%s", e.HTML)
	}
}

func TestRenderUpsellOnlyWhenSet(t *testing.T) {
	tmpl := loadTemplates(t, "")
	with, without := goldenCases()["credentials_upsell_escaped"], credentials()
	for _, c := range []struct {
		msg  delivery.Message
		want bool
	}{{with, true}, {without, false}} {
		e, err := tmpl.Render(c.msg)
		if err != nil {
			t.Fatal(err)
		}
		for part, out := range map[string]string{"text": e.Text, "html": e.HTML} {
			if got := strings.Contains(out, "Upgrade to Premium"); got != c.want {
				t.Errorf("upsell URL %q: %s part shows the upsell line = %v, want %v", c.msg.UpsellURL, part, got, c.want)
			}
		}
	}
}

func TestRenderRejectsUnsafeURLInHTML(t *testing.T) {
	msg := credentials()
	msg.SupportContact = "javascript:alert(1)"
	e, err := loadTemplates(t, "").Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.HTML, `href="javascript:`) {
		t.Errorf("HTML links a javascript: URL:\n%s", e.HTML)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTemplateOverride(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"credentials.subject.tmpl": "Welcome aboard, {{.CustomerName}}!\n",
		"credentials.txt.tmpl":     "Log in at {{.LoginURL}} as {{.Username}} / {{.Password}}.\n",
		"README.md":                "not a template: ignored",
	})
	tmpl := loadTemplates(t, dir)
	if got, want := strings.Join(tmpl.Overridden(), ","), "credentials.subject.tmpl,credentials.txt.tmpl"; got != want {
		t.Errorf("Overridden() = %s, want %s", got, want)
	}
	msg := credentials()
	e, err := tmpl.Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Welcome aboard, Ada Lovelace!"; e.Subject != want {
		t.Errorf("subject = %q, want %q", e.Subject, want)
	}
	if want := "Log in at https://client07.example.test/login as ada / " + fakePassword + ".\n"; e.Text != want {
		t.Errorf("text = %q, want %q", e.Text, want)
	}
	embedded, err := loadTemplates(t, "").Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	if e.HTML != embedded.HTML {
		t.Error("HTML part changed although it was not overridden")
	}
}

func TestTemplateOverrideRejected(t *testing.T) {
	for name, c := range map[string]struct {
		files   map[string]string
		wantErr string
	}{
		"parse error":          {map[string]string{"credentials.txt.tmpl": "{{.Password"}, "credentials.txt.tmpl"},
		"unknown field":        {map[string]string{"payment_failed.html.tmpl": "<p>{{.Pasword}}</p>"}, "payment_failed.html.tmpl"},
		"html parse error":     {map[string]string{"credentials.html.tmpl": "<a href='{{.LoginURL}}>{{if}}</a>"}, "credentials.html.tmpl"},
		"password left out":    {map[string]string{"credentials.html.tmpl": "<p>{{.LoginURL}} {{.Username}}</p>"}, "does not show the password"},
		"login URL left out":   {map[string]string{"credentials.txt.tmpl": "{{.Username}} {{.Password}}"}, "does not show the login URL"},
		"multi-line subject":   {map[string]string{"credentials.subject.tmpl": "Hello\n{{.CustomerName}}"}, "subject must be one non-empty line"},
		"empty subject":        {map[string]string{"payment_failed.subject.tmpl": "  \n"}, "payment_failed.subject.tmpl"},
		"misspelled file name": {map[string]string{"credential.txt.tmpl": "{{.Password}}"}, `unknown template "credential.txt.tmpl"`},
		"unknown function":     {map[string]string{"credentials.txt.tmpl": "{{shout .Password}}"}, "credentials.txt.tmpl"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeFiles(t, c.files)
			_, err := delivery.LoadTemplates(dir)
			if err == nil {
				t.Fatal("LoadTemplates accepted a broken override")
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q does not mention %q", err, c.wantErr)
			}
		})
	}
	if _, err := delivery.LoadTemplates(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadTemplates accepted a directory that does not exist")
	}
}
