package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/axiestudio/tenantpool/pool"
)

// DefaultCapacityTTL is how long one capacity report serves scrapes (it may read the platform
// stack's host list).
const DefaultCapacityTTL = 30 * time.Second

// WithCapacity adds the ready target and capacity gauges, from a report read at most once per
// ttl (≤ 0: DefaultCapacityTTL).
func WithCapacity(read func(ctx context.Context) (pool.Capacity, error), ttl time.Duration) Option {
	return func(c *collector) {
		if ttl <= 0 {
			ttl = DefaultCapacityTTL
		}
		c.capacity = &capCollector{read: read, ttl: ttl, parent: c}
	}
}

var (
	dTarget    = prometheus.NewDesc("tenantpool_tier_ready_target", "The ready target in effect: min_ready, or ready: auto's from the sales rate, the mean provisioning time and the stock-out risk.", []string{"tier"}, nil)
	dSalesRate = prometheus.NewDesc("tenantpool_tier_sales_per_hour", "Sales per hour over the tier's sales windows (the higher of window and burst_window).", []string{"tier"}, nil)
	dLeadP95   = prometheus.NewDesc("tenantpool_provision_p95_seconds", "p95 created-to-ready time of the tier's last ready accounts (pool and order).", []string{"tier"}, nil)
	dRefill    = prometheus.NewDesc("tenantpool_refill_seconds_estimate", "Time to bring the ready count up to the target: missing accounts, max_in_flight at a time, p95 each.", []string{"tier"}, nil)
	dShort     = prometheus.NewDesc("tenantpool_refill_short", "1 when the tier's pool cannot be refilled within refill_within (hosts' free capacity or max_in_flight).", []string{"tier"}, nil)
	dExhausted = prometheus.NewDesc("tenantpool_capacity_exhausted", "1 when the hosts' free places do not hold what the pools need.", nil, nil)
	dFree      = prometheus.NewDesc("tenantpool_hosts_free_places", "Free tenant places on the hosts (capacity minus live accounts, unplaced ones included).", nil, nil)
	dFullHours = prometheus.NewDesc("tenantpool_hosts_full_hours", "Forecast: hours until the hosts are full at the current sales rate (+Inf without sales).", nil, nil)
)

// capCollector serves the capacity gauges from a report read at most once per ttl (its clock
// and error counter are the main collector's).
type capCollector struct {
	read   func(ctx context.Context) (pool.Capacity, error)
	ttl    time.Duration
	parent *collector

	mu     sync.Mutex
	readAt time.Time
	report pool.Capacity
	err    error
}

func (c *capCollector) get() (pool.Capacity, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.parent.now(); c.readAt.IsZero() || now.Sub(c.readAt) >= c.ttl || now.Before(c.readAt) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c.report, c.err = c.read(ctx)
		cancel()
		c.readAt = c.parent.now()
		if c.err != nil {
			c.parent.errors.Inc()
			c.parent.log.Error("metrics scrape: capacity", "err", c.err)
		}
	}
	return c.report, c.err
}

func (c *capCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dTarget, dSalesRate, dLeadP95, dRefill, dShort, dExhausted, dFree, dFullHours} {
		ch <- d
	}
}

func (c *capCollector) Collect(ch chan<- prometheus.Metric) {
	r, err := c.get()
	if err != nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, t := range r.Tiers {
		gauge(dTarget, float64(t.Target.Ready), t.Tier)
		gauge(dSalesRate, t.Rate, t.Tier)
		gauge(dLeadP95, t.Lead.Seconds(), t.Tier)
		gauge(dRefill, t.Estimate.Seconds(), t.Tier)
		gauge(dShort, b2f(t.Short), t.Tier)
	}
	if r.HostsKnown {
		gauge(dExhausted, b2f(r.Exhausted))
		gauge(dFree, float64(r.Free))
		gauge(dFullHours, r.FullInHours())
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
