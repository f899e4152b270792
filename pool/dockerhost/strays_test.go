package dockerhost_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
	"github.com/axiestudio/tenantpool/pool/dockerhost/dockertest"
)

// GIVEN one managed container and what the store knows of its slug, WHEN the pass judges it,
// THEN only a container of a retired, failed or unknown-but-ours slug, older than the grace, is
// a stray; everything else is live or only reported.
func TestJudge(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	const grace = 10 * time.Minute
	old, young := now.Add(-11*time.Minute), now.Add(-9*time.Minute)
	ct := func(slug string, created time.Time) dockerhost.Container {
		return dockerhost.Container{ID: "c-" + slug, Created: created,
			Labels: map[string]string{platform.ManagedLabel: "true", platform.SlugLabel: slug}}
	}
	acct := func(st pool.State, host string) pool.Account {
		return pool.Account{ID: 7, Slug: "client07", State: st, Host: host}
	}
	cases := []struct {
		name  string
		c     dockerhost.Container
		a     pool.Account
		known bool
		want  dockerhost.Verdict
	}{
		{"ready here", ct("client07", old), acct(pool.StateReady, "edge1"), true, dockerhost.Live},
		{"delivered here", ct("client07", old), acct(pool.StateDelivered, "edge1"), true, dockerhost.Live},
		{"reserved here", ct("client07", old), acct(pool.StateReserved, "edge1"), true, dockerhost.Live},
		{"provisioning, no host yet", ct("client07", old), acct(pool.StateProvisioning, ""), true, dockerhost.Live},
		{"retired, old", ct("client07", old), acct(pool.StateRetired, "edge1"), true, dockerhost.Stray},
		{"failed, old", ct("client07", old), acct(pool.StateFailed, ""), true, dockerhost.Stray},
		{"retired, young", ct("client07", young), acct(pool.StateRetired, "edge1"), true, dockerhost.Young},
		{"unknown slug of ours, old", ct("client99", old), pool.Account{}, false, dockerhost.Stray},
		{"unknown slug of ours, young", ct("client99", young), pool.Account{}, false, dockerhost.Young},
		{"unknown slug, other prefix", ct("shop12", old), pool.Account{}, false, dockerhost.Foreign},
		{"unknown slug, prefix but no number", ct("clientx", old), pool.Account{}, false, dockerhost.Foreign},
		{"suspended", ct("client07", old), acct(pool.StateSuspended, "edge1"), true, dockerhost.Unexpected},
		{"delivered, on another host", ct("client07", old), acct(pool.StateDelivered, "edge2"), true, dockerhost.Unexpected},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, why := dockerhost.Judge(tc.c, "edge1", tc.a, tc.known, "client", now, grace)
			if got != tc.want {
				t.Fatalf("verdict %s (%s), want %s", got, why, tc.want)
			}
			if why == "" {
				t.Error("no reason given")
			}
		})
	}
}

