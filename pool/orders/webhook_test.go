package orders_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/delivery"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// nopMailer accepts every e-mail (handler-only tests run no workers).
type nopMailer struct{}

func (nopMailer) Send(context.Context, delivery.Message) error { return nil }

// handlerOnly builds a Service without job workers: the handler's own effects only.
func handlerOnly(t testing.TB, s *store.Store, mutate ...func(*orders.Config)) *orders.Service {
	t.Helper()
	cfg := orders.Config{
		Store: s, Tiers: testTiers, Mailer: nopMailer{}, Prefix: "client",
		Secrets: []string{secret, oldSecret}, Tenants: newSuspender(), Log: discard(),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	if cfg.Stripe == nil {
		cfg.Stripe = stripeClient(mockStripe(t, "price_basic", 2900, 1))
	}
	svc, err := orders.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestInvalidWebhooksChangeNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		seedReady(t, s, "basic", 2)
		h := handlerOnly(t, s).Handler()
		good := paid("evt_1", "cs_1")
		now := time.Now()
		big := append([]byte(`{"id":"evt_big","type":"checkout.session.completed","pad":"`), bytes.Repeat([]byte("x"), 1<<20)...)
		big = append(big, `"}`...)
		cases := []struct {
			name    string
			method  string
			payload []byte
			sig     string
			want    int
		}{
			{"no signature", http.MethodPost, good, "", http.StatusBadRequest},
			{"wrong secret", http.MethodPost, good, sign(good, "whsec_other", now), http.StatusBadRequest},
			{"tampered body", http.MethodPost, bytes.Replace(good, []byte("cs_1"), []byte("cs_2"), 1), sign(good, secret, now), http.StatusBadRequest},
			{"stale timestamp", http.MethodPost, good, sign(good, secret, now.Add(-301*time.Second)), http.StatusBadRequest},
			{"garbage header", http.MethodPost, good, "t=abc,v1=zz", http.StatusBadRequest},
			{"malformed JSON", http.MethodPost, []byte(`{"id":"evt_x",`), sign([]byte(`{"id":"evt_x",`), secret, now), http.StatusBadRequest},
			{"object not a session", http.MethodPost, event("evt_2", "checkout.session.completed", now, []any{1}), "", http.StatusBadRequest},
			{"session without id", http.MethodPost, event("evt_4", "checkout.session.completed", now, session("", "a@example.test", "", nil)), "", http.StatusBadRequest},
			{"session id not a Stripe id", http.MethodPost, event("evt_4b", "checkout.session.completed", now, session("cs_../x", "a@example.test", "", nil)), "", http.StatusBadRequest},
			{"metadata too long", http.MethodPost, event("evt_4c", "checkout.session.completed", now, session("cs_4c", "a@example.test", "",
				map[string]any{"metadata": map[string]any{"tier": strings.Repeat("x", 600)}})), "", http.StatusBadRequest},
			{"unpaid session", http.MethodPost, event("evt_5", "checkout.session.completed", now, session("cs_5", "a@example.test", "", map[string]any{"payment_status": "unpaid"})), "", http.StatusOK},
			{"unknown type", http.MethodPost, event("evt_6", "customer.created", now, map[string]any{"id": "cus_1"}), "", http.StatusOK},
			{"too large", http.MethodPost, big, sign(big, secret, now), http.StatusRequestEntityTooLarge},
			{"GET", http.MethodGet, good, sign(good, secret, now), http.StatusMethodNotAllowed},
		}
		before := stateDigest(t, s)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				sig := c.sig
				if sig == "" && c.name != "no signature" {
					sig = sign(c.payload, secret, now) // validly signed: the payload is what is wrong
				}
				req := httptest.NewRequest(c.method, orders.Path, bytes.NewReader(c.payload))
				if sig != "" {
					req.Header.Set("Stripe-Signature", sig)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != c.want {
					t.Fatalf("status %d (%s), want %d", rec.Code, strings.TrimSpace(rec.Body.String()), c.want)
				}
				if after := stateDigest(t, s); after != before {
					t.Fatalf("state changed:\n%s\nvs\n%s", before, after)
				}
				if strings.Contains(rec.Body.String(), secret) {
					t.Fatal("the response shows the signing secret")
				}
			})
		}
	})
}

