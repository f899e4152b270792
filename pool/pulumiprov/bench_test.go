package pulumiprov_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
)

// BenchmarkProvision provisions b.N tenants on the real engine (file backend, provider-free
// program, Langflow doubles) with the engine bounded at 1, 2 and 4. One op is one tenant made
// ready, so ns/op at concurrency 1 is the per-stack overhead; tenants/min is the throughput.
// Run with a fixed count, e.g. -benchtime 8x: every op is a real stack.
func BenchmarkProvision(b *testing.B) {
	for _, c := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) {
			ts := newTenants(b)
			p, _ := newProvisioner(b, ts, options{concurrency: c, hosts: []platform.Host{host("local", b.N+1)}})
			accounts := make([]pool.Account, b.N)
			for i := range accounts {
				accounts[i] = account(int64(i+1), fmt.Sprintf("bench%03d", i+1))
				ts.server(accounts[i])
			}
			var next atomic.Int64
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			var wg sync.WaitGroup
			for range c {
				wg.Go(func() {
					for i := next.Add(1) - 1; i < int64(len(accounts)); i = next.Add(1) - 1 {
						if _, err := p.Provision(b.Context(), accounts[i], testTier()); err != nil {
							b.Error(err)
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Minutes(), "tenants/min")
			// CPU of this process and of the CLI processes it ran: what bounds throughput on a
			// small machine.
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/tenant")
		})
	}
}

// cpuTime is user+system time of this process and its waited-for children.
func cpuTime() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}