// A real engine holding tenant containers of every kind: the pass leaves live tenants and
// foreign containers alone, reports young strays without touching them, and once they are past
// the grace removes exactly the strays. A second pass finds nothing more to remove.
func TestSweepRemovesOnlyStrays(t *testing.T) {
	c := dockertest.Require(t)
	_, prefix := dockertest.Slug(t)
	slug := func(n int) string { return fmt.Sprintf("%s%02d", prefix, n) }
	accounts := map[string]pool.Account{
		slug(1): {ID: 1, Slug: slug(1), State: pool.StateDelivered, Host: "local"},
		slug(2): {ID: 2, Slug: slug(2), State: pool.StateRetired, Host: "local"},
		slug(3): {ID: 3, Slug: slug(3), State: pool.StateFailed},
		slug(4): {ID: 4, Slug: slug(4), State: pool.StateProvisioning},
		slug(6): {ID: 6, Slug: slug(6), State: pool.StateSuspended, Host: "local"},
	}
	ids := map[string]string{}
	for _, s := range []string{slug(1), slug(2), slug(3), slug(4), slug(5), slug(6)} { // slug(5): no account
		ids[s] = dockertest.Run(t, c, dockertest.Name(s), "", dockertest.TenantLabels(s)...)
	}
	foreign := "zz" + prefix + "01" // managed, but not of this pool's prefix
	ids[foreign] = dockertest.Run(t, c, dockertest.Name(foreign), "", dockertest.TenantLabels(foreign)...)
	unmanaged := dockertest.Run(t, c, "plain-"+prefix, "", "tenantpool.slug="+slug(7))

	var reads []string
	cfg := dockerhost.SweepConfig{
		Hosts:  []platform.Host{{Name: "local", DockerURL: dockertest.URL()}},
		Prefix: prefix, Grace: 10 * time.Minute, Remove: true,
		Live: func(context.Context) (map[string]string, error) {
			return map[string]string{slug(1): "local"}, nil // what Placements reports
		},
		Account: func(_ context.Context, s string) (pool.Account, error) {
			reads = append(reads, s)
			if a, ok := accounts[s]; ok {
				return a, nil
			}
			return pool.Account{}, fmt.Errorf("account %q: %w", s, pool.ErrNotFound)
		},
	}
	ours := func(rep dockerhost.Report) map[string]dockerhost.Finding { // other tests share the engine
		m := map[string]dockerhost.Finding{}
		for _, f := range rep.Findings {
			if strings.Contains(f.Slug, prefix) {
				m[f.Slug] = f
			}
		}
		return m
	}

	// Just created: every candidate is within the grace.
	cfg.Now = time.Now()
	rep, err := dockerhost.Sweep(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := ours(rep)
	want := map[string]dockerhost.Verdict{slug(2): dockerhost.Young, slug(3): dockerhost.Young, slug(5): dockerhost.Young,
		slug(6): dockerhost.Unexpected, foreign: dockerhost.Foreign}
	if len(got) != len(want) {
		t.Fatalf("findings %v, want %v", got, want)
	}
	for s, v := range want {
		if got[s].Verdict != v || got[s].Removed {
			t.Errorf("%s: %+v, want %s, not removed", s, got[s], v)
		}
	}
	if slices.Contains(reads, slug(1)) {
		t.Error("a live tenant on its host cost a store read")
	}
	for s, id := range ids {
		if !dockertest.Exists(t, c, id) {
			t.Fatalf("%s removed within the grace", s)
		}
	}

	// Eleven minutes later the strays are certain.
	cfg.Now = time.Now().Add(11 * time.Minute)
	rep, err = dockerhost.Sweep(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	got = ours(rep)
	for _, s := range []string{slug(2), slug(3), slug(5)} {
		if f := got[s]; f.Verdict != dockerhost.Stray || !f.Removed {
			t.Errorf("%s: %+v, want a removed stray", s, f)
		}
		if dockertest.Exists(t, c, ids[s]) {
			t.Errorf("stray %s still there", s)
		}
	}
	for _, s := range []string{slug(1), slug(4), slug(6), foreign} {
		if !dockertest.Exists(t, c, ids[s]) {
			t.Errorf("%s was removed; only strays may be", s)
		}
	}
	if !dockertest.Exists(t, c, unmanaged) {
		t.Error("a container without the managed label was removed")
	}
	if got[slug(6)].Verdict != dockerhost.Unexpected || got[foreign].Verdict != dockerhost.Foreign {
		t.Errorf("suspended / foreign: %+v / %+v", got[slug(6)], got[foreign])
	}

	rep, err = dockerhost.Sweep(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for s, f := range ours(rep) {
		if f.Removed {
			t.Errorf("second pass removed %s again", s)
		}
	}
}

// An unreachable host is an error naming it; the other hosts are still swept.
func TestSweepUnreachableHost(t *testing.T) {
	c := dockertest.Require(t)
	_, prefix := dockertest.Slug(t)
	s := prefix + "01"
	id := dockertest.Run(t, c, dockertest.Name(s), "", dockertest.TenantLabels(s)...)
	rep, err := dockerhost.Sweep(t.Context(), dockerhost.SweepConfig{
		Hosts: []platform.Host{
			{Name: "gone", DockerURL: "unix://" + t.TempDir() + "/docker.sock"},
			{Name: "local", DockerURL: dockertest.URL()},
		},
		Prefix: prefix, Grace: time.Minute, Now: time.Now().Add(time.Hour), Remove: true,
		Live: func(context.Context) (map[string]string, error) { return nil, nil },
		Account: func(_ context.Context, slug string) (pool.Account, error) {
			return pool.Account{}, pool.ErrNotFound
		},
	})
	if err == nil || !strings.Contains(err.Error(), "host gone") {
		t.Fatalf("got %v, want an error naming host gone", err)
	}
	if dockertest.Exists(t, c, id) || rep.Removed == 0 {
		t.Errorf("the reachable host was not swept: removed %d", rep.Removed)
	}
	if errors.Is(err, pool.ErrNotFound) {
		t.Error("an unreachable host must not look like a missing object")
	}
}
