package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

const adminToken = "replica-test-admin-token-0123456789ABCDEF"

func readyz(addr string) map[string]string {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var st map[string]string
	json.NewDecoder(resp.Body).Decode(&st)
	return st
}

func leaders(ds []*poold) []*poold {
	var out []*poold
	for _, d := range ds {
		select {
		case <-d.done:
			continue
		default:
		}
		if readyz(d.addr)["reconciler"] == "leading" {
			out = append(out, d)
		}
	}
	return out
}

// TestReplicasOnePostgres runs three real daemons on one PostgreSQL: exactly one reconciles;
// when it is killed another takes over within a schedule interval and provisioning goes on with
// no account made twice; 10,000 claims spread over the replicas never sell an account twice.
func TestReplicasOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real daemon processes")
	}
	dbURL := storetest.SchemaURL(t, storetest.RequirePostgres(t))
	dir := t.TempDir()
	cfg := filepath.Join(dir, "poold.yaml")
	os.WriteFile(cfg, []byte(`tiers:
  - {name: basic, min_ready: 30, max_total: 40, max_in_flight: 3, memory_mb: 512, cpus: 1}
  - {name: bulk, min_ready: 0, max_total: 20000, max_in_flight: 1, memory_mb: 512, cpus: 1}
`), 0o600)
	keyB64 := base64.StdEncoding.EncodeToString(storetest.Key) // the same sealing key on every replica
	env := func(i int) []string {
		return []string{"POOL_DATABASE_URL=" + dbURL, "POOL_DATA_DIR=" + filepath.Join(dir, fmt.Sprint("replica", i)),
			"POOL_CONFIG=" + cfg, "POOL_SEALING_KEY=" + keyB64, "POOL_ADMIN_TOKEN=" + adminToken, "POOL_LOG_FORMAT=json"}
	}
	var ds []*poold
	for i := range 3 {
		ds = append(ds, startDaemon(t, env(i), "--reconcile-schedule", "@every 1s"))
	}
	waitUntil := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				var logs strings.Builder
				for i, d := range ds {
					fmt.Fprintf(&logs, "--- replica %d\n%s", i, d.logs.String())
				}
				t.Fatalf("timed out waiting for %s\n%s", what, logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitUntil("one leader", 15*time.Second, func() bool { return len(leaders(ds)) == 1 })
	for range 5 { // and only one, tick after tick
		if n := len(leaders(ds)); n != 1 {
			t.Fatalf("%d leaders", n)
		}
		time.Sleep(200 * time.Millisecond)
	}

	st, err := store.Open(context.Background(), store.Options{DatabaseURL: dbURL, Key: storetest.Key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	count := func(q string) int {
		var n int
		if err := st.DB().QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Kill the leader while the pool is being filled.
	waitUntil("provisioning under way", 15*time.Second, func() bool { return count("SELECT COUNT(*) FROM accounts") > 0 })
	old := leaders(ds)[0]
	old.kill()
	killedAt := time.Now()
	waitUntil("a new leader", 10*time.Second, func() bool { return len(leaders(ds)) == 1 })
	if took := time.Since(killedAt); took > 3*time.Second {
		t.Errorf("takeover took %s, want within about one schedule interval (1s)", took)
	}
	waitUntil("the pool filled by the new leader", 30*time.Second, func() bool {
		return count("SELECT COUNT(*) FROM accounts WHERE tier = 'basic' AND state = 'ready'") == 30
	})
	time.Sleep(2 * time.Second) // a few more ticks: nothing more is made
	if n := count("SELECT COUNT(*) FROM accounts WHERE tier = 'basic'"); n != 30 {
		t.Fatalf("%d basic accounts, want exactly 30 (min_ready): an account was made twice", n)
	}
	// One provisioning job per account, none failed. (A job the killed leader finished may still
	// read "running": river records completions in batches, and a SIGKILL can land before the
	// batch. River's rescuer retries it later; the account is ready, so the retry does nothing.)
	if n := count("SELECT COUNT(*) FROM river_job WHERE kind = 'provision'"); n != 30 {
		t.Errorf("%d provisioning jobs, want 30 (one per account)", n)
	}
	if n := count("SELECT COUNT(*) FROM river_job WHERE kind = 'provision' AND state NOT IN ('completed', 'running')"); n != 0 {
		t.Errorf("%d provisioning jobs neither completed nor running: an attempt failed", n)
	}

	// 10,000 ready accounts of the bulk tier, then 10,000 claims over the live replicas.
	for left := 10000; left > 0; left -= 1000 {
		if _, err := st.CreateAccounts(context.Background(), "bulk", "bulk", min(left, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.DB().Exec("DELETE FROM river_job WHERE kind = 'provision' AND state <> 'completed'"); err != nil {
		t.Fatal(err)
	}
	// Made as the daemon makes them: of the tier's current generation, or the ready pool refresh
	// would retire them as stale (min_ready 0 keeps none of an older generation).
	alive := ds[0]
	if alive == old {
		alive = ds[1]
	}
	gen := currentGeneration(t, alive.addr, "bulk")
	if _, err := st.DB().Exec("UPDATE accounts SET state = 'ready', url = 'https://' || slug || '.example.test', generation = $1 WHERE tier = 'bulk'", gen); err != nil {
		t.Fatal(err)
	}
	// The killed replica comes back (as a new process): three serve again, one still leads.
	var live []*poold
	for _, d := range ds {
		if d != old {
			live = append(live, d)
		}
	}
	back := startDaemon(t, env(3), "--reconcile-schedule", "@every 1s")
	ds, live = append(ds, back), append(live, back)
	time.Sleep(1500 * time.Millisecond)
	if n := len(leaders(live)); n != 1 {
		t.Fatalf("%d leaders after the restart, want 1", n)
	}
	const claims = 10000
	type result struct {
		order string
		id    int64
	}
	results := make(chan result, claims)
	next := make(chan int)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 16 {
		wg.Go(func() {
			for i := range next {
				d := live[(i+w)%len(live)]
				body, _ := json.Marshal(map[string]string{"order": fmt.Sprintf("ord-%05d", i), "tier": "bulk"})
				req, _ := http.NewRequest(http.MethodPost, "http://"+d.addr+"/admin/v1/claim", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+adminToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("claim %d: %v", i, err)
					continue
				}
				var out struct {
					Account struct {
						ID int64 `json:"id"`
					} `json:"account"`
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &out) != nil {
					t.Errorf("claim %d: %d %s", i, resp.StatusCode, b)
					continue
				}
				results <- result{fmt.Sprintf("ord-%05d", i), out.Account.ID}
			}
		})
	}
	start := time.Now()
	for i := range claims {
		next <- i
	}
	close(next)
	wg.Wait()
	close(results)
	elapsed := time.Since(start)
	seen := map[int64]string{}
	for r := range results {
		if prev, dup := seen[r.id]; dup {
			t.Fatalf("account %d sold to %s and %s", r.id, prev, r.order)
		}
		seen[r.id] = r.order
	}
	if len(seen) != claims {
		t.Fatalf("%d distinct accounts claimed, want %d", len(seen), claims)
	}
	if n := count("SELECT COUNT(DISTINCT order_id) FROM accounts WHERE tier = 'bulk' AND state = 'claimed'"); n != claims {
		t.Fatalf("%d claimed bulk accounts in the store, want %d", n, claims)
	}
	t.Logf("%d claims over %d replicas in %s (%.0f/s), zero duplicates", claims, len(live), elapsed.Round(time.Millisecond), claims/elapsed.Seconds())
}

// currentGeneration asks a daemon what it builds tier's accounts with now.
func currentGeneration(t *testing.T, addr, tier string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/admin/v1/generations", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Current map[string]string `json:"current"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Current[tier] == "" {
		t.Fatalf("GET /admin/v1/generations: status %d, current %v, %v", resp.StatusCode, out.Current, err)
	}
	return out.Current[tier]
}
