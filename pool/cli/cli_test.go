package cli_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/internal/testtool"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/cli"
	"github.com/axiestudio/tenantpool/pool/daemon"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/secret"
	"github.com/axiestudio/tenantpool/pool/store"
)

type harness struct {
	t    *testing.T
	real bool // the production provisioner (Pulumi), not the double
	// noDocker: no Docker Engine is ever dialled (hosts at documentation addresses)
	noDocker bool
	dir      string
	public   string // the public listener of the last serve
	env      map[string]string
	prov     *pooltest.Provisioner
	logs     testtool.SyncBuffer // every command's stderr, for the secrets check
}

func newHarness(t *testing.T) *harness {
	dir := t.TempDir()
	return &harness{t: t, dir: dir, env: map[string]string{"POOL_DATA_DIR": dir, "POOL_LOG_FORMAT": "json"}, prov: &pooltest.Provisioner{}}
}

func (h *harness) options() []cli.Option {
	opts := []cli.Option{cli.WithJobConfig(func(c *daemon.Jobs) {
		c.RetryPolicy, c.PollInterval = pooltest.FastRetry{}, 50*time.Millisecond
		c.Registry = jobs.Default().Tuned(func(_ string, p *jobs.Policy) { p.MaxAttempts = 2 })
	})}
	if h.noDocker {
		opts = append(opts, cli.WithoutDocker())
	}
	if !h.real {
		opts = append(opts, cli.WithTenants(func(context.Context, *cli.Env, *store.Store) (pool.Tenants, error) { return h.prov, nil }))
	}
	return opts
}

// run executes poold with args and returns stdout and the error.
func (h *harness) run(ctx context.Context, args ...string) (string, error) {
	h.t.Helper()
	var out bytes.Buffer
	err := cli.Run(ctx, args, func(k string) string { return h.env[k] }, &out, &h.logs, h.options()...)
	return out.String(), err
}

