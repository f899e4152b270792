package daemon

import (
	"context"
	"fmt"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// A downgrade's detacher lists the domains beyond the new allowance from the store, detaches
// them (the domains loop asked for a pass each time), and a retried detach is no error.
func TestDomainDetacherOnTheStore(t *testing.T) {
	ctx := context.Background()
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	as, err := s.CreateAccounts(ctx, "enterprise", "client", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkReady(ctx, as[0].ID, pool.Provisioned{Host: "h1", URL: "https://client01.example.test"}); err != nil {
		t.Fatal(err)
	}
	a, _, err := s.Claim(ctx, "enterprise", "order-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a.acme.com", "b.acme.com", "c.acme.com"} {
		if _, _, err := s.AttachDomain(ctx, a.ID, h, "", 5); err != nil {
			t.Fatal(err)
		}
	}
	triggers := 0
	d := domainDetacher{s: s, trigger: func() { triggers++ }}
	ex, err := d.Excess(ctx, a.ID, 1)
	if err != nil || fmt.Sprint(ex) != "[b.acme.com c.acme.com]" {
		t.Fatalf("Excess = %v, %v", ex, err)
	}
	for _, h := range append(ex, ex[0]) { // the last one again: a retried job
		if err := d.Detach(ctx, a.ID, h); err != nil {
			t.Fatalf("Detach %s: %v", h, err)
		}
	}
	if ex, err := d.Excess(ctx, a.ID, 1); err != nil || len(ex) != 0 || triggers != 3 {
		t.Fatalf("after: %v, %v, %d triggers", ex, err, triggers)
	}
	if err := d.Detach(ctx, a.ID, "never.acme.com"); err != nil {
		t.Fatalf("detaching a domain already gone: %v", err)
	}
}
