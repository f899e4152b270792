package orders_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/delivery/mailpittest"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/orders/stripemocktest"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/store"
)

var _ orders.Store = (*store.Store)(nil)

const (
	secret    = "whsec_test_current"
	oldSecret = "whsec_test_rolled_out"
)

var testTiers = func() pool.Tiers {
	ts, err := pool.NewTiers([]pool.Tier{
		{Name: "basic", MinReady: 1, MaxTotal: 400, MaxInFlight: 2, MemoryMB: 512, CPUs: 1, PriceID: "price_basic"},
		{Name: "premium", MinReady: 0, MaxTotal: 10, MaxInFlight: 1, MemoryMB: 1024, CPUs: 1, CustomDomains: 1},
	})
	if err != nil {
		panic(err)
	}
	return ts
}()

// suspender is the tenants double of the tests: it wraps pooltest's and counts suspensions and resumptions.
type suspender struct {
	*pooltest.Provisioner
	mu                 sync.Mutex
	suspended, resumed map[string]int
	firstSuspend       map[string]time.Time
}

func newSuspender() *suspender {
	return &suspender{Provisioner: &pooltest.Provisioner{}, suspended: map[string]int{}, resumed: map[string]int{},
		firstSuspend: map[string]time.Time{}}
}

func (p *suspender) Suspend(_ context.Context, a pool.Account) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.suspended[a.Slug]++
	if _, ok := p.firstSuspend[a.Slug]; !ok {
		p.firstSuspend[a.Slug] = time.Now()
	}
	return nil
}

// suspendedAt is when a tenant was first suspended (zero if never).
func (p *suspender) suspendedAt(slug string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstSuspend[slug]
}

func (p *suspender) Resume(_ context.Context, a pool.Account) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resumed[a.Slug]++
	return nil
}

func (p *suspender) counts(slug string) (suspended, resumed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.suspended[slug], p.resumed[slug]
}

type env struct {
	t    *testing.T
	s    *store.Store
	svc  *orders.Service
	prov *suspender
	mail *mailpittest.Server
	h    http.Handler
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newSender(t testing.TB, mp *mailpittest.Server) *delivery.Sender {
	t.Helper()
	tmpl, err := delivery.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	snd, err := delivery.NewSender(delivery.Config{
		Host: mp.SMTPHost, Port: mp.SMTPPort, TLS: delivery.TLSNone,
		From: "Axie Studio <hello@example.test>", Timeout: 5 * time.Second,
	}, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return snd
}

// newEnv builds a Service on s with a real Mailpit and starts a real river job client with the
// pool's and the orders' workers.
func newEnv(t *testing.T, s *store.Store, mutate func(*orders.Config)) *env {
	t.Helper()
	return newEnvWith(t, s, mutate, nil)
}

// newEnvWith is newEnv whose job client workers may change too.
func newEnvWith(t *testing.T, s *store.Store, mutate func(*orders.Config), workers func(*control.WorkerConfig)) *env {
	t.Helper()
	e := &env{t: t, s: s, prov: newSuspender(), mail: mailpittest.Start(t)}
	cfg := orders.Config{
		Store: s, Tiers: testTiers, Mailer: newSender(t, e.mail), Prefix: "client",
		Secrets: []string{secret, oldSecret}, Tenants: e.prov,
		PendingRetry: 20 * time.Millisecond, HeldRetry: 20 * time.Millisecond,
		SupportContact: "support@example.test", UpsellURL: "https://example.test/upgrade",
		Log: discard(),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	if cfg.Stripe == nil {
		cfg.Stripe = stripeClient(mockStripe(t, "price_basic", 2900, 1))
	}
	svc, err := orders.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc, e.h = svc, svc.Handler()
	wcfg := control.WorkerConfig{
		Store: s, Tenants: e.prov, Tiers: testTiers, Log: discard(), Configure: svc.Register,
		Registry: jobs.Default().Tuned(func(_ string, p *jobs.Policy) { p.MaxAttempts = 3 }),
	}
	if workers != nil {
		workers(&wcfg)
	}
	if wcfg.Plans != nil && wcfg.Plans.Mailer == nil {
		wcfg.Plans.Mailer = cfg.Mailer // the same Mailpit
	}
	pooltest.StartJobs(t, s.Driver(), wcfg)
	return e
}

// mockStripe starts stripe-mock whose every Checkout Session bought qty × price at unit (usd)
// and was charged exactly that; opts patch further.
func mockStripe(t testing.TB, price string, unit, qty int64, opts ...stripemocktest.Option) *stripemocktest.Server {
	t.Helper()
	return stripemocktest.Start(t, append(paidFixtures(price, unit, qty), opts...)...)
}

// paidFixtures are stripe-mock fixtures of a session that bought qty × price at unit and paid it.
func paidFixtures(price string, unit, qty int64) []stripemocktest.Option {
	return []stripemocktest.Option{
		stripemocktest.Fixture("checkout.session", map[string]any{
			"amount_subtotal": unit * qty, "amount_total": unit * qty, "currency": "usd", "livemode": false,
			"total_details": map[string]any{"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
		}),
		stripemocktest.Fixture("item", map[string]any{
			"quantity": qty, "currency": "usd", "amount_subtotal": unit * qty, "amount_total": unit * qty,
			"amount_discount": 0, "amount_tax": 0,
			"price": map[string]any{"id": price, "unit_amount": unit, "currency": "usd", "type": "recurring"},
		}),
	}
}

func stripeClient(s *stripemocktest.Server) *stripe.Client {
	return stripe.NewClient(stripemocktest.Key, stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL: stripe.String(s.URL), MaxNetworkRetries: stripe.Int64(0), LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	})))
}

// seedReady writes n ready accounts of a tier straight into the store.
func seedReady(t testing.TB, s *store.Store, tier string, n int) {
	t.Helper()
	ctx := context.Background()
	as, err := s.CreateAccounts(ctx, tier, "client", n)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if err := s.MarkReady(ctx, a.ID, pool.Provisioned{Host: "host-1", URL: "https://" + a.Slug + ".example.test",
			CustomerUserID: "user-" + a.Slug, Generation: "test"}); err != nil {
			t.Fatal(err)
		}
	}
}

