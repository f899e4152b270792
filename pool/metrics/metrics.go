// Package metrics exposes tenantpool's Prometheus metrics. Gauges and lifetime counters are read
// from the database at scrape time (so every replica reports the same figures and nothing resets
// on restart), at most once per cache interval (DefaultCacheTTL) whatever the number of
// concurrent scrapes, so a scrape flood cannot queue the store's writers; latencies are
// histograms observed in this process.
//
// Metric names (all prefixed tenantpool_):
//
//	accounts{tier,state}                    gauge   accounts per tier and lifecycle state
//	tier_desired_ready{tier}                gauge   min_ready target
//	tier_max_total{tier}                    gauge   max_total target
//	tier_paused{tier}                       gauge   1 when the operator paused the tier
//	tier_hard_limited{tier}                 gauge   1 when consecutive failures reached the hard limit
//	tier_consecutive_failures{tier}         gauge   current provisioning failure streak
//	provisioned_total{tier}                 counter accounts that ever became ready
//	provision_failures_total{tier}          counter accounts that never became ready and are gone
//	provision_attempt_failures_total{tier}  counter failed provisioning attempts in this process (retried or final)
//	claims_total{tier}                      counter accounts ever claimed
//	orders{state}                           gauge   orders per state (pending, claimed, delivered)
//	orders_total                            counter orders ever received
//	emails_sent_total                       counter e-mails the SMTP server accepted
//	emails_failed_total{kind}               counter failed e-mail attempts in this process
//	claim_duration_seconds{tier}            histogram one claim, as the caller saw it
//	provision_duration_seconds{tier}        histogram one successful provisioning attempt
//	paid_to_email_seconds{kind}             histogram order received → e-mail accepted by SMTP
//	accounts_flagged                        gauge   sold tenants the health probe flagged for the operator
//	probe_events_total{kind}                counter probe events in this process (probe_failed, reapplied, reapply_failed, flagged, recovered)
//	reconcile_leader                        gauge   1 while this process leads the reconcile
//	stray_containers{verdict}               gauge   managed containers the last stray pass did not find live (stray, young, foreign, unexpected)
//	stray_containers_removed_total          counter stray containers the stray pass removed in this process
//	scrape_errors_total                     counter database reads that failed during a scrape (one per cache interval at most)
//
// With WithBusiness, the business figures (pool/business) that are gauges, computed at most once
// per its own cache interval (DefaultBusinessTTL: they read every order):
//
//	mrr_cents{tier,interval}                gauge   monthly recurring revenue, minor units (cents) of the prices' currency
//	arr_cents{tier,interval}                gauge   annual recurring revenue (12 × MRR), minor units
//	subscriptions_active                    gauge   paying subscriptions
//	churn_rate                              gauge   subscriptions ended in the last 30 days ÷ paying 30 days ago
//
// With WithCapacity, the ready targets and capacity signals (pool.PlanCapacity), read at most
// once per DefaultCapacityTTL:
//
//	tier_ready_target{tier}                 gauge   the ready target in effect (min_ready, or ready: auto's)
//	tier_sales_per_hour{tier}               gauge   sales rate over the tier's windows
//	provision_p95_seconds{tier}             gauge   p95 created → ready of the tier's last ready accounts
//	refill_seconds_estimate{tier}           gauge   time to bring the ready count up to the target
//	refill_short{tier}                      gauge   1 when the pool cannot be refilled within refill_within
//	capacity_exhausted                      gauge   1 when the hosts' free places do not hold what the pools need (hosts known)
//	hosts_free_places                       gauge   free tenant places on the hosts (hosts known)
//	hosts_full_hours                        gauge   forecast: hours until the hosts are full at the current sales rate, +Inf without sales (hosts known)
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/business"
	"github.com/axiestudio/tenantpool/pool/store"
)

// Source is what the collector reads at scrape time.
type Source interface {
	Stats(ctx context.Context) (store.Stats, error)
}

// Metrics holds the registry and the in-process instruments.
type Metrics struct {
	Registry *prometheus.Registry

	claim, provision, paidToEmail *prometheus.HistogramVec
	attemptFailures, emailsFailed *prometheus.CounterVec
	probeEvents                   *prometheus.CounterVec
	leader                        prometheus.Gauge
	strays                        *prometheus.GaugeVec
	straysRemoved                 prometheus.Counter
}

