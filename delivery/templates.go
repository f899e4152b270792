package delivery

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"os"
	"path/filepath"
	"slices"
	"strings"
	texttemplate "text/template"
	"unicode"
	"unicode/utf8"
)

//go:embed templates/*.tmpl
var embedded embed.FS

// Template file names: <kind>.subject.tmpl and <kind>.txt.tmpl (text/template), <kind>.html.tmpl
// (html/template), for every Kind.
const (
	partSubject = "subject"
	partText    = "txt"
	partHTML    = "html"
)

var parts = []string{partSubject, partText, partHTML}

// TemplateNames lists every template file name, e.g. "credentials.html.tmpl". An override
// directory may hold any subset of them.
func TemplateNames() []string {
	var names []string
	for _, k := range Kinds {
		for _, p := range parts {
			names = append(names, templateName(k, p))
		}
	}
	return names
}

func templateName(k Kind, part string) string { return string(k) + "." + part + ".tmpl" }

// Email is one rendered e-mail.
type Email struct {
	Subject string
	Text    string
	HTML    string
}

// Templates renders e-mails. Build it with LoadTemplates; it is safe for concurrent use.
type Templates struct {
	kinds      map[Kind]kindTemplates
	overridden []string
}

type kindTemplates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

var funcs = map[string]any{
	// title upper-cases the first letter: "premium" → "Premium".
	"title": func(s string) string {
		r, n := utf8.DecodeRuneInString(s)
		return string(unicode.ToUpper(r)) + s[n:]
	},
	// contactHref turns a support contact into a link target: an e-mail address becomes a
	// mailto: link, anything else is used as it is (html/template still vets the URL).
	"contactHref": func(s string) string {
		if strings.Contains(s, "@") && !strings.Contains(s, "://") {
			return "mailto:" + s
		}
		return s
	},
}

