package admin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// Attach through the API: every bad hostname, the allowance, another tenant's name and a tier
// without domains are refused with a clear error and change nothing; detach marks the row.
func TestDomainsAPI(t *testing.T) {
	ctx := context.Background()
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	triggered := 0
	e := newEnv(t, s, func(c *admin.Config) {
		c.Domains = admin.NewDomainOps(s, tiers(t), &admin.Domains{Platform: []string{"tenants.example.net", "example.com"}, Trigger: func() { triggered++ }}, nil)
	})
	seedReady(t, s, "premium", 2)
	seedReady(t, s, "basic", 1)
	p1, _, _ := s.Claim(ctx, "premium", "order-p1")
	p2, _, _ := s.Claim(ctx, "premium", "order-p2")
	b1, _, _ := s.Claim(ctx, "basic", "order-b1")

	for _, tc := range []struct {
		account, body string
		code          int
		want          string
	}{
		{p1.Slug, `{"hostname":"203.0.113.9"}`, http.StatusBadRequest, "IP address"},
		{p1.Slug, `{"hostname":"shop.example.com"}`, http.StatusBadRequest, "platform"},
		{p1.Slug, `{"hostname":"client01.tenants.example.net"}`, http.StatusBadRequest, "platform"},
		{p1.Slug, `{"hostname":"intranet"}`, http.StatusBadRequest, "needs a dot"},
		{p1.Slug, `{"hostname":"` + strings.Repeat("a", 70) + `.acme.com"}`, http.StatusBadRequest, "DNS label"},
		{p1.Slug, `{"hostname":""}`, http.StatusBadRequest, "empty"},
		{b1.Slug, `{"hostname":"ai.acme.com"}`, http.StatusConflict, "includes no custom domain"},
		{"client99", `{"hostname":"ai.acme.com"}`, http.StatusNotFound, ""},
	} {
		w := e.do("POST", "/admin/v1/accounts/"+tc.account+"/domains", tokenA, tc.body)
		wantCode(t, w, tc.code)
		if !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s: body %s lacks %q", tc.body, w.Body, tc.want)
		}
	}
	if ds, _ := s.ListDomains(ctx); len(ds) != 0 || triggered != 0 {
		t.Fatalf("refused attaches changed something: %v, %d triggers", ds, triggered)
	}

	w := e.do("POST", "/admin/v1/accounts/"+p1.Slug+"/domains", tokenA, `{"hostname":"AI.Acme.COM."}`)
	wantCode(t, w, http.StatusAccepted)
	v := decodeJSON[admin.DomainView](t, w)
	if v.Hostname != "ai.acme.com" || v.State != "requested" || v.Account != p1.Slug || triggered != 1 {
		t.Fatalf("attached %+v, %d triggers", v, triggered)
	}
	wantCode(t, e.do("POST", "/admin/v1/accounts/"+p1.Slug+"/domains", tokenA, `{"hostname":"two.acme.com"}`), http.StatusConflict)
	w = e.do("POST", "/admin/v1/accounts/"+p2.Slug+"/domains", tokenA, `{"hostname":"ai.acme.com"}`)
	wantCode(t, w, http.StatusConflict)
	if !strings.Contains(w.Body.String(), "another tenant") {
		t.Errorf("taken: %s", w.Body)
	}
	d, _ := s.GetDomain(ctx, "ai.acme.com")
	if d.Contact != "" && d.Contact != "ada@example.com" {
		t.Errorf("contact %q", d.Contact)
	}

	list := decodeJSON[[]admin.DomainView](t, e.do("GET", "/admin/v1/domains", tokenA, ""))
	if len(list) != 1 || list[0].Hostname != "ai.acme.com" {
		t.Fatalf("list %+v", list)
	}
	wantCode(t, e.do("DELETE", "/admin/v1/accounts/"+p1.Slug+"/domains/nope.acme.com", tokenA, ""), http.StatusNotFound)
	w = e.do("DELETE", "/admin/v1/accounts/"+p1.Slug+"/domains/ai.acme.com", tokenA, "")
	wantCode(t, w, http.StatusAccepted)
	if v := decodeJSON[admin.DomainView](t, w); v.State != "detaching" {
		t.Fatalf("detached %+v", v)
	}
	wantCode(t, e.do("GET", "/admin/v1/domains", "", ""), http.StatusUnauthorized)
}

func TestDomainsOffWithoutCloudflare(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	e := newEnv(t, s, nil)
	seedReady(t, s, "premium", 1)
	a, _, _ := s.Claim(context.Background(), "premium", "order-1")
	w := e.do("POST", "/admin/v1/accounts/"+a.Slug+"/domains", tokenA, `{"hostname":"ai.acme.com"}`)
	wantCode(t, w, http.StatusServiceUnavailable)
	if !strings.Contains(w.Body.String(), "custom domains are off") {
		t.Errorf("body %s", w.Body)
	}
}
