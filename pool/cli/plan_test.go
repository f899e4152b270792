package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// GIVEN a sold account and an unsold one WHEN the operator runs `poold accounts set-tier` THEN
// the sold one changes tier in place (the same account; the daemon's job re-applies its stack),
// the same tier again changes nothing, a downgrade says when the excess custom domains go
// (POOL_DOWNGRADE_NOTICE), and bad input — an unknown tier, an unsold account, a malformed
// notice — is refused and changes nothing.
func TestSetTierMovesASoldAccountInPlace(t *testing.T) {
	h := newHarness(t)
	h.mustRun("batch", "create", "--count", "3")
	slug := h.claimed("manual-plan")
	var unsold string
	for _, s := range []string{"client01", "client02", "client03"} {
		if s != slug {
			unsold = s
			break
		}
	}
	before := h.account(slug)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"accounts", "set-tier", slug, "gold"}, "gold"},
		{[]string{"accounts", "set-tier", unsold, "premium"}, "only a sold account"},
		{[]string{"accounts", "set-tier", "nobody99", "premium"}, "no account"},
		{[]string{"accounts", "set-tier", slug}, "accepts 2 arg"},
	} {
		_, err := h.run(context.Background(), c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("poold %s: %v; want an error naming %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	h.env["POOL_DOWNGRADE_NOTICE"] = "soon"
	if _, err := h.run(context.Background(), "accounts", "set-tier", slug, "premium"); err == nil || !strings.Contains(err.Error(), "POOL_DOWNGRADE_NOTICE") {
		t.Fatalf("a malformed notice: %v", err)
	}
	if a := h.account(slug); a.Tier != before.Tier || h.account(unsold).Tier != "basic" {
		t.Fatalf("a refused set-tier changed the tier: %s", a.Tier)
	}

	h.env["POOL_DOWNGRADE_NOTICE"] = "24h"
	out := h.mustRun("accounts", "set-tier", slug, "premium")
	if !strings.Contains(out, slug+": basic → premium") {
		t.Fatalf("output %q", out)
	}
	if a := h.account(slug); a.ID != before.ID || a.Tier != "premium" || a.State != before.State || a.URL != before.URL {
		t.Fatalf("after set-tier: %+v (before %+v)", a, before)
	}
	if out := h.mustRun("accounts", "set-tier", slug, "premium"); !strings.Contains(out, "nothing changed") {
		t.Fatalf("the same tier again: %q", out)
	}
	start := time.Now()
	out = h.mustRun("accounts", "set-tier", slug, "basic")
	if !strings.Contains(out, "premium → basic") || !strings.Contains(out, "detached after") {
		t.Fatalf("downgrade output %q", out)
	}
	i := strings.Index(out, "detached after ")
	at, err := time.Parse(time.RFC3339, strings.Fields(out[i+len("detached after "):])[0][:20])
	if err != nil || at.Before(start.Add(24*time.Hour).Truncate(time.Second)) || at.After(time.Now().Add(24*time.Hour)) {
		t.Fatalf("detach at %v (%v), want 24h from now", at, err)
	}
}