// DefaultCacheTTL is how long one read of the database serves scrapes.
const DefaultCacheTTL = 5 * time.Second

// Option changes New's defaults.
type Option func(*collector)

// WithCacheTTL sets how long one read of the database serves scrapes (≤ 0: DefaultCacheTTL).
func WithCacheTTL(d time.Duration) Option {
	return func(c *collector) {
		if d > 0 {
			c.ttl = d
		}
	}
}

// WithClock replaces the cache's clock (tests).
func WithClock(now func() time.Time) Option { return func(c *collector) { c.now = now } }

// BusinessSource gives the business figures (business.Service).
type BusinessSource interface {
	Report(ctx context.Context) (business.Report, error)
}

// DefaultBusinessTTL is how long one computation of the business figures serves scrapes.
const DefaultBusinessTTL = time.Minute

// WithBusiness adds the business gauges, computed from src at most once per ttl (≤ 0:
// DefaultBusinessTTL).
func WithBusiness(src BusinessSource, ttl time.Duration) Option {
	return func(c *collector) {
		if ttl <= 0 {
			ttl = DefaultBusinessTTL
		}
		c.biz = &bizCollector{src: src, tiers: c.tiers, ttl: ttl, errors: c.errors, parent: c}
	}
}

// New registers every tenantpool metric (and the Go/process collectors) on a new registry.
// hardLimit is the reconciler's consecutive-failure limit (for tier_hard_limited).
func New(src Source, tiers pool.Tiers, hardLimit int, log *slog.Logger, opts ...Option) *Metrics {
	col := &collector{src: src, tiers: tiers, hardLimit: hardLimit, log: log, ttl: DefaultCacheTTL, now: time.Now,
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tenantpool_scrape_errors_total", Help: "Database reads that failed during a scrape."})}
	for _, o := range opts {
		o(col)
	}
	reg := prometheus.NewRegistry()
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	m := &Metrics{
		Registry: reg,
		claim: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tenantpool_claim_duration_seconds",
			Help: "Duration of one claim as the caller saw it.", Buckets: buckets}, []string{"tier"}),
		provision: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tenantpool_provision_duration_seconds",
			Help: "Duration of one successful provisioning attempt.", Buckets: []float64{1, 5, 10, 30, 60, 120, 300, 600, 1200}}, []string{"tier"}),
		paidToEmail: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tenantpool_paid_to_email_seconds",
			Help: "Order received to e-mail accepted by the SMTP server.", Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600}}, []string{"kind"}),
		attemptFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantpool_provision_attempt_failures_total",
			Help: "Failed provisioning attempts in this process (retried or final)."}, []string{"tier"}),
		emailsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantpool_emails_failed_total",
			Help: "Failed e-mail attempts in this process."}, []string{"kind"}),
		probeEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantpool_probe_events_total",
			Help: "Health probe events in this process."}, []string{"kind"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tenantpool_reconcile_leader",
			Help: "1 while this process leads the reconcile."}),
		strays: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tenantpool_stray_containers",
			Help: "Managed tenant containers the last stray pass did not find live, by verdict."}, []string{"verdict"}),
		straysRemoved: prometheus.NewCounter(prometheus.CounterOpts{Name: "tenantpool_stray_containers_removed_total",
			Help: "Stray tenant containers the stray pass removed in this process."}),
	}
	reg.MustRegister(m.claim, m.provision, m.paidToEmail, m.attemptFailures, m.emailsFailed, m.probeEvents, m.leader,
		m.strays, m.straysRemoved, col,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	if col.biz != nil {
		reg.MustRegister(col.biz)
	}
	if col.capacity != nil {
		reg.MustRegister(col.capacity)
	}
	return m
}

// ObserveClaim records one claim.
func (m *Metrics) ObserveClaim(tier string, d time.Duration, err error) {
	if err == nil || errors.Is(err, pool.ErrPoolEmpty) {
		m.claim.WithLabelValues(tier).Observe(d.Seconds())
	}
}

// ObserveProvision records one provisioning attempt.
func (m *Metrics) ObserveProvision(tier string, d time.Duration, err error) {
	if err != nil {
		m.attemptFailures.WithLabelValues(tier).Inc()
		return
	}
	m.provision.WithLabelValues(tier).Observe(d.Seconds())
}