// serve starts `poold serve` in this process on free ports and waits until /readyz answers
// 200 and ready (if given) accepts its JSON; addr is the admin listener's (readyz, metrics, the
// admin API), h.public the public one's; stop cancels the daemon and checks it exited cleanly.
func (h *harness) serve(ready func(status map[string]string) bool, args ...string) (addr string, stop func()) {
	h.t.Helper()
	addr, h.public = freePort(h.t), freePort(h.t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.run(ctx, append([]string{"serve", "--listen", h.public, "--admin-listen", addr}, args...)...)
		done <- err
	}()
	stop = func() {
		h.t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Fatalf("serve returned %v", err)
			}
		case <-time.After(30 * time.Second):
			h.t.Fatal("serve did not stop on cancel")
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st := readyz(addr); st != nil && st["database"] == "ok" && (ready == nil || ready(st)) {
			return addr, stop
		}
		select {
		case err := <-done:
			h.t.Fatalf("serve exited: %v\n%s", err, h.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("daemon not ready:\n%s", h.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) mustRun(args ...string) string {
	h.t.Helper()
	out, err := h.run(context.Background(), args...)
	if err != nil {
		h.t.Fatalf("poold %s: %v\nlogs:\n%s", strings.Join(args, " "), err, h.logs.String())
	}
	return out
}

func (h *harness) list(args ...string) []map[string]any {
	h.t.Helper()
	var rows []map[string]any
	if err := json.Unmarshal([]byte(h.mustRun(append([]string{"list", "--json"}, args...)...)), &rows); err != nil {
		h.t.Fatal(err)
	}
	return rows
}

func TestBatchCreateAndClaimNeverLogSecrets(t *testing.T) {
	h := newHarness(t)
	out := h.mustRun("--log-level", "debug", "batch", "create", "--count", "5", "--tier", "premium", "--prefix", "acme")
	if !strings.Contains(out, "5 ready, 0 failed") {
		t.Fatalf("batch output:\n%s", out)
	}
	rows := h.list("--state", "ready")
	if len(rows) != 5 || rows[0]["slug"] != "acme01" || rows[4]["slug"] != "acme05" {
		t.Fatalf("ready accounts = %v", rows)
	}
	claim := h.mustRun("--log-level", "debug", "claim", "--order", "manual-1", "--tier", "premium")
	again := h.mustRun("claim", "--order", "manual-1", "--tier", "premium")
	if claim != again {
		t.Fatalf("the same order got different output:\n%s\n%s", claim, again)
	}
	// Secrets go to the operator's stdout when asked (claim), never to a log line.
	secrets := passwords(t, h)
	if len(secrets) != 15 {
		t.Fatalf("found %d secrets, want 15", len(secrets))
	}
	if !strings.Contains(claim, "password: ") || !strings.Contains(claim, "order:    manual:manual-1\n") {
		t.Fatalf("claim printed no credentials, or not its manual order:\n%s", claim)
	}
	// The password printed is the claim's own, rotated at the tenant once, and stored.
	sold := h.list("--state", "claimed")
	if len(sold) != 1 || sold[0]["order_id"] != "manual:manual-1" {
		t.Fatalf("claimed accounts = %v", sold)
	}
	if n := h.prov.Rotated(sold[0]["slug"].(string)); n != 1 {
		t.Fatalf("%d rotations of the claimed account, want 1", n)
	}
	printed := claim[strings.Index(claim, "password: ")+len("password: "):]
	printed = strings.TrimSpace(printed)
	if !slices.Contains(secrets, printed) {
		t.Fatal("the printed password is not the stored one")
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "account claimed") || !strings.Contains(logs, "account ready") {
		t.Fatalf("logs miss the events they should carry:\n%s", logs)
	}
	for _, sec := range secrets {
		if strings.Contains(logs, sec) {
			t.Fatalf("a generated secret appears in the logs")
		}
	}
}

// passwords returns every secret the store generated, read back with the data dir's key.
func passwords(t *testing.T, h *harness) []string {
	t.Helper()
	keyring, err := secret.ReadKeyFile(filepath.Join(h.dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), store.Options{DataDir: h.dir, Keyring: keyring})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	as, err := s.List(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.OperatorPassword, a.CustomerPassword, a.SecretKey)
	}
	return out
}

func TestExportReservesAccountsWithMode0600(t *testing.T) {
	h := newHarness(t)
	h.mustRun("batch", "create", "--count", "3", "--tier", "basic")
	path := filepath.Join(t.TempDir(), "accounts.csv")
	out := h.mustRun("export", "--csv", path, "--tier", "basic", "--count", "2")
	if !strings.Contains(out, "exported 2 accounts") {
		t.Fatalf("export output: %s", out)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || strings.Join(recs[0], ",") != "username,password,url,tier,state" || recs[1][4] != "reserved" || len(recs[1][1]) < 24 {
		t.Fatalf("csv = %q", recs)
	}
	if n := len(h.list("--state", "reserved")); n != 2 {
		t.Fatalf("reserved = %d, want 2", n)
	}
	// Reserved accounts are never sold: one claim works, the next finds the pool empty.
	h.mustRun("claim", "--order", "o1", "--tier", "basic")
	if _, err := h.run(context.Background(), "claim", "--order", "o2", "--tier", "basic"); err == nil || !strings.Contains(err.Error(), "no ready account") {
		t.Fatalf("claim after export: %v", err)
	}
	// The file is never overwritten.
	if _, err := h.run(context.Background(), "export", "--csv", path); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("export over an existing file: %v", err)
	}
	// Nothing left to export: nothing written.
	empty := filepath.Join(t.TempDir(), "none.csv")
	if _, err := h.run(context.Background(), "export", "--csv", empty, "--all"); err == nil || !strings.Contains(err.Error(), "no ready account") {
		t.Fatalf("empty export: %v", err)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Fatal("empty export left a file")
	}
}

// Exporting reserves accounts for good, so the whole pool goes only when asked for: without
// --count or --all nothing is reserved; --all exports every ready account of every tier.
func TestExportAllOnlyWhenAskedFor(t *testing.T) {
	h := newHarness(t)
	h.mustRun("batch", "create", "--count", "2", "--tier", "basic")
	h.mustRun("batch", "create", "--count", "1", "--tier", "premium")
	path := filepath.Join(t.TempDir(), "accounts.csv")
	if _, err := h.run(context.Background(), "export", "--csv", path); err == nil || !strings.Contains(err.Error(), "--count or --all: required") {
		t.Fatalf("export without --count or --all: %v", err)
	}
	if n := len(h.list("--state", "ready")); n != 3 {
		t.Fatalf("a refused export reserved accounts: %d ready, want 3", n)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("a refused export wrote the file")
	}
	if out := h.mustRun("export", "--csv", path, "--all"); !strings.Contains(out, "exported 3 accounts") {
		t.Fatalf("export --all: %s", out)
	}
	if n := len(h.list("--state", "reserved")); n != 3 {
		t.Fatalf("reserved = %d, want all 3", n)
	}
}

func TestBadInputIsRejectedAndChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.mustRun("batch", "create", "--count", "1", "--tier", "basic")
	before := h.list()
	badConfig := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(badConfig, []byte("tiers:\n  - name: basic\n    min_ready: 1\n    max_totl: 3\n"), 0o600)
	existing := filepath.Join(t.TempDir(), "exists.csv")
	os.WriteFile(existing, nil, 0o600)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"batch", "create", "--count", "0"}, "between 1 and 500"},
		{[]string{"batch", "create", "--count", "501"}, "between 1 and 500"},
		{[]string{"batch", "create", "--count", "2", "--tier", "gold"}, "unknown tier"},
		{[]string{"batch", "create", "--count", "2", "--prefix", "Bad_Prefix"}, "invalid slug prefix"},
		{[]string{"batch", "create", "--count", "2", "--timeout", "soon"}, "invalid duration"},
		{[]string{"batch", "create", "--count", "x"}, "invalid argument"},
		{[]string{"batch", "create"}, "required flag"},
		{[]string{"list", "--state", "sold"}, "unknown state"},
		{[]string{"list", "--tier", "gold"}, "unknown tier"},
		{[]string{"export"}, "--csv FILE is required"},
		{[]string{"export", "--csv", existing}, "exists"},
		{[]string{"export", "--csv", "x.csv", "--tier", "gold", "--all"}, "unknown tier"},
		{[]string{"export", "--csv", "x.csv"}, "--count or --all: required"},
		{[]string{"export", "--csv", "x.csv", "--tier", "basic"}, "--count or --all: required"},
		{[]string{"export", "--csv", "x.csv", "--count", "1", "--all"}, "--count or --all: give one, not both"},
		{[]string{"export", "--csv", "x.csv", "--count", "-1"}, "--count -1: must be ≥ 1"},
		{[]string{"claim", "--tier", "basic"}, "--order: required"},
		{[]string{"claim", "--order", "o", "--tier", "gold"}, "unknown tier"},
		{[]string{"claim", "--order", "cs_test_a1", "--tier", "basic"}, "Stripe Checkout Session"},
		{[]string{"retire", "client99"}, "not found"},
		{[]string{"retire"}, "accepts 1 arg"},
		{[]string{"pause", "gold"}, "unknown tier"},
		{[]string{"serve", "--reconcile-schedule", "every now and then"}, "invalid schedule"},
		{[]string{"serve", "--provision-concurrency", "0"}, "between 1 and 64"},
		{[]string{"serve", "--listen", "nowhere"}, "--listen"},
		{[]string{"--log-level", "loud", "status"}, "--log-level"},
		{[]string{"--database-url", "mysql://db", "status"}, "postgres://"},
		{[]string{"--database-max-conns", "0", "status"}, "between 1 and 1000"},
		{[]string{"--config", badConfig, "status"}, "max_totl"},
		{[]string{"--config", "/nonexistent.yaml", "status"}, "no such file"},
		{[]string{"frobnicate"}, "unknown command"},
	}
	for _, c := range cases {
		_, err := h.run(context.Background(), c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("poold %s: err = %v, want it to mention %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	after := h.list()
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("bad input changed the store:\nbefore %v\nafter  %v", before, after)
	}
	if _, err := os.Stat("x.csv"); !os.IsNotExist(err) {
		t.Fatal("a rejected export wrote a file")
	}
}

func TestStatusPauseResumeRetire(t *testing.T) {
	h := newHarness(t)
	h.mustRun("batch", "create", "--count", "2", "--tier", "enterprise")
	h.mustRun("pause", "enterprise")
	var rows []admin.TierStatus
	if err := json.Unmarshal([]byte(h.mustRun("status", "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[1].Tier != "enterprise" || rows[1].Counts["ready"] != 2 || !rows[1].Paused || rows[1].MinReady != 1 {
		t.Fatalf("status = %+v", rows)
	}
	table := h.mustRun("status")
	if !strings.Contains(table, "enterprise") || !strings.Contains(table, "paused") {
		t.Fatalf("status table:\n%s", table)
	}
	// The generations: both batch accounts run the double's generation "test".
	if !regexp.MustCompile(`(?m)^enterprise\s+test\s+2\s+ready 2$`).MatchString(table) {
		t.Fatalf("status table without its generations:\n%s", table)
	}
	h.mustRun("resume", "enterprise")
	h.mustRun("retire", "client01")
	h.mustRun("retire", "2")
	json.Unmarshal([]byte(h.mustRun("status", "--json")), &rows)
	if rows[1].Paused || rows[1].Counts["retired"] != 2 || rows[1].Counts["ready"] != 0 {
		t.Fatalf("after resume and retire: %+v", rows[1])
	}
	if _, err := h.run(context.Background(), "retire", "client01"); err == nil || !strings.Contains(err.Error(), "illegal state transition") {
		t.Fatalf("retiring twice: %v", err)
	}
	list := h.mustRun("list")
	if !strings.Contains(list, "client02") || !strings.Contains(list, "retired") {
		t.Fatalf("list table:\n%s", list)
	}
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestServeFillsThePoolAndOneDaemonPerDataDir(t *testing.T) {
	h := newHarness(t)
	cfg := filepath.Join(t.TempDir(), "poold.yaml")
	os.WriteFile(cfg, []byte(`slug_prefix: demo
tiers:
  - {name: basic, min_ready: 3, max_total: 5, max_in_flight: 2, memory_mb: 512, cpus: 1}
`), 0o600)
	h.env["POOL_CONFIG"] = cfg
	_, stop := h.serve(nil, "--reconcile-schedule", "@every 1s")
	deadline := time.Now().Add(30 * time.Second)
	if _, err := h.run(context.Background(), "serve", "--listen", freePort(t)); err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Fatalf("second daemon on the same data dir: %v", err)
	}
	for len(h.list("--state", "ready")) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("pool not filled:\n%s", h.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	rows := h.list()
	if len(rows) != 3 || rows[0]["slug"] != "demo01" {
		t.Fatalf("accounts = %v (never more than min_ready)", rows)
	}
	stop()
}
