package cfhostnames_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool/cfhostnames"
	"github.com/axiestudio/tenantpool/pool/cfhostnames/cfhostnamestest"
)

// The client reads a hostname through every state Cloudflare documents, against the double.
func TestGetFollowsCloudflareStates(t *testing.T) {
	ctx := context.Background()
	cf := cfhostnamestest.New(t, "zone1", "tok")
	c, err := cfhostnames.New(cf.URL, "zone1", "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "ai.acme.com"); !errors.Is(err, cfhostnames.ErrNotFound) {
		t.Fatalf("missing hostname: %v", err)
	}
	cf.Create("ai.acme.com")
	step := func(wantStatus, wantSSL string) cfhostnames.Hostname {
		t.Helper()
		h, err := c.Get(ctx, "ai.acme.com")
		if err != nil {
			t.Fatal(err)
		}
		if h.Status != wantStatus || h.SSLStatus != wantSSL {
			t.Fatalf("status %s/%s, want %s/%s", h.Status, h.SSLStatus, wantStatus, wantSSL)
		}
		return h
	}
	step("pending", "pending_validation")
	h := step("pending", "pending_validation")
	if h.Ownership == nil || h.Ownership.Type != "TXT" || h.Ownership.Name != "_cf-custom-hostname.ai.acme.com" || len(h.Certificate) != 1 || len(h.Errors) == 0 {
		t.Fatalf("pending hostname without its records: %+v", h)
	}
	cf.Publish(h.Ownership.Name, h.Ownership.Value)
	cf.Publish(h.Certificate[0].Name, h.Certificate[0].Value)
	cf.Publish("ai.acme.com", cfhostnamestest.Target)
	step("active", "pending_issuance")
	if h := step("active", "active"); !h.Active() || h.Ownership != nil {
		t.Fatalf("active hostname: %+v", h)
	}
	cf.Unpublish("ai.acme.com")
	step("moved", "active")
	cf.Publish("ai.acme.com", cfhostnamestest.Target)
	step("active", "active")
	cf.Block("ai.acme.com")
	step("blocked", "active")
	cf.Delete("ai.acme.com")
	step("pending_deletion", "active")
	if _, err := c.Get(ctx, "ai.acme.com"); !errors.Is(err, cfhostnames.ErrNotFound) {
		t.Fatalf("deleted hostname: %v", err)
	}

	bad, _ := cfhostnames.New(cf.URL, "zone1", "wrong", nil)
	if _, err := bad.Get(ctx, "ai.acme.com"); err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong token: %v (must fail, without quoting the token)", err)
	}
	if _, err := cfhostnames.New("", "", "tok", nil); err == nil {
		t.Fatal("no zone accepted")
	}
}
