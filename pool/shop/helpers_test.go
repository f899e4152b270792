package shop_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/orders/stripemocktest"
	"github.com/axiestudio/tenantpool/pool/shop"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

var testTiers = func() pool.Tiers {
	ts, err := pool.NewTiers([]pool.Tier{
		{Name: "basic", MinReady: 1, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 1024, CPUs: 1,
			Prices: map[string]pool.Price{"month": {ID: "price_basic_month"}, "year": {ID: "price_basic_year"}}},
		{Name: "premium", MinReady: 0, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 2048, CPUs: 1.5, CustomDomains: 1, Branding: true,
			Prices: map[string]pool.Price{"month": {ID: "price_premium_month"}}},
		{Name: "enterprise", MinReady: 0, MaxTotal: 5, MaxInFlight: 1, MemoryMB: 4096, CPUs: 2}, // not sold here
	})
	if err != nil {
		panic(err)
	}
	return ts
}()

// recorder is the Stripe client's transport: it records every request (method, path, form
// body) before passing it to stripe-mock.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	Method, Path string
	Form         url.Values
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	form, _ := url.ParseQuery(string(body))
	r.mu.Lock()
	r.reqs = append(r.reqs, recorded{req.Method, req.URL.Path, form})
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// calls returns the recorded requests of one method and path prefix.
func (r *recorder) calls(method, pathPrefix string) []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, c := range r.reqs {
		if c.Method == method && strings.HasPrefix(c.Path, pathPrefix) {
			out = append(out, c)
		}
	}
	return out
}

type fixture struct {
	t     *testing.T
	srv   *httptest.Server
	store *store.Store
	rec   *recorder
}

// start serves the storefront over a real SQLite store, its Stripe client pointed at
// stripe-mock through a recorder; edit may change the config.
func start(t *testing.T, edit func(*shop.Config), opts ...stripemocktest.Option) *fixture {
	t.Helper()
	mock := stripemocktest.Start(t, opts...)
	rec := &recorder{}
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := shop.Config{
		Store: s, Tiers: testTiers, PublicURL: srv.URL,
		Stripe: shop.NewStripeClient(stripemocktest.Key, mock.URL, &http.Client{Transport: rec}),
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	sh, err := shop.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sh.Mount(mux)
	return &fixture{t: t, srv: srv, store: s, rec: rec}
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (f *fixture) do(method, path, contentType, body string, header ...string) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const form = "application/x-www-form-urlencoded"

// paidOrder records a paid order as the webhook does when the pool is empty (pending, with
// its on-demand account), for the Checkout Session id; without a tier the order is held.
func (f *fixture) paidOrder(id, tier string) store.Order {
	f.t.Helper()
	o := store.Order{ID: id, Tier: tier, CustomerEmail: "buyer@example.test", CustomerID: "cus_test_buyer", SubscriptionID: "sub_test_1"}
	if tier == "" {
		o.State = store.OrderHeld // an order no tier matches is held for the operator
	}
	if _, err := f.store.AddPendingOrder(context.Background(), o, "evt_"+id, "checkout.session.completed", "client"); err != nil {
		f.t.Fatal(err)
	}
	return o
}

// claim makes one ready account of the tier and claims it for the order, as the pending
// order's claim job does; it returns the claimed account (with its password).
func (f *fixture) claim(o store.Order) pool.Account {
	f.t.Helper()
	ctx := context.Background()
	as, err := f.store.CreateAccounts(ctx, o.Tier, "client", 1)
	if err != nil {
		f.t.Fatal(err)
	}
	a := as[0]
	if err := f.store.MarkReady(ctx, a.ID, pool.Provisioned{Host: "host-1", URL: "https://" + a.Slug + ".example.test", CustomerUserID: "u1"}); err != nil {
		f.t.Fatal(err)
	}
	if _, _, err := f.store.ClaimOrder(ctx, o, "evt_claim_"+o.ID, "claim"); err != nil {
		f.t.Fatal(err)
	}
	got, err := f.store.Get(ctx, a.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	if got.State != pool.StateClaimed || got.OrderID != o.ID || got.CustomerPassword == "" {
		f.t.Fatalf("claimed account %+v", got)
	}
	return got
}
