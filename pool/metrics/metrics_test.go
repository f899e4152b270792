package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/metrics"
	"github.com/axiestudio/tenantpool/pool/store"
)

// countingSource counts the aggregate reads; each read takes a while, as a busy database's
// would, so concurrent scrapes overlap it.
type countingSource struct {
	reads atomic.Int32
	fail  atomic.Bool
}

func (c *countingSource) Stats(ctx context.Context) (store.Stats, error) {
	n := c.reads.Add(1)
	time.Sleep(20 * time.Millisecond)
	if c.fail.Load() {
		return store.Stats{}, errors.New("database unreachable")
	}
	return store.Stats{Accounts: map[string]map[string]int{"basic": {"ready": int(n)}}}, nil
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A flood of concurrent scrapes within one cache interval reads the database once; the next
// interval reads it once more; failed reads are cached (and counted) the same way.
func TestScrapeFloodReadsTheStoreOncePerInterval(t *testing.T) {
	src := &countingSource{}
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tiers, err := pool.NewTiers(pool.DefaultTiers())
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(src, tiers, 10, slog.New(slog.DiscardHandler), metrics.WithCacheTTL(5*time.Second), metrics.WithClock(clk.Now))
	srv := httptest.NewServer(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	defer srv.Close()
	scrape := func() string {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Error(err)
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	flood := func(n int) []string {
		out := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { out[i] = scrape() })
		}
		wg.Wait()
		return out
	}

	for _, body := range flood(50) {
		if !strings.Contains(body, `tenantpool_accounts{state="ready",tier="basic"} 1`) {
			t.Fatalf("a scrape did not get the first read's figures:\n%s", body)
		}
	}
	if n := src.reads.Load(); n != 1 {
		t.Fatalf("50 concurrent scrapes made %d reads, want 1", n)
	}
	clk.Add(4 * time.Second)
	flood(20)
	if n := src.reads.Load(); n != 1 {
		t.Fatalf("scrapes within the interval made %d reads, want 1", n)
	}
	clk.Add(time.Second)
	for _, body := range flood(20) {
		if !strings.Contains(body, `tenantpool_accounts{state="ready",tier="basic"} 2`) {
			t.Fatalf("a scrape after the interval did not get the second read:\n%s", body)
		}
	}
	if n := src.reads.Load(); n != 2 {
		t.Fatalf("after the interval: %d reads, want 2", n)
	}

	src.fail.Store(true)
	clk.Add(5 * time.Second)
	flood(20)
	if n := src.reads.Load(); n != 3 {
		t.Fatalf("failing database: %d reads, want 3", n)
	}
	if body := scrape(); !strings.Contains(body, "tenantpool_scrape_errors_total 1") || strings.Contains(body, "tenantpool_accounts{") {
		t.Fatalf("a failed read: want one scrape error and no account figures:\n%s", body)
	}
}