// event renders a Stripe event around obj.
func event(id, typ string, created time.Time, obj any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": typ, "api_version": "2025-07-30.basil",
		"created": created.Unix(), "livemode": false, "data": map[string]any{"object": obj},
	})
	if err != nil {
		panic(err)
	}
	return b
}

func session(id, email, name string, extra map[string]any) map[string]any {
	o := map[string]any{
		"id": id, "object": "checkout.session", "payment_status": "paid", "status": "complete", "mode": "subscription",
		"customer": "cus_" + id, "subscription": "sub_" + id,
		"customer_details": map[string]any{"email": email, "name": name},
		"metadata":         map[string]any{"tier": "basic"},
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

func paid(evID, sessID string) []byte {
	return event(evID, "checkout.session.completed", time.Now(),
		session(sessID, strings.ToLower(sessID)+"@example.test", "Customer "+sessID, nil))
}

// sign signs a payload with stripe-go's own test signer.
func sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}

func post(h http.Handler, payload []byte, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, orders.Path, strings.NewReader(string(payload)))
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func (e *env) send(payload []byte) *httptest.ResponseRecorder {
	e.t.Helper()
	rec := post(e.h, payload, sign(payload, secret, time.Now()))
	if rec.Code != http.StatusOK {
		e.t.Fatalf("webhook answered %d: %s", rec.Code, rec.Body)
	}
	return rec
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func order(t testing.TB, s *store.Store, id string) store.Order {
	t.Helper()
	o, err := s.GetOrder(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func count(t testing.TB, s *store.Store, tier string, st pool.State) int {
	t.Helper()
	as, err := s.List(context.Background(), store.Filter{Tier: tier, State: st})
	if err != nil {
		t.Fatal(err)
	}
	return len(as)
}

// stateDigest is every row the webhook could change: orders, applied events, subscription
// statuses, sent e-mails, account states and jobs.
func stateDigest(t testing.TB, s *store.Store) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id || ':' || state || ':' || tier FROM orders ORDER BY id`,
		`SELECT id FROM stripe_events ORDER BY id`,
		`SELECT id || ':' || status FROM stripe_subscriptions ORDER BY id`,
		`SELECT dedupe_key FROM sent_emails ORDER BY dedupe_key`,
		`SELECT slug || ':' || state FROM accounts ORDER BY id`,
		`SELECT kind || ':' || CAST(args AS TEXT) FROM river_job ORDER BY id`,
	} {
		rows, err := s.DB().Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, v)
		}
		rows.Close()
	}
	return b.String()
}

// jobsDone reports whether every job of a kind has finished (completed, cancelled or
// discarded) and there is at least one.
func jobsDone(t testing.TB, s *store.Store, kind string) bool {
	t.Helper()
	q := `SELECT COUNT(*), COALESCE(SUM(CASE WHEN state IN ('completed', 'cancelled', 'discarded') THEN 1 ELSE 0 END), 0)
		FROM river_job WHERE kind = ?`
	if s.Postgres() {
		q = strings.Replace(q, "?", "$1", 1)
	}
	var all, done int
	if err := s.DB().QueryRow(q, kind).Scan(&all, &done); err != nil {
		t.Fatal(err)
	}
	return all > 0 && all == done
}

// withEventFields sets top-level fields of a rendered event (livemode, account).
func withEventFields(t testing.TB, payload []byte, fields map[string]any) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		ev[k] = v
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
