package cli_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// `poold orders resend` on an operator's box that has no Pulumi CLI, with provisioning
// configured (a pinned image): it needs the store and the tenant's own Langflow, never Pulumi.
// The customer's password is rotated at the tenant and the resend queued.
func TestOrdersResendNeedsNoPulumi(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.real = true // the daemon's own tenants, not the double: Pulumi would be built if it were needed
	h.env["POOL_SECRET_KEY"] = base64.StdEncoding.EncodeToString(storetest.Key)
	h.env["POOL_LANGFLOW_IMAGE"] = "langflowai/langflow:1.5.0@sha256:" + strings.Repeat("ab", 32)
	h.env["TENANTPOOL_PULUMI"] = "/nonexistent/pulumi"
	h.env["POOL_STRIPE_WEBHOOK_SECRET"] = "whsec_test"
	h.env["POOL_STRIPE_API_KEY"] = "sk_test_resend"
	h.env["POOL_SMTP_HOST"], h.env["POOL_SMTP_PORT"], h.env["POOL_SMTP_TLS"] = "127.0.0.1", "2525", "none"
	h.env["POOL_SMTP_FROM"] = "Pool <pool@example.test>"

	// One sold tenant whose Langflow is the double, with its customer login made by the gate.
	s := storetest.OpenSQLite(t, h.dir, nil)
	as, err := s.CreateAccounts(ctx, "basic", "client", 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Get(ctx, as[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	lf := langflowtest.NewServer(t, langflowtest.Options{Superuser: a.OperatorUser, SuperuserPassword: a.OperatorPassword})
	gate := langflow.NewGate(langflow.GateOptions{})
	id, err := gate.EnsureCustomer(ctx, lf.URL, langflow.Credentials{Username: a.OperatorUser, Password: a.OperatorPassword},
		langflow.Credentials{Username: a.CustomerUser, Password: a.CustomerPassword})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkReady(ctx, a.ID, pool.Provisioned{Host: "local", URL: lf.URL, CustomerUserID: id}); err != nil {
		t.Fatal(err)
	}
	o := store.Order{ID: "cs_resend", Tier: "basic", CustomerEmail: "ada@example.test"}
	if _, _, err := s.ClaimOrder(ctx, o, "evt_1", "checkout.session.completed", jobs.Job{Args: jobs.DeliverArgs{OrderID: o.ID}}); err != nil {
		t.Fatal(err)
	}

	out, err := h.run(ctx, "orders", "resend", o.ID)
	if err != nil {
		t.Fatalf("resend: %v\n%s", err, out)
	}
	if !strings.Contains(out, "resend 1 of order cs_resend queued") {
		t.Fatalf("output %q", out)
	}
	after, err := s.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.CustomerPassword == a.CustomerPassword {
		t.Fatal("the password was not rotated")
	}
	if u, ok := lf.User(a.CustomerUser); !ok || u.Password != after.CustomerPassword {
		t.Fatalf("the tenant's customer login does not have the stored password (%v)", ok)
	}
	var queued int
	if err := s.DB().QueryRow(`SELECT count(*) FROM river_job WHERE kind = ? AND json_extract(args, '$.resend') = 1`,
		jobs.DeliverArgs{}.Kind()).Scan(&queued); err != nil || queued != 1 {
		t.Fatalf("resend jobs queued = %d (%v), want 1", queued, err)
	}
}

// `poold orders list` shows a held order and why it waits for the operator.
func TestOrdersListShowsHeldReasons(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.real = true
	h.env["POOL_SECRET_KEY"] = base64.StdEncoding.EncodeToString(storetest.Key)
	s := storetest.OpenSQLite(t, h.dir, nil)
	held := store.Order{ID: "cs_held", State: store.OrderHeld, CustomerEmail: "", LastError: "no usable customer e-mail"}
	if _, err := s.AddPendingOrder(ctx, held, "evt_h", "checkout.session.completed", "client"); err != nil {
		t.Fatal(err)
	}
	out, err := h.run(ctx, "orders", "list", "--state", "held")
	if err != nil {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if !strings.Contains(out, "cs_held") || !strings.Contains(out, "no usable customer e-mail") {
		t.Fatalf("output %q", out)
	}
	if _, err := h.run(ctx, "orders", "list", "--state", "lost"); err == nil {
		t.Fatal("an unknown state was accepted")
	}
}
