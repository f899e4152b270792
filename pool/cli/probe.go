package cli

import (
	"context"
	"strconv"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/metrics"
	"github.com/axiestudio/tenantpool/pool/store"
)

// reapplier is a provisioner that can repair a running tenant (the Pulumi one can).
type reapplier interface {
	Reapply(ctx context.Context, a pool.Account) error
}

// prober builds the sold tenants' health probe; nil when it is off or the provisioner cannot
// re-apply.
func (e *Env) prober(s *store.Store, prov pool.Provisioner, rec *pool.Reconciler, m *metrics.Metrics, f serveFlags) (*pool.Prober, error) {
	if f.probeSchedule == "off" {
		e.Log.Warn("tenant health probe off (--probe-schedule off)")
		return nil, nil
	}
	r, ok := prov.(reapplier)
	if !ok {
		e.Log.Warn("tenant health probe off: the provisioner cannot re-apply tenants")
		return nil, nil
	}
	transport := langflow.NewTransport()
	alert, err := e.operatorAlert()
	if err != nil {
		return nil, err
	}
	return pool.NewProber(pool.ProberConfig{
		Store: s,
		Check: func(ctx context.Context, url string) error {
			// No retries: the failure streak is the retry.
			c, err := langflow.New(url, langflow.Options{RetryMax: -1, Transport: transport, RequestTimeout: f.probeTO})
			if err != nil {
				return err
			}
			return c.Health(ctx)
		},
		Reapply: r.Reapply, Threshold: f.probeThreshold, Concurrency: f.probeConcurrency, Timeout: f.probeTO,
		// The reconcile leader probes; asking the reconciler (not the lock again) is safe to do
		// concurrently.
		Leader:  func(context.Context) (bool, error) { return rec.Leading(), nil },
		Alert:   alert,
		Observe: func(_ pool.Account, kind pool.EventKind) { m.ObserveProbeEvent(string(kind)) },
		Log:     e.Log.With("component", "probe"),
	})
}

// operatorAlert e-mails the operator (POOL_OPERATOR_EMAIL) about a flagged tenant over the
// configured SMTP server; nil when no operator address is set.
func (e *Env) operatorAlert() (func(context.Context, pool.Account, pool.FlagNotice) error, error) {
	to := e.Getenv("POOL_OPERATOR_EMAIL")
	if to == "" {
		return nil, nil
	}
	o, err := e.smtpSettings()
	if err != nil {
		return nil, err
	}
	sender, err := delivery.NewSender(o.smtp, o.tmpl)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, a pool.Account, n pool.FlagNotice) error {
		order := a.OrderID
		if order == "" {
			order = a.Slug
		}
		return sender.Send(ctx, delivery.Message{Kind: delivery.KindOperatorAlert, OrderID: order,
			Ref: strconv.FormatInt(n.At.UnixMilli(), 10), CustomerEmail: to, Tier: a.Tier, Slug: a.Slug,
			TenantURL: a.URL, Failures: n.Failures, Reason: n.Reason, From: o.smtp.From})
	}, nil
}