// LoadTemplates parses the embedded templates, replacing each one for which dir holds a file of
// the same name (see TemplateNames). dir "" means the embedded templates only. A file in dir
// whose name ends in .tmpl but is not a template name is an error (a typo would otherwise be
// silently ignored); other files are ignored.
//
// Every template is rendered with sample data before LoadTemplates returns, so a template that
// does not parse, names a field that does not exist, or (credentials) leaves out the login URL,
// username or password is reported here and not when a customer's e-mail is sent.
func LoadTemplates(dir string) (*Templates, error) {
	sources := map[string]string{}
	for _, name := range TemplateNames() {
		b, err := embedded.ReadFile("templates/" + name)
		if err != nil {
			return nil, fmt.Errorf("embedded template %s: %w", name, err)
		}
		sources[name] = string(b)
	}
	t := &Templates{kinds: map[Kind]kindTemplates{}}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("template directory: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".tmpl") {
				continue
			}
			if _, ok := sources[name]; !ok {
				return nil, fmt.Errorf("template directory %s: unknown template %q (want one of %s)",
					dir, name, strings.Join(TemplateNames(), ", "))
			}
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return nil, fmt.Errorf("template override: %w", err)
			}
			sources[name] = string(b)
			t.overridden = append(t.overridden, name)
		}
	}
	for _, k := range Kinds {
		var kt kindTemplates
		var err error
		origin := func(part string) string {
			name := templateName(k, part)
			if slices.Contains(t.overridden, name) {
				return filepath.Join(dir, name)
			}
			return "embedded " + name
		}
		if kt.subject, err = texttemplate.New(templateName(k, partSubject)).Funcs(funcs).Parse(sources[templateName(k, partSubject)]); err != nil {
			return nil, fmt.Errorf("template %s: %w", origin(partSubject), err)
		}
		if kt.text, err = texttemplate.New(templateName(k, partText)).Funcs(funcs).Parse(sources[templateName(k, partText)]); err != nil {
			return nil, fmt.Errorf("template %s: %w", origin(partText), err)
		}
		if kt.html, err = htmltemplate.New(templateName(k, partHTML)).Funcs(funcs).Parse(sources[templateName(k, partHTML)]); err != nil {
			return nil, fmt.Errorf("template %s: %w", origin(partHTML), err)
		}
		t.kinds[k] = kt
		if err := t.check(k, origin); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Overridden lists the template files that were loaded from the override directory.
func (t *Templates) Overridden() []string { return slices.Clone(t.overridden) }

// Render renders msg with the templates of its kind. It does not validate msg (Send does).
func (t *Templates) Render(msg Message) (Email, error) {
	e, _, err := t.render(msg)
	return e, err
}

// render also names the part (subject, txt, html) that failed.
func (t *Templates) render(msg Message) (Email, string, error) {
	kt, ok := t.kinds[msg.Kind]
	if !ok {
		return Email{}, "", fmt.Errorf("%w: unknown kind %q", errInvalid, msg.Kind)
	}
	var e Email
	var buf bytes.Buffer
	if err := kt.subject.Execute(&buf, msg); err != nil {
		return Email{}, partSubject, fmt.Errorf("render subject: %w", err)
	}
	e.Subject = strings.TrimSpace(buf.String())
	if e.Subject == "" || strings.ContainsAny(e.Subject, "\r\n") {
		return Email{}, partSubject, fmt.Errorf("render subject: %w", errBadSubject)
	}
	buf.Reset()
	if err := kt.text.Execute(&buf, msg); err != nil {
		return Email{}, partText, fmt.Errorf("render text: %w", err)
	}
	e.Text = buf.String()
	buf.Reset()
	if err := kt.html.Execute(&buf, msg); err != nil {
		return Email{}, partHTML, fmt.Errorf("render html: %w", err)
	}
	e.HTML = buf.String()
	return e, "", nil
}

var errBadSubject = errors.New("subject must be one non-empty line")

// Sample data for the load-time check. The values are plain (nothing that HTML would escape)
// so that the check can look for them in the HTML part.
const (
	sampleLoginURL = "https://client00.example.test/login"
	sampleUsername = "sample-user"
	samplePassword = "sample-password-not-a-secret"
)

func samples(k Kind) []Message {
	full := Message{
		Kind: k, OrderID: "order-sample", Ref: "in_sample", CustomerName: "Sample Customer",
		CustomerEmail: "customer@example.test", Tier: "basic",
		LoginURL: sampleLoginURL, Username: sampleUsername, Password: samplePassword,
		SupportContact: "support@example.test", UpsellURL: "https://example.test/upgrade",
		BillingURL: "https://example.test/billing", From: "Operator <hello@example.test>",
		Slug: "client00", TenantURL: "https://client00.example.test", Failures: 6, Reason: "sample reason",
		Hostname: "ai.example.test", DomainStep: DomainRecords, DomainURL: "https://example.test/domains?t=x",
		DNSRecords: []DNSRecord{{Type: "CNAME", Name: "ai.example.test", Value: "customers.example.test"}},
	}
	bare := full
	bare.CustomerName, bare.Tier, bare.SupportContact, bare.UpsellURL, bare.BillingURL, bare.Ref = "", "", "", "", "", ""
	bare.TenantURL, bare.Failures, bare.DomainURL = "", 0, ""
	live, action := full, full
	live.DomainStep, action.DomainStep = DomainLive, DomainAction
	return []Message{full, bare, live, action}
}

// check renders every template of kind k with sample data, with and without the optional fields.
func (t *Templates) check(k Kind, origin func(part string) string) error {
	for _, m := range samples(k) {
		e, part, err := t.render(m)
		if err != nil {
			return fmt.Errorf("template %s: %w", origin(part), err)
		}
		if k != KindCredentials {
			continue
		}
		for _, p := range []struct{ part, out string }{{partText, e.Text}, {partHTML, e.HTML}} {
			for _, want := range []struct{ what, value string }{
				{"login URL", sampleLoginURL}, {"username", sampleUsername}, {"password", samplePassword},
			} {
				if !strings.Contains(p.out, want.value) {
					return fmt.Errorf("template %s does not show the %s", origin(p.part), want.what)
				}
			}
		}
	}
	return nil
}
