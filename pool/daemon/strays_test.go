package daemon_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/internal/testtool"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/dockerhost/dockertest"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// The stray pass of a running daemon, on a real Docker Engine and a real store: tenant
// containers of a retired account, of a failed one and of a slug of this pool that has no
// account are removed on the leader's first pass; the container of a live account, of an
// account still provisioning, and a managed container of another prefix stay. The log names
// each, and the metrics count them.
func TestStrayPassRemovesOnlyStrays(t *testing.T) {
	dc := dockertest.Require(t)
	_, prefix := dockertest.Slug(t)
	dir := t.TempDir()
	ctx := t.Context()
	tiers := pool.Tiers{"basic": {Name: "basic", MinReady: 0, MaxTotal: 10, MaxInFlight: 1}}

	// The store: live (ready on host local), retired, failed, provisioning.
	s, err := store.Open(ctx, store.Options{DataDir: dir, Key: storetest.Key})
	if err != nil {
		t.Fatal(err)
	}
	as, err := s.CreateAccounts(ctx, "basic", prefix, 4)
	if err != nil {
		t.Fatal(err)
	}
	live, retired, failed, provisioning := as[0], as[1], as[2], as[3]
	for _, a := range []pool.Account{live, retired} {
		if err := s.MarkReady(ctx, a.ID, pool.Provisioned{Host: "local", URL: "https://" + a.Slug + ".localhost", Generation: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Retire(ctx, retired.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, failed.ID, "test"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	run := func(slug string) string {
		return dockertest.Run(t, dc, dockertest.Name(slug), "", dockertest.TenantLabels(slug)...)
	}
	keep := map[string]string{live.Slug: run(live.Slug), provisioning.Slug: run(provisioning.Slug)}
	foreign := "zz" + prefix + "01"
	keep[foreign] = run(foreign)
	unknown := fmt.Sprintf("%s%02d", prefix, 99)
	strays := map[string]string{retired.Slug: run(retired.Slug), failed.Slug: run(failed.Slug), unknown: run(unknown)}

	logs := &testtool.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	prov := &pooltest.Provisioner{Block: make(chan struct{})} // provisioning waits: the provisioning account stays so
	d, err := daemon.New(ctx, daemon.Config{
		Store: store.Options{DataDir: dir, Key: storetest.Key}, Tiers: tiers, Prefix: prefix,
		Tenants: func(context.Context, *store.Store) (pool.Tenants, error) { return prov, nil },
		Listen:  "127.0.0.1:0", AdminListen: "127.0.0.1:0", ReconcileSchedule: "@every 1h", StuckTimeout: time.Hour,
		ProvisionConcurrency: 1, HardFailureLimit: 10, ShutdownTimeout: time.Second,
		Probe: daemon.Probe{Schedule: "off"},
		Hosts: func(context.Context) ([]platform.Host, error) {
			return []platform.Host{{Name: "local", DockerURL: dockertest.URL()}}, nil
		},
		StrayGrace: time.Nanosecond, // every container here is older than that
		Log:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	// The pass has run once the metrics count it (it logs and counts after its removals).
	srv := httptest.NewServer(d.AdminHandler())
	defer srv.Close()
	metrics := func() string {
		resp, err := srv.Client().Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	for deadline := time.Now().Add(time.Minute); !strings.Contains(metrics(), "tenantpool_stray_containers_removed_total 3"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no pass removed 3 strays within a minute:\n%s", grep(metrics(), "stray"))
		}
	}
	for slug, id := range strays {
		if dockertest.Exists(t, dc, id) {
			t.Errorf("stray %s's container is still there", slug)
		}
	}
	for slug, id := range keep {
		if !dockertest.Exists(t, dc, id) {
			t.Errorf("%s's container was removed", slug)
		}
	}
	for slug := range strays {
		if !strings.Contains(logs.String(), "stray tenant container removed") || !strings.Contains(logs.String(), "account="+slug) {
			t.Errorf("no log line for the removal of %s's container", slug)
		}
	}
	if !strings.Contains(logs.String(), "account="+foreign) {
		t.Errorf("the foreign container was not reported")
	}

	if m := metrics(); !strings.Contains(m, `tenantpool_stray_containers{verdict="stray"} 3`) ||
		!strings.Contains(m, `tenantpool_stray_containers{verdict="young"} 0`) {
		t.Errorf("stray gauges:\n%s", grep(m, "stray"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