// ObserveEmail records one e-mail attempt; sincePaid is the time since the order arrived.
func (m *Metrics) ObserveEmail(kind string, sincePaid time.Duration, err error) {
	if err != nil {
		m.emailsFailed.WithLabelValues(kind).Inc()
		return
	}
	m.paidToEmail.WithLabelValues(kind).Observe(sincePaid.Seconds())
}

// ObserveProbeEvent counts one health probe event.
func (m *Metrics) ObserveProbeEvent(kind string) { m.probeEvents.WithLabelValues(kind).Inc() }

// ObserveStrays records one stray pass: how many containers it judged per verdict (every
// verdict it knows is set, zero included) and how many it removed.
func (m *Metrics) ObserveStrays(found map[string]int, verdicts []string, removed int) {
	for _, v := range verdicts {
		m.strays.WithLabelValues(v).Set(float64(found[v]))
	}
	m.straysRemoved.Add(float64(removed))
}

// SetLeader records whether this process leads the reconcile.
func (m *Metrics) SetLeader(leading bool) {
	if leading {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}

var (
	dAccounts        = prometheus.NewDesc("tenantpool_accounts", "Accounts per tier and lifecycle state.", []string{"tier", "state"}, nil)
	dDesired         = prometheus.NewDesc("tenantpool_tier_desired_ready", "The tier's min_ready target.", []string{"tier"}, nil)
	dMaxTotal        = prometheus.NewDesc("tenantpool_tier_max_total", "The tier's max_total target.", []string{"tier"}, nil)
	dPaused          = prometheus.NewDesc("tenantpool_tier_paused", "1 when the tier is paused.", []string{"tier"}, nil)
	dHardLimited     = prometheus.NewDesc("tenantpool_tier_hard_limited", "1 when the tier stopped creating after too many consecutive failures.", []string{"tier"}, nil)
	dFailures        = prometheus.NewDesc("tenantpool_tier_consecutive_failures", "Current provisioning failure streak.", []string{"tier"}, nil)
	dProvisioned     = prometheus.NewDesc("tenantpool_provisioned_total", "Accounts that ever became ready.", []string{"tier"}, nil)
	dProvisionFailed = prometheus.NewDesc("tenantpool_provision_failures_total", "Accounts that failed for good.", []string{"tier"}, nil)
	dClaims          = prometheus.NewDesc("tenantpool_claims_total", "Accounts ever claimed.", []string{"tier"}, nil)
	dOrders          = prometheus.NewDesc("tenantpool_orders", "Orders per state.", []string{"state"}, nil)
	dOrdersTotal     = prometheus.NewDesc("tenantpool_orders_total", "Orders ever received.", nil, nil)
	dEmailsSent      = prometheus.NewDesc("tenantpool_emails_sent_total", "E-mails the SMTP server accepted.", nil, nil)
	dFlagged         = prometheus.NewDesc("tenantpool_accounts_flagged", "Live (not retired) tenants the health probe flagged for the operator.", nil, nil)
)

type collector struct {
	src       Source
	tiers     pool.Tiers
	hardLimit int
	log       *slog.Logger
	errors    prometheus.Counter
	ttl       time.Duration
	now       func() time.Time
	biz       *bizCollector
	capacity  *capCollector

	// The last read and when it was made. Scrapes arriving while a read runs wait for it
	// (mu is held during the read) and share its result.
	mu     sync.Mutex
	readAt time.Time
	stats  store.Stats
	err    error
}

// read returns the store's figures, read again only when the last read (failed or not) is
// older than the cache interval.
func (c *collector) read() (store.Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); c.readAt.IsZero() || now.Sub(c.readAt) >= c.ttl || now.Before(c.readAt) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.stats, c.err = c.src.Stats(ctx)
		cancel()
		c.readAt = c.now()
		if c.err != nil {
			c.errors.Inc()
			c.log.Error("metrics scrape", "err", c.err)
		}
	}
	return c.stats, c.err
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dAccounts, dDesired, dMaxTotal, dPaused, dHardLimited, dFailures,
		dProvisioned, dProvisionFailed, dClaims, dOrders, dOrdersTotal, dEmailsSent, dFlagged} {
		ch <- d
	}
	c.errors.Describe(ch)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	defer c.errors.Collect(ch)
	st, err := c.read()
	if err != nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, name := range c.tiers.Names() {
		t, ts := c.tiers[name], st.Tiers[name]
		for _, state := range pool.States {
			gauge(dAccounts, float64(st.Accounts[name][string(state)]), name, string(state))
		}
		gauge(dDesired, float64(t.MinReady), name)
		gauge(dMaxTotal, float64(t.MaxTotal), name)
		gauge(dPaused, b2f(ts.Paused), name)
		gauge(dHardLimited, b2f(c.hardLimit > 0 && ts.ConsecutiveFailures >= c.hardLimit), name)
		gauge(dFailures, float64(ts.ConsecutiveFailures), name)
		counter(dProvisioned, float64(st.Totals[name].Provisioned), name)
		counter(dProvisionFailed, float64(st.Totals[name].Failed), name)
		counter(dClaims, float64(st.Totals[name].Claimed), name)
	}
	total := 0
	for _, state := range []string{"pending", "claimed", "delivered"} {
		gauge(dOrders, float64(st.Orders[state]), state)
	}
	for _, n := range st.Orders {
		total += n
	}
	counter(dOrdersTotal, float64(total))
	counter(dEmailsSent, float64(st.EmailsSent))
	gauge(dFlagged, float64(st.Flagged))
}