// While a secret rolls, Stripe signs with both: either secret, and a header with several v1
// signatures, are accepted.
func TestRollingSecrets(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	seedReady(t, s, "basic", 3)
	h := handlerOnly(t, s).Handler()
	now := time.Now()
	p1 := paid("evt_a", "cs_a")
	if rec := post(h, p1, sign(p1, oldSecret, now)); rec.Code != http.StatusOK {
		t.Fatalf("old secret: %d", rec.Code)
	}
	p2 := paid("evt_b", "cs_b")
	other := sign(p2, "whsec_unknown", now)
	cur := sign(p2, secret, now)
	both := other + "," + cur[strings.Index(cur, "v1="):]
	if rec := post(h, p2, both); rec.Code != http.StatusOK {
		t.Fatalf("two v1 signatures: %d %s", rec.Code, rec.Body)
	}
	for _, id := range []string{"cs_a", "cs_b"} {
		if o := order(t, s, id); o.State != store.OrderClaimed {
			t.Fatalf("%s is %s", id, o.State)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	base := orders.Config{Store: s, Tiers: testTiers, Mailer: nopMailer{}, Prefix: "client", Secrets: []string{secret}, Tenants: newSuspender(),
		Stripe: orders.NewStripeClient("sk_test_x", "http://127.0.0.1:9")}
	for name, mutate := range map[string]func(*orders.Config){
		"no secret":    func(c *orders.Config) { c.Secrets = []string{" "} },
		"unknown tier": func(c *orders.Config) { c.Prices = map[string]string{"price_x": "gold"} },
		"bad prefix":   func(c *orders.Config) { c.Prefix = "9x" },
		"no tenants":   func(c *orders.Config) { c.Tenants = nil },
		"no mailer":    func(c *orders.Config) { c.Mailer = nil },
		"no store":     func(c *orders.Config) { c.Store = nil },
		"no tiers":     func(c *orders.Config) { c.Tiers = nil },
		"no stripe":    func(c *orders.Config) { c.Stripe = nil },
	} {
		c := base
		mutate(&c)
		if _, err := orders.New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := orders.New(base); err != nil {
		t.Fatal(err)
	}
}

func TestParsePrices(t *testing.T) {
	got, err := orders.ParsePrices(" price_1=basic, plink_2=premium\nprice_3=basic;")
	if err != nil || len(got) != 3 || got["plink_2"] != "premium" {
		t.Fatalf("ParsePrices = %v, %v", got, err)
	}
	for _, bad := range []string{"price_1", "=basic", "price_1=basic,price_1=premium"} {
		if _, err := orders.ParsePrices(bad); err == nil {
			t.Errorf("ParsePrices(%q) accepted", bad)
		}
	}
}

// FuzzWebhook: no input panics the handler, and a request it does not answer with 2xx
// changes nothing. Bodies are fuzzed both unsigned (or with the fuzzed header) and signed with
// the real secret, so the JSON and event decoding are reached too.
func FuzzWebhook(f *testing.F) {
	now := time.Now()
	f.Add(paid("evt_seed", "cs_seed"), "", true)
	f.Add([]byte(`{"id":"evt_1","type":"checkout.session.completed","data":{"object":{"id":"cs_1","payment_status":"paid"}}}`), "", true)
	f.Add([]byte(`{"id":"evt_2","type":"customer.subscription.deleted","data":{"object":{"id":""}}}`), "", true)
	f.Add([]byte(`{"id":"evt_3","type":"invoice.payment_failed","data":{"object":{"id":"in_1","subscription":{"id":7}}}}`), "", true)
	f.Add([]byte(`{}`), "t=1,v1=00", false)
	f.Add([]byte(`null`), "", true)
	s := storetest.OpenSQLite(f, f.TempDir(), nil)
	seedReady(f, s, "basic", 1)
	h := handlerOnly(f, s).Handler()
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, body []byte, header string, signIt bool) {
		if signIt {
			header = sign(body, secret, now)
		}
		before := stateDigest(t, s)
		rec := post(h, body, header)
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if rec.Code/100 != 2 {
			if after := stateDigest(t, s); after != before {
				t.Fatalf("rejected request (%d) changed state", rec.Code)
			}
		}
		if !signIt && rec.Code/100 == 2 {
			t.Fatalf("unsigned request accepted: %d", rec.Code)
		}
		n.Add(1)
	})
}

// BenchmarkWebhook measures the handler's latency for a paid session that claims an account
// (the slowest path: claim, order, event and delivery job in one transaction), and reports
// p50/p99.
func BenchmarkWebhook(b *testing.B) {
	for _, be := range storetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			s := be.Open(b, nil)
			seedReady(b, s, "basic", b.N+1)
			h := handlerOnly(b, s).Handler()
			payloads := make([][]byte, b.N)
			sigs := make([]string, b.N)
			now := time.Now()
			for i := range b.N {
				payloads[i] = paid(fmt.Sprintf("evt_b%d", i), fmt.Sprintf("cs_b%d", i))
				sigs[i] = sign(payloads[i], secret, now)
			}
			lat := make([]time.Duration, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				rec := post(h, payloads[i], sigs[i])
				lat[i] = time.Since(start)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "claimed") {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			b.StopTimer()
			reportPercentiles(b, lat)
		})
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	sorted := slices.Clone(lat)
	slices.Sort(sorted)
	pct := func(p float64) time.Duration { return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))] }
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
}
