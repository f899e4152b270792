package pooltest

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/axiestudio/tenantpool/pool/control"
)

// FastRetry retries a failed job after 10ms, so failure paths finish in a test's time.
type FastRetry struct{}

// NextRetry implements river.ClientRetryPolicy.
func (FastRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(10 * time.Millisecond) }

// StartJobs starts a real river job client with the pool's workers (and whatever cfg.Configure
// adds) on driver's database; it is stopped when the test ends. Unset fields get test-friendly
// values: FastRetry and a 20ms poll.
func StartJobs(t testing.TB, driver riverdriver.Driver[*sql.Tx], cfg control.WorkerConfig) *river.Client[*sql.Tx] {
	t.Helper()
	if cfg.RetryPolicy == nil {
		cfg.RetryPolicy = FastRetry{}
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	c, err := control.NewJobClient(driver, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		c.StopAndCancel(sctx)
		cancel()
	})
	return c
}
