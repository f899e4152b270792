package cli_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/secret"
	"github.com/axiestudio/tenantpool/pool/store"
)

// account reads one account as `poold list --json` shows it.
func (h *harness) account(slug string) admin.Account {
	h.t.Helper()
	var as []admin.Account
	if err := json.Unmarshal([]byte(h.mustRun("list", "--json")), &as); err != nil {
		h.t.Fatal(err)
	}
	for _, a := range as {
		if a.Slug == slug {
			return a
		}
	}
	h.t.Fatalf("no account %s", slug)
	return admin.Account{}
}

// claimed sells one ready account by hand and returns its slug.
func (h *harness) claimed(order string) string {
	h.t.Helper()
	out := h.mustRun("claim", "--order", order)
	for _, line := range strings.Split(out, "\n") {
		if slug, ok := strings.CutPrefix(line, "account:"); ok {
			return strings.TrimSpace(slug)
		}
	}
	h.t.Fatalf("claim printed no account:\n%s", out)
	return ""
}

// GIVEN sold accounts (manual sales, no order row) WHEN the operator retires them THEN without
// --force nothing happens; with --force the account is suspended and its teardown scheduled
// after POOL_SUSPEND_GRACE; with --force --now it is retired at once; unsold ones retire as ever.
func TestRetireSoldAccountNeedsForce(t *testing.T) {
	h := newHarness(t)
	h.env["POOL_SUSPEND_GRACE"] = "48h"
	h.mustRun("batch", "create", "--count", "4")
	first, second := h.claimed("manual-1"), h.claimed("manual-2")

	for _, args := range [][]string{{"retire", first}, {"retire", "--now", first}} {
		_, err := h.run(context.Background(), args...)
		if err == nil || !strings.Contains(err.Error(), "needs force") || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("poold %s: %v; want a refusal naming --force", strings.Join(args, " "), err)
		}
		if a := h.account(first); a.State != "claimed" || !a.RetireAt.IsZero() {
			t.Fatalf("a refused retire changed %s: %+v", first, a)
		}
	}

	before := time.Now()
	out := h.mustRun("retire", "--force", first)
	after := time.Now()
	a := h.account(first)
	if a.State != "suspended" || a.RetireAt.Before(before.Add(48*time.Hour).Truncate(time.Millisecond)) || a.RetireAt.After(after.Add(48*time.Hour)) {
		t.Fatalf("after --force: %s retire at %v; want suspended, destroyed 48h from now", a.State, a.RetireAt)
	}
	if !strings.Contains(out, "suspended "+first) || !strings.Contains(out, a.RetireAt.Format(time.RFC3339)) {
		t.Fatalf("output %q", out)
	}

	h.mustRun("retire", "--force", "--now", second)
	if a := h.account(second); a.State != "retired" {
		t.Fatalf("after --force --now: %s", a.State)
	}
	var unsold string
	for _, a := range h.list("--state", "ready") {
		unsold = a["slug"].(string)
	}
	if out := h.mustRun("retire", unsold); !strings.Contains(out, "retired "+unsold) {
		t.Fatalf("unsold retire: %q", out)
	}

	// The queue: the suspension now, the teardown at the retire time, the two retired at once
	// torn down now.
	keyring, err := secret.ReadKeyFile(filepath.Join(h.dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), store.Options{DataDir: h.dir, Keyring: keyring})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	byKind := map[string]int{}
	rows, err := s.Driver().GetExecutor().JobGetByKindMany(context.Background(), &riverdriver.JobGetByKindManyParams{
		Kind: []string{jobs.SuspendAccountArgs{}.Kind(), jobs.RetireAccountArgs{}.Kind(), jobs.DestroyArgs{}.Kind()}})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range rows {
		byKind[j.Kind]++
		if j.Kind == (jobs.RetireAccountArgs{}).Kind() && !j.ScheduledAt.Equal(a.RetireAt) {
			t.Errorf("teardown scheduled at %v, want %v", j.ScheduledAt, a.RetireAt)
		}
	}
	if byKind["account_suspend"] != 1 || byKind["account_retire"] != 1 || byKind["destroy"] != 2 {
		t.Fatalf("jobs %v; want one suspension, one teardown after the grace, two teardowns now", byKind)
	}
	if got, _ := s.GetBySlug(context.Background(), first); got.State != pool.StateSuspended {
		t.Fatalf("%s is %s", first, got.State)
	}

	h.env["POOL_SUSPEND_GRACE"] = "soon"
	if _, err := h.run(context.Background(), "retire", "--force", unsold); err == nil || !strings.Contains(err.Error(), "POOL_SUSPEND_GRACE") {
		t.Fatalf("bad grace: %v", err)
	}
}