var (
	dMRR           = prometheus.NewDesc("tenantpool_mrr_cents", "Monthly recurring revenue in minor units (cents) of the prices' currency.", []string{"tier", "interval"}, nil)
	dARR           = prometheus.NewDesc("tenantpool_arr_cents", "Annual recurring revenue (12 x MRR) in minor units.", []string{"tier", "interval"}, nil)
	dSubscriptions = prometheus.NewDesc("tenantpool_subscriptions_active", "Paying subscriptions.", nil, nil)
	dChurnRate     = prometheus.NewDesc("tenantpool_churn_rate", "Subscriptions ended in the last 30 days over those paying 30 days ago.", nil, nil)
)

// bizCollector serves the business gauges from a report computed at most once per ttl (its
// clock is the main collector's).
type bizCollector struct {
	src    BusinessSource
	tiers  pool.Tiers
	ttl    time.Duration
	errors prometheus.Counter
	parent *collector

	mu     sync.Mutex
	readAt time.Time
	report business.Report
	err    error
}

func (b *bizCollector) read() (business.Report, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now := b.parent.now(); b.readAt.IsZero() || now.Sub(b.readAt) >= b.ttl || now.Before(b.readAt) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		b.report, b.err = b.src.Report(ctx)
		cancel()
		b.readAt = b.parent.now()
		if b.err != nil {
			b.errors.Inc()
			b.parent.log.Error("metrics scrape: business figures", "err", b.err)
		}
	}
	return b.report, b.err
}

func (b *bizCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dMRR, dARR, dSubscriptions, dChurnRate} {
		ch <- d
	}
}

func (b *bizCollector) Collect(ch chan<- prometheus.Metric) {
	r, err := b.read()
	if err != nil {
		return
	}
	type plan struct{ tier, interval string }
	mrr, arr := map[plan]int64{}, map[plan]int64{}
	// Every configured price's plan is reported, 0 included, so a plan's series does not
	// vanish when its last subscriber leaves.
	for _, name := range b.tiers.Names() {
		for _, iv := range pool.Intervals {
			if b.tiers[name].Prices[iv].ID != "" {
				mrr[plan{name, iv}], arr[plan{name, iv}] = 0, 0
			}
		}
	}
	for _, p := range r.Plans {
		mrr[plan{p.Tier, p.Interval}], arr[plan{p.Tier, p.Interval}] = p.MRRCents, p.ARRCents
	}
	for p, v := range mrr {
		ch <- prometheus.MustNewConstMetric(dMRR, prometheus.GaugeValue, float64(v), p.tier, p.interval)
		ch <- prometheus.MustNewConstMetric(dARR, prometheus.GaugeValue, float64(arr[p]), p.tier, p.interval)
	}
	ch <- prometheus.MustNewConstMetric(dSubscriptions, prometheus.GaugeValue, float64(r.Subscriptions))
	ch <- prometheus.MustNewConstMetric(dChurnRate, prometheus.GaugeValue, r.ChurnRate)
}
