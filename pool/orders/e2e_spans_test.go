package orders_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/store"
)

// e2eSpans times each step of the webhook and the delivery job in the end-to-end benchmarks, by
// wrapping the real store, mailer and tenants: where a job's run time goes (load the order, its
// accounts and the sent check, the delivery password, the tenant's rotation, the stored
// password, the SMTP send, the delivered record) and, from the job's last store call to river's
// completion event, the completion.
type e2eSpans struct {
	mu    sync.Mutex
	steps map[string][]time.Duration
	done  map[string]time.Time // order → end of its RecordEmail
}

func newSpans() *e2eSpans {
	return &e2eSpans{steps: map[string][]time.Duration{}, done: map[string]time.Time{}}
}

func (sp *e2eSpans) add(step string, start time.Time) {
	d := time.Since(start)
	sp.mu.Lock()
	sp.steps[step] = append(sp.steps[step], d)
	sp.mu.Unlock()
}

// completed notes river's completion event of an order's delivery job.
func (sp *e2eSpans) completed(orderID string, at time.Time) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if t, ok := sp.done[orderID]; ok {
		sp.steps["job completion"] = append(sp.steps["job completion"], at.Sub(t))
	}
}

// String is one line per step: count, p50, p99, max and total, in the order of a delivery.
func (sp *e2eSpans) String() string {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	order := []string{"webhook claim", "load delivery", "get order", "order accounts", "email sent?", "delivery password",
		"rotate", "set customer password", "smtp send", "record email", "job completion"}
	var b strings.Builder
	for _, k := range order {
		ds := sp.steps[k]
		if len(ds) == 0 {
			continue
		}
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		fmt.Fprintf(&b, "\n  %-22s n=%-5d p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms  mean %6.1f ms", k, len(ds),
			ms(percentile(ds, .5)), ms(percentile(ds, .99)), ms(slices.Max(ds)), ms(sum)/float64(len(ds)))
	}
	return b.String()
}

type spanStore struct {
	orders.Store
	sp *e2eSpans
}

func (s spanStore) ClaimOrder(ctx context.Context, o store.Order, eventID, eventType string, then ...jobs.Job) (store.Order, bool, error) {
	defer s.sp.add("webhook claim", time.Now())
	return s.Store.ClaimOrder(ctx, o, eventID, eventType, then...)
}

func (s spanStore) Delivery(ctx context.Context, orderID, key string) (store.Order, []pool.Account, bool, error) {
	defer s.sp.add("load delivery", time.Now())
	return s.Store.Delivery(ctx, orderID, key)
}

func (s spanStore) GetOrder(ctx context.Context, id string) (store.Order, error) {
	defer s.sp.add("get order", time.Now())
	return s.Store.GetOrder(ctx, id)
}

func (s spanStore) OrderAccounts(ctx context.Context, orderID string) ([]pool.Account, error) {
	defer s.sp.add("order accounts", time.Now())
	return s.Store.OrderAccounts(ctx, orderID)
}

func (s spanStore) EmailSent(ctx context.Context, key string) (bool, error) {
	defer s.sp.add("email sent?", time.Now())
	return s.Store.EmailSent(ctx, key)
}

func (s spanStore) DeliveryPassword(ctx context.Context, key, orderID string, accountID int64) (string, error) {
	defer s.sp.add("delivery password", time.Now())
	return s.Store.DeliveryPassword(ctx, key, orderID, accountID)
}

func (s spanStore) SetCustomerPassword(ctx context.Context, id int64, password string) error {
	defer s.sp.add("set customer password", time.Now())
	return s.Store.SetCustomerPassword(ctx, id, password)
}

func (s spanStore) RecordEmail(ctx context.Context, orderID, key string, markDelivered bool) error {
	start := time.Now()
	err := s.Store.RecordEmail(ctx, orderID, key, markDelivered)
	s.sp.add("record email", start)
	s.sp.mu.Lock()
	s.sp.done[orderID] = time.Now()
	s.sp.mu.Unlock()
	return err
}

type spanMailer struct {
	orders.Mailer
	sp *e2eSpans
}

func (m spanMailer) Send(ctx context.Context, msg delivery.Message) error {
	defer m.sp.add("smtp send", time.Now())
	return m.Mailer.Send(ctx, msg)
}

type spanTenants struct {
	pool.Tenants
	sp *e2eSpans
}

func (t spanTenants) RotateCustomer(ctx context.Context, a pool.Account, password string) error {
	defer t.sp.add("rotate", time.Now())
	return t.Tenants.RotateCustomer(ctx, a, password)
}
