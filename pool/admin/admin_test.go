package admin_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/quartz"
	"golang.org/x/time/rate"

	"github.com/axiestudio/tenantpool/internal/testtool"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/pooltest"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

const (
	tokenA = "tok-A-0123456789abcdef-GHIJKLMNOPQRSTUV"
	tokenB = "tok-B-fedcba9876543210-vutsrqponmlkjihg"
)

// env is one API on a real store, with its log captured.
type env struct {
	t        *testing.T
	s        *store.Store
	h        http.Handler
	logs     *testtool.SyncBuffer
	triggers atomic.Int32
	resends  []string
	tenants  *pooltest.Provisioner // rotates manually claimed accounts' passwords
	mu       sync.Mutex
}

func tiers(t testing.TB) pool.Tiers {
	ts, err := pool.NewTiers(pool.DefaultTiers())
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// newEnv serves the API on s. mutate may change the config (nil: orders configured with a
// recording Resend). When the test ends, the log must hold no token and no account secret.
func newEnv(t *testing.T, s *store.Store, mutate func(*admin.Config)) *env {
	t.Helper()
	e := &env{t: t, s: s, logs: &testtool.SyncBuffer{}, tenants: &pooltest.Provisioner{}}
	cfg := admin.Config{
		Store: s, Tiers: tiers(t), Prefix: "client", Tokens: []string{tokenA, tokenB},
		Trigger: func() { e.triggers.Add(1) }, Tenants: e.tenants,
		Resend: func(_ context.Context, id string) (int, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.resends = append(e.resends, id)
			return len(e.resends), nil
		},
		Log: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	api, err := admin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.h = api.Handler()
	t.Cleanup(func() {
		logs := e.logs.String()
		secrets := []string{tokenA, tokenB}
		as, err := s.List(context.Background(), store.Filter{})
		if err != nil {
			t.Error(err)
		}
		for _, a := range as {
			secrets = append(secrets, a.CustomerPassword, a.OperatorPassword, a.SecretKey)
		}
		for _, sec := range secrets {
			if strings.Contains(logs, sec) {
				t.Errorf("a secret reached the log: %q in\n%s", sec, logs)
			}
		}
	})
	return e
}

// do sends a request with the token (none when "") and a JSON body (none when "").
func (e *env) do(method, path, token, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return e.serve(r)
}

func (e *env) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func decodeJSON[T any](t testing.TB, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, body %s", ct, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", w.Body, err)
	}
	return v
}

func wantCode(t testing.TB, w *httptest.ResponseRecorder, code int) {
	t.Helper()
	if w.Code != code {
		t.Fatalf("status %d, want %d; body %s", w.Code, code, w.Body)
	}
}

// seedReady writes n ready accounts of a tier straight into the store.
func seedReady(t testing.TB, s *store.Store, tier string, n int) []pool.Account {
	t.Helper()
	ctx := context.Background()
	as, err := s.CreateAccounts(ctx, tier, "seed", n)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range as {
		if err := s.MarkReady(ctx, a.ID, pool.Provisioned{Host: "host-1", URL: "https://" + a.Slug + ".example.test",
			CustomerUserID: "user-" + a.Slug, Generation: "test"}); err != nil {
			t.Fatal(err)
		}
		as[i], err = s.Get(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
	}
	return as
}

// digest is every row an admin request could change.
func digest(t testing.TB, s *store.Store) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT * FROM accounts ORDER BY id`,
		`SELECT * FROM orders ORDER BY id`,
		`SELECT * FROM tier_status ORDER BY tier`,
		`SELECT * FROM counters ORDER BY name`,
		`SELECT id, kind, state FROM river_job ORDER BY id`,
	} {
		rows, err := s.DB().Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					vals[i] = string(bs)
				}
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

func state(t testing.TB, s *store.Store, id int64) pool.State {
	t.Helper()
	a, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a.State
}

// routes is every route of the API with a valid body.
var routes = []struct{ method, path, body string }{
	{"GET", "/admin/v1/status", ""},
	{"GET", "/admin/v1/generations", ""},
	{"GET", "/admin/v1/accounts", ""},
	{"GET", "/admin/v1/accounts?tier=basic&state=ready&limit=5", ""},
	{"POST", "/admin/v1/accounts/batch", `{"count":2,"tier":"basic"}`},
	{"POST", "/admin/v1/accounts/1/retire", ""},
	{"POST", "/admin/v1/accounts/seed01/retire", ""},
	{"POST", "/admin/v1/export", `{"tier":"basic","count":1}`},
	{"POST", "/admin/v1/claim", `{"order":"manual-1","tier":"basic"}`},
	{"POST", "/admin/v1/tiers/basic/pause", ""},
	{"POST", "/admin/v1/tiers/basic/resume", ""},
	{"GET", "/admin/v1/orders", ""},
	{"POST", "/admin/v1/orders/cs_1/resend", ""},
	// Not routes: an unauthenticated caller must not tell them apart.
	{"GET", "/admin/v1/nope", ""},
	{"DELETE", "/admin/v1/accounts", ""},
	{"GET", "/admin/", ""},
	{"POST", "/admin/v2/claim", `{"order":"x","tier":"basic"}`},
}

func TestNew(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	ok := admin.Config{Store: s, Tiers: tiers(t), Prefix: "client", Tokens: []string{tokenA}}
	if _, err := admin.New(ok); err != nil {
		t.Fatal(err)
	}
	secret := "short-secret"
	bad := map[string]func(*admin.Config){
		"no token":      func(c *admin.Config) { c.Tokens = nil },
		"empty token":   func(c *admin.Config) { c.Tokens = []string{""} },
		"short token":   func(c *admin.Config) { c.Tokens = []string{tokenA, secret} },
		"31 characters": func(c *admin.Config) { c.Tokens = []string{tokenA[:31]} },
		"not random":    func(c *admin.Config) { c.Tokens = []string{strings.Repeat("ab", 20)} },
		"token w/space": func(c *admin.Config) { c.Tokens = []string{"has a space in the token"} },
		"no store":      func(c *admin.Config) { c.Store = nil },
		"no tiers":      func(c *admin.Config) { c.Tiers = nil },
		"bad prefix":    func(c *admin.Config) { c.Prefix = "Client" },
	}
	for name, mutate := range bad {
		cfg := ok
		mutate(&cfg)
		_, err := admin.New(cfg)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), tokenA) {
			t.Errorf("%s: the error names the token: %v", name, err)
		}
	}
	if got := admin.ParseTokens(" a ,b\n\n c,"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("ParseTokens = %q", got)
	}
}

func TestUnauthorized(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		seedReady(t, s, "basic", 2)
		// Every failure here comes from one address: the failure limit is not what is tested.
		e := newEnv(t, s, func(c *admin.Config) { c.Failures.Burst = 1000 })
		before := digest(t, s)
		auths := map[string][]string{
			"none":            nil,
			"wrong token":     {"Bearer " + tokenA + "x"},
			"prefix of token": {"Bearer " + tokenA[:len(tokenA)-1]},
			"empty bearer":    {"Bearer "},
			"bare token":      {tokenA},
			"basic scheme":    {"Basic " + tokenA},
			"two headers":     {"Bearer " + tokenA, "Bearer " + tokenB},
		}
		var wantBody string
		for _, rt := range routes {
			for name, hs := range auths {
				r := httptest.NewRequest(rt.method, rt.path, strings.NewReader(rt.body))
				r.Header.Set("Content-Type", "application/json")
				for _, h := range hs {
					r.Header.Add("Authorization", h)
				}
				w := e.serve(r)
				if w.Code != http.StatusUnauthorized {
					t.Errorf("%s %s (%s): status %d, body %s", rt.method, rt.path, name, w.Code, w.Body)
					continue
				}
				if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("%s %s (%s): WWW-Authenticate %q", rt.method, rt.path, name, got)
				}
				if w.Header().Get("Allow") != "" {
					t.Errorf("%s %s (%s): Allow header leaks the routes", rt.method, rt.path, name)
				}
				if wantBody == "" {
					wantBody = w.Body.String()
				}
				if w.Body.String() != wantBody {
					t.Errorf("%s %s (%s): body %q, want the fixed %q", rt.method, rt.path, name, w.Body, wantBody)
				}
			}
		}
		if wantBody != `{"error":"unauthorized"}`+"\n" {
			t.Errorf("401 body %q", wantBody)
		}
		if after := digest(t, s); after != before {
			t.Errorf("unauthenticated requests changed the store:\n%s\n---\n%s", before, after)
		}
		if e.triggers.Load() != 0 || len(e.resends) != 0 {
			t.Error("unauthenticated requests reached the reconciler or the orders service")
		}
	})
}

// Failed attempts are limited per source address: past the burst every request from that
// address, even with a valid token, gets 429 with Retry-After until the bucket refills; another
// address's valid token still works; successful requests never count.
func TestFailedAttemptsAreLimitedPerSource(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := newEnv(t, s, func(c *admin.Config) {
		c.Failures = admin.FailureLimit{Rate: rate.Every(time.Minute), Burst: 3}
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	from := func(addr, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/admin/v1/status", nil)
		r.RemoteAddr = addr
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return e.serve(r)
	}
	// Successes do not count: 20 of them, then the 3 failures of the burst are still 401.
	for range 20 {
		wantCode(t, from("198.51.100.7:4000", tokenA), http.StatusOK)
	}
	for i := range 3 {
		wantCode(t, from(fmt.Sprintf("198.51.100.7:%d", 5000+i), "wrong-"+tokenA), http.StatusUnauthorized)
	}
	// The fourth failure from that address, on any port, and even its valid token: 429.
	for _, tok := range []string{"wrong-" + tokenA, tokenA, ""} {
		w := from("198.51.100.7:6000", tok)
		wantCode(t, w, http.StatusTooManyRequests)
		if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Errorf("Retry-After %q, want 1–60 seconds", w.Header().Get("Retry-After"))
		}
	}
	// Another address is not affected.
	wantCode(t, from("198.51.100.8:4000", tokenB), http.StatusOK)
	wantCode(t, from("198.51.100.8:4000", "wrong"), http.StatusUnauthorized)
	// A minute later the first address gets one more attempt.
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	wantCode(t, from("198.51.100.7:7000", tokenA), http.StatusOK)
	wantCode(t, from("198.51.100.7:7000", "wrong"), http.StatusUnauthorized)
	wantCode(t, from("198.51.100.7:7000", tokenA), http.StatusTooManyRequests)
}

// The failure limit tracks a bounded number of addresses, forgetting the least recently
// failing one first.
func TestFailureLimitForgetsOldSources(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	e := newEnv(t, s, func(c *admin.Config) {
		c.Failures = admin.FailureLimit{Rate: rate.Every(time.Hour), Burst: 1, Sources: 2}
	})
	fail := func(addr string) int {
		r := httptest.NewRequest("GET", "/admin/v1/status", nil)
		r.RemoteAddr = addr + ":1"
		r.Header.Set("Authorization", "Bearer wrong")
		return e.serve(r).Code
	}
	if fail("10.0.0.1") != 401 || fail("10.0.0.1") != 429 {
		t.Fatal("10.0.0.1 was not limited after its one failure")
	}
	fail("10.0.0.2")
	fail("10.0.0.3") // the third address pushes out the least recent, 10.0.0.1
	if got := fail("10.0.0.1"); got != 401 {
		t.Fatalf("10.0.0.1 after being forgotten: %d, want 401", got)
	}
	if got := fail("10.0.0.3"); got != 429 {
		t.Fatalf("10.0.0.3 (tracked): %d, want 429", got)
	}
}

func TestTokensAndFallbackRoutes(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	e := newEnv(t, s, nil)
	for _, tok := range []string{tokenA, tokenB} {
		wantCode(t, e.do("GET", "/admin/v1/status", tok, ""), http.StatusOK)
	}
	r := httptest.NewRequest("GET", "/admin/v1/status", nil)
	r.Header.Set("Authorization", "bearer "+tokenA) // the scheme is case-insensitive
	wantCode(t, e.serve(r), http.StatusOK)

	w := e.do("GET", "/admin/v1/nope", tokenA, "")
	wantCode(t, w, http.StatusNotFound)
	if b := decodeJSON[map[string]string](t, w); b["error"] != "not found" {
		t.Errorf("404 body %v", b)
	}
	w = e.do("DELETE", "/admin/v1/accounts", tokenA, "")
	wantCode(t, w, http.StatusMethodNotAllowed)
	if allow := w.Header().Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("405 Allow %q", allow)
	}
	decodeJSON[map[string]string](t, w)
}

func TestListAccountsHidesSecrets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		basic := seedReady(t, s, "basic", 3)
		premium := seedReady(t, s, "premium", 1)
		if _, err := s.Retire(context.Background(), basic[0].ID); err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, s, nil)
		list := func(q string) []admin.Account {
			w := e.do("GET", "/admin/v1/accounts"+q, tokenA, "")
			wantCode(t, w, http.StatusOK)
			for _, a := range append(basic, premium...) {
				for _, sec := range []string{a.CustomerPassword, a.OperatorPassword, a.SecretKey} {
					if strings.Contains(w.Body.String(), sec) {
						t.Fatalf("list %s shows a secret of %s", q, a.Slug)
					}
				}
			}
			if strings.Contains(w.Body.String(), "password") {
				t.Fatalf("list %s has a password field: %s", q, w.Body)
			}
			return decodeJSON[struct{ Accounts []admin.Account }](t, w).Accounts
		}
		slugs := func(as []admin.Account) (out []string) {
			for _, a := range as {
				out = append(out, a.Slug)
			}
			return out
		}
		if got := slugs(list("")); !slices.Equal(got, []string{"seed01", "seed02", "seed03", "seed04"}) {
			t.Errorf("all = %v", got)
		}
		if got := slugs(list("?tier=basic&state=ready")); !slices.Equal(got, []string{"seed02", "seed03"}) {
			t.Errorf("basic ready = %v", got)
		}
		if got := slugs(list("?state=retired")); !slices.Equal(got, []string{"seed01"}) {
			t.Errorf("retired = %v", got)
		}
		if got := list("?tier=premium&limit=1"); len(got) != 1 || got[0].Username != premium[0].CustomerUser ||
			got[0].URL != premium[0].URL || got[0].State != "ready" || got[0].ReadyAt.IsZero() {
			t.Errorf("premium = %+v", got)
		}
		if got := list("?limit=2"); len(got) != 2 {
			t.Errorf("limit 2 gave %d", len(got))
		}
	})
}

func TestBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		e := newEnv(t, s, nil)
		w := e.do("POST", "/admin/v1/accounts/batch", tokenA, `{"count":3,"tier":"premium"}`)
		wantCode(t, w, http.StatusAccepted)
		b := decodeJSON[admin.Batch](t, w)
		if b.Tier != "premium" || b.Count != 3 || !slices.Equal(b.Slugs, []string{"client01", "client02", "client03"}) {
			t.Fatalf("batch = %+v", b)
		}
		w = e.do("POST", "/admin/v1/accounts/batch", tokenB, `{"count":1,"tier":"basic","prefix":"acme"}`)
		wantCode(t, w, http.StatusAccepted)
		if b := decodeJSON[admin.Batch](t, w); !slices.Equal(b.Slugs, []string{"acme01"}) {
			t.Fatalf("batch = %+v", b)
		}
		as, err := s.List(context.Background(), store.Filter{State: pool.StateProvisioning})
		if err != nil {
			t.Fatal(err)
		}
		if len(as) != 4 || as[0].Tier != "premium" || as[3].Slug != "acme01" || as[3].Tier != "basic" {
			t.Fatalf("store holds %v", as)
		}
		for _, a := range as {
			if a.Origin != pool.OriginBatch {
				t.Errorf("%s has origin %q, want batch (max_total neither counts nor retires it)", a.Slug, a.Origin)
			}
		}
		w = e.do("GET", "/admin/v1/accounts?state=provisioning&limit=1", tokenA, "")
		wantCode(t, w, http.StatusOK)
		if got := decodeJSON[struct{ Accounts []admin.Account }](t, w); len(got.Accounts) != 1 || got.Accounts[0].Origin != "batch" {
			t.Errorf("listed %+v, want origin batch", got.Accounts)
		}
		var jobs int
		if err := s.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'provision'`).Scan(&jobs); err != nil {
			t.Fatal(err)
		}
		if jobs != 4 {
			t.Errorf("%d provisioning jobs, want 4", jobs)
		}
		if e.triggers.Load() != 2 {
			t.Errorf("reconciler triggered %d times, want 2", e.triggers.Load())
		}
	})
}

func TestExportReservesAndNeutralisesFormulas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		basic := seedReady(t, s, "basic", 4)
		premium := seedReady(t, s, "premium", 1)
		// Cells a spreadsheet would run as formulas.
		nasty := []string{"=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"}
		for i, pw := range nasty[:3] {
			if err := s.SetCustomerPassword(ctx, basic[i].ID, pw); err != nil {
				t.Fatal(err)
			}
		}
		e := newEnv(t, s, nil)

		w := e.do("POST", "/admin/v1/export", tokenA, `{"tier":"basic","count":3}`)
		wantCode(t, w, http.StatusOK)
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Fatalf("Content-Type %q", ct)
		}
		if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("X-Exported-Count") != "3" {
			t.Errorf("headers %v", w.Header())
		}
		rows, err := csv.NewReader(w.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 4 || !slices.Equal(rows[0], admin.CSVHeader) {
			t.Fatalf("csv = %q", rows)
		}
		for i, row := range rows[1:] {
			want := []string{basic[i].CustomerUser, "'" + nasty[i], basic[i].URL, "basic", "reserved"}
			if !slices.Equal(row, want) {
				t.Errorf("row %d = %q, want %q", i, row, want)
			}
			if st := state(t, s, basic[i].ID); st != pool.StateReserved {
				t.Errorf("%s is %s after export", basic[i].Slug, st)
			}
		}
		if st := state(t, s, basic[3].ID); st != pool.StateReady {
			t.Errorf("the fourth account is %s", st)
		}

		// A claim can only sell what was not exported, then the pool is empty.
		w = e.do("POST", "/admin/v1/claim", tokenA, `{"order":"manual-1","tier":"basic"}`)
		wantCode(t, w, http.StatusCreated)
		if c := decodeJSON[admin.Claimed](t, w); c.Account.ID != basic[3].ID {
			t.Fatalf("claim sold %s, want %s", c.Account.Slug, basic[3].Slug)
		}
		before := digest(t, s)
		w = e.do("POST", "/admin/v1/claim", tokenA, `{"order":"manual-2","tier":"basic"}`)
		wantCode(t, w, http.StatusConflict)
		w = e.do("POST", "/admin/v1/export", tokenA, `{"tier":"basic","all":true}`)
		wantCode(t, w, http.StatusConflict)
		if after := digest(t, s); after != before {
			t.Errorf("a refused claim or export changed the store")
		}
		for _, a := range basic[:3] {
			if st := state(t, s, a.ID); st != pool.StateReserved {
				t.Errorf("exported %s is %s", a.Slug, st)
			}
		}

		// Every tier, every ready account: only when asked for.
		w = e.do("POST", "/admin/v1/export", tokenB, `{}`)
		wantCode(t, w, http.StatusBadRequest)
		if after := digest(t, s); after != before {
			t.Errorf("an export without count or all changed the store")
		}
		w = e.do("POST", "/admin/v1/export", tokenB, `{"all":true}`)
		wantCode(t, w, http.StatusOK)
		rows, err = csv.NewReader(w.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || rows[1][0] != premium[0].CustomerUser || rows[1][3] != "premium" {
			t.Fatalf("csv = %q", rows)
		}
	})
}

// failingReserve builds the export, then fails before the commit (a lost connection, a
// serialization failure): nothing may be reserved and no credentials may leave.
type failingReserve struct{ *store.Store }

func (f failingReserve) Reserve(ctx context.Context, tier string, n int, write func([]pool.Account) error) ([]pool.Account, error) {
	return f.Store.Reserve(ctx, tier, n, func(as []pool.Account) error {
		if err := write(as); err != nil {
			return err
		}
		return errors.New("injected: commit failed")
	})
}

func TestExportFailureReservesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		as := seedReady(t, s, "basic", 2)
		e := newEnv(t, s, func(c *admin.Config) { c.Store = failingReserve{s} })
		before := digest(t, s)
		w := e.do("POST", "/admin/v1/export", tokenA, `{"tier":"basic","all":true}`)
		wantCode(t, w, http.StatusInternalServerError)
		if b := decodeJSON[map[string]string](t, w); b["error"] != "internal error" {
			t.Errorf("500 body %v", b)
		}
		for _, a := range as {
			if strings.Contains(w.Body.String(), a.CustomerPassword) || strings.Contains(w.Body.String(), a.CustomerUser) {
				t.Fatalf("credentials left with a failed export: %s", w.Body)
			}
		}
		if after := digest(t, s); after != before {
			t.Errorf("a failed export changed the store")
		}
		if !strings.Contains(e.logs.String(), "injected: commit failed") {
			t.Errorf("the cause is not logged: %s", e.logs)
		}
	})
}

func TestClaim(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		s := open(nil)
		as := seedReady(t, s, "basic", 2)
		e := newEnv(t, s, nil)
		w := e.do("POST", "/admin/v1/claim", tokenA, `{"order":"manual-7","tier":"basic"}`)
		wantCode(t, w, http.StatusCreated)
		c := decodeJSON[admin.Claimed](t, w)
		if !c.Created || c.Account.ID != as[0].ID || c.Account.OrderID != "manual:manual-7" ||
			c.Account.State != "claimed" || c.Account.URL != as[0].URL {
			t.Fatalf("claim = %+v", c)
		}
		// The customer gets a password of the claim's own, rotated at the tenant and stored,
		// never the one the account had in the pool.
		stored, err := s.Get(context.Background(), as[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Password == as[0].CustomerPassword || c.Password != stored.CustomerPassword || e.tenants.Rotated(as[0].Slug) != 1 {
			t.Fatalf("claim handed out the pool's password, or one not stored (rotations %d)", e.tenants.Rotated(as[0].Slug))
		}
		if st := state(t, s, as[0].ID); st != pool.StateClaimed {
			t.Fatalf("claimed account is %s", st)
		}
		// The same order always gets the same account and password, rotated once; the id
		// given with its namespace is the same order.
		for _, order := range []string{"manual-7", "manual:manual-7"} {
			w = e.do("POST", "/admin/v1/claim", tokenA, `{"order":"`+order+`","tier":"basic"}`)
			wantCode(t, w, http.StatusOK)
			if again := decodeJSON[admin.Claimed](t, w); again.Created || again.Account.ID != as[0].ID || again.Password != c.Password {
				t.Fatalf("repeat claim %s = %+v", order, again)
			}
		}
		if n := e.tenants.Rotated(as[0].Slug); n != 1 {
			t.Fatalf("%d rotations, want 1", n)
		}
		before := digest(t, s)
		w = e.do("POST", "/admin/v1/claim", tokenA, `{"order":"manual-7","tier":"premium"}`)
		wantCode(t, w, http.StatusConflict)
		if !strings.Contains(w.Body.String(), "already holds account") {
			t.Errorf("409 body %s", w.Body)
		}
		if digest(t, s) != before {
			t.Error("a conflicting claim changed the store")
		}
		if st := state(t, s, as[1].ID); st != pool.StateReady {
			t.Errorf("second account is %s", st)
		}
		if e.triggers.Load() != 1 {
			t.Errorf("reconciler triggered %d times, want 1 (new claims only)", e.triggers.Load())
		}
	})
}

func TestRetirePauseResume(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		as := seedReady(t, s, "basic", 2)
		e := newEnv(t, s, nil)
		for _, ref := range []string{fmt.Sprint(as[0].ID), as[1].Slug} {
			w := e.do("POST", "/admin/v1/accounts/"+ref+"/retire", tokenA, "")
			wantCode(t, w, http.StatusOK)
			if a := decodeJSON[admin.Account](t, w); a.State != "retired" {
				t.Errorf("retire %s = %+v", ref, a)
			}
		}
		for _, a := range as {
			if st := state(t, s, a.ID); st != pool.StateRetired {
				t.Errorf("%s is %s", a.Slug, st)
			}
		}
		var destroys int
		if err := s.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'destroy'`).Scan(&destroys); err != nil {
			t.Fatal(err)
		}
		if destroys != 2 {
			t.Errorf("%d teardowns queued, want 2", destroys)
		}
		before := digest(t, s)
		w := e.do("POST", "/admin/v1/accounts/"+as[1].Slug+"/retire", tokenA, "")
		wantCode(t, w, http.StatusConflict)
		if digest(t, s) != before {
			t.Error("a refused retire changed the store")
		}

		paused := func(tier string) bool {
			_, st, err := s.Counts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return st[tier].Paused
		}
		w = e.do("POST", "/admin/v1/tiers/premium/pause", tokenA, "")
		wantCode(t, w, http.StatusOK)
		if b := decodeJSON[map[string]any](t, w); b["paused"] != true || b["tier"] != "premium" {
			t.Errorf("pause = %v", b)
		}
		if !paused("premium") || paused("basic") {
			t.Error("pause did not pause premium alone")
		}
		w = e.do("GET", "/admin/v1/status", tokenA, "")
		wantCode(t, w, http.StatusOK)
		st := decodeJSON[struct {
			Tiers         []admin.TierStatus
			OrdersEnabled bool `json:"orders_enabled"`
		}](t, w)
		if len(st.Tiers) != 3 || st.Tiers[0].Tier != "basic" || st.Tiers[0].Counts["retired"] != 2 ||
			st.Tiers[0].MinReady != 3 || !st.Tiers[2].Paused || st.Tiers[2].Tier != "premium" || !st.OrdersEnabled {
			t.Errorf("status = %+v", st)
		}
		wantCode(t, e.do("POST", "/admin/v1/tiers/premium/resume", tokenA, ""), http.StatusOK)
		if paused("premium") {
			t.Error("resume did not resume")
		}
	})
}

// A sold account is retired only with "force": then it is suspended and its teardown is
// scheduled after the grace, or it is retired at once with "now" too.
func TestRetireSoldNeedsForce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t).WithLogger(quartz.NoOpLogger)
		s := open(clock)
		seedReady(t, s, "basic", 3)
		const grace = 72 * time.Hour
		e := newEnv(t, s, func(c *admin.Config) { c.Grace = grace })
		var sold []pool.Account
		for _, o := range []string{"o1", "o2"} {
			a, _, err := s.Claim(ctx, "basic", o)
			if err != nil {
				t.Fatal(err)
			}
			sold = append(sold, a)
		}
		before := digest(t, s)
		for _, body := range []string{"", `{}`, `{"now":true}`, `{"force":false}`} {
			w := e.do("POST", "/admin/v1/accounts/"+sold[0].Slug+"/retire", tokenA, body)
			wantCode(t, w, http.StatusConflict)
			if b := decodeJSON[map[string]string](t, w); !strings.Contains(b["error"], "needs force") {
				t.Errorf("body %q: error %q", body, b["error"])
			}
		}
		for _, bad := range []string{`{"force":"yes"}`, `{"force":true,"grace":"1h"}`, `[true]`} {
			wantCode(t, e.do("POST", "/admin/v1/accounts/"+sold[0].Slug+"/retire", tokenA, bad), http.StatusBadRequest)
		}
		if digest(t, s) != before {
			t.Fatal("a refused retire changed the store")
		}

		w := e.do("POST", "/admin/v1/accounts/"+sold[0].Slug+"/retire", tokenA, `{"force":true}`)
		wantCode(t, w, http.StatusOK)
		due := clock.Now().Add(grace).Truncate(time.Millisecond)
		if a := decodeJSON[admin.Account](t, w); a.State != "suspended" || !a.RetireAt.Equal(due) {
			t.Fatalf("forced retire = %+v, want suspended until %v", a, due)
		}
		var suspends, retires, destroys int
		s.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'account_suspend'`).Scan(&suspends)
		s.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'account_retire' AND state = 'scheduled'`).Scan(&retires)
		s.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'destroy'`).Scan(&destroys)
		if suspends != 1 || retires != 1 || destroys != 0 {
			t.Fatalf("jobs: %d suspend, %d scheduled retire, %d destroy; want 1, 1, 0", suspends, retires, destroys)
		}

		w = e.do("POST", "/admin/v1/accounts/"+fmt.Sprint(sold[1].ID)+"/retire", tokenA, `{"force":true,"now":true}`)
		wantCode(t, w, http.StatusOK)
		if a := decodeJSON[admin.Account](t, w); a.State != "retired" {
			t.Fatalf("forced retire now = %+v", a)
		}
		s.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'destroy'`).Scan(&destroys)
		if destroys != 1 {
			t.Fatalf("%d teardowns queued, want 1", destroys)
		}
		if !strings.Contains(e.logs.String(), "sold account retired") {
			t.Error("the forced retirement was not logged")
		}
	})
}

func TestOrdersAndResend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		seedReady(t, s, "basic", 1)
		if _, _, err := s.ClaimOrder(ctx, store.Order{ID: "cs_claimed", Tier: "basic", CustomerEmail: "ada@example.test"},
			"evt_1", "checkout.session.completed"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddPendingOrder(ctx, store.Order{ID: "cs_pending", Tier: "premium", CustomerEmail: "bob@example.test"},
			"evt_2", "checkout.session.completed", "client"); err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, s, nil)
		list := func(q string) []admin.Order {
			w := e.do("GET", "/admin/v1/orders"+q, tokenA, "")
			wantCode(t, w, http.StatusOK)
			return decodeJSON[struct{ Orders []admin.Order }](t, w).Orders
		}
		if got := list(""); len(got) != 2 {
			t.Fatalf("orders = %+v", got)
		}
		if got := list("?state=pending"); len(got) != 1 || got[0].ID != "cs_pending" || got[0].Tier != "premium" {
			t.Fatalf("pending = %+v", got)
		}
		if got := list("?state=claimed&limit=1"); len(got) != 1 || got[0].AccountID == 0 || got[0].CustomerEmail != "ada@example.test" {
			t.Fatalf("claimed = %+v", got)
		}

		before := digest(t, s)
		w := e.do("POST", "/admin/v1/orders/cs_claimed/resend", tokenA, "")
		wantCode(t, w, http.StatusAccepted)
		if b := decodeJSON[map[string]any](t, w); b["order"] != "cs_claimed" || b["resend"] != float64(1) {
			t.Errorf("resend = %v", b)
		}
		wantCode(t, e.do("POST", "/admin/v1/orders/cs_pending/resend", tokenA, ""), http.StatusConflict)
		wantCode(t, e.do("POST", "/admin/v1/orders/cs_nope/resend", tokenA, ""), http.StatusNotFound)
		if !slices.Equal(e.resends, []string{"cs_claimed"}) {
			t.Errorf("orders service asked to resend %v", e.resends)
		}
		if digest(t, s) != before {
			t.Error("a resend changed the store by itself (the orders service does that)")
		}

		// Orders not configured: a clear 503.
		off := newEnv(t, s, func(c *admin.Config) { c.Resend = nil })
		w = off.do("POST", "/admin/v1/orders/cs_claimed/resend", tokenA, "")
		wantCode(t, w, http.StatusServiceUnavailable)
		if b := decodeJSON[map[string]string](t, w); !strings.Contains(b["error"], "not configured") {
			t.Errorf("503 body %v", b)
		}
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		as := seedReady(t, s, "basic", 2)
		if _, err := s.Retire(ctx, as[1].ID); err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, s, nil)
		big := `{"count":1,"tier":"basic","prefix":"` + strings.Repeat("a", admin.MaxBody) + `"}`
		tests := []struct {
			name, method, path, ctype, body string
			code                            int
			field, msg                      string
		}{
			{"count 0", "POST", "/admin/v1/accounts/batch", "", `{"count":0,"tier":"basic"}`, 400, "count", "count 0: must be between 1 and 500"},
			{"count missing", "POST", "/admin/v1/accounts/batch", "", `{"tier":"basic"}`, 400, "count", "count 0: must be between 1 and 500"},
			{"count 501", "POST", "/admin/v1/accounts/batch", "", `{"count":501,"tier":"basic"}`, 400, "count", "count 501: must be between 1 and 500"},
			{"count negative", "POST", "/admin/v1/accounts/batch", "", `{"count":-1,"tier":"basic"}`, 400, "count", ""},
			{"count string", "POST", "/admin/v1/accounts/batch", "", `{"count":"5","tier":"basic"}`, 400, "", ""},
			{"count fraction", "POST", "/admin/v1/accounts/batch", "", `{"count":1.5,"tier":"basic"}`, 400, "", ""},
			{"bad prefix", "POST", "/admin/v1/accounts/batch", "", `{"count":1,"tier":"basic","prefix":"Client"}`, 400, "prefix", "prefix: invalid slug prefix"},
			{"prefix ends in digit", "POST", "/admin/v1/accounts/batch", "", `{"count":1,"tier":"basic","prefix":"c1"}`, 400, "prefix", ""},
			{"unknown tier", "POST", "/admin/v1/accounts/batch", "", `{"count":1,"tier":"gold"}`, 400, "tier", `tier: unknown tier "gold"`},
			{"tier missing", "POST", "/admin/v1/accounts/batch", "", `{"count":1}`, 400, "tier", "tier: unknown tier: required"},
			{"unknown field", "POST", "/admin/v1/accounts/batch", "", `{"count":1,"tier":"basic","teir":"x"}`, 400, "", `unknown field "teir"`},
			{"bad json", "POST", "/admin/v1/accounts/batch", "", `{"count":1,`, 400, "", ""},
			{"not an object", "POST", "/admin/v1/accounts/batch", "", `[1]`, 400, "", ""},
			{"trailing data", "POST", "/admin/v1/accounts/batch", "", `{"count":1,"tier":"basic"} {"count":2}`, 400, "", "unexpected data"},
			{"empty body", "POST", "/admin/v1/accounts/batch", "application/json", "", 400, "", "empty"},
			{"text/plain", "POST", "/admin/v1/accounts/batch", "text/plain", `{"count":1,"tier":"basic"}`, 415, "", "application/json"},
			{"form", "POST", "/admin/v1/accounts/batch", "application/x-www-form-urlencoded", `count=1`, 415, "", ""},
			{"no content type", "POST", "/admin/v1/claim", "-", `{"order":"o","tier":"basic"}`, 415, "", ""},
			{"too large", "POST", "/admin/v1/accounts/batch", "", big, 413, "", ""},
			{"too large, unknown length", "POST", "/admin/v1/export", "chunked", big, 413, "", ""},
			{"export count negative", "POST", "/admin/v1/export", "", `{"count":-1}`, 400, "count", "count -1: must be ≥ 1"},
			{"export neither count nor all", "POST", "/admin/v1/export", "", `{"tier":"basic"}`, 400, "count", "count or all: required"},
			{"export count 0", "POST", "/admin/v1/export", "", `{"count":0}`, 400, "count", "count or all: required"},
			{"export all false", "POST", "/admin/v1/export", "", `{"all":false}`, 400, "count", "count or all: required"},
			{"export count and all", "POST", "/admin/v1/export", "", `{"count":2,"all":true}`, 400, "count", "count or all: give one, not both"},
			{"export all not a boolean", "POST", "/admin/v1/export", "", `{"all":"yes"}`, 400, "", ""},
			{"export unknown tier", "POST", "/admin/v1/export", "", `{"tier":"gold","all":true}`, 400, "tier", ""},
			{"export unknown field", "POST", "/admin/v1/export", "", `{"tier":"basic","csv":"x"}`, 400, "", ""},
			{"export empty tier", "POST", "/admin/v1/export", "", `{"tier":"premium","all":true}`, 409, "", "no ready account"},
			{"claim no order", "POST", "/admin/v1/claim", "", `{"tier":"basic"}`, 400, "order", "order: required"},
			{"claim long order", "POST", "/admin/v1/claim", "", `{"order":"` + strings.Repeat("o", 256) + `","tier":"basic"}`, 400, "order", "at most 248"},
			{"claim Stripe session id", "POST", "/admin/v1/claim", "", `{"order":"cs_test_a1","tier":"basic"}`, 400, "order", "Stripe Checkout Session"},
			{"claim manual Stripe session id", "POST", "/admin/v1/claim", "", `{"order":"manual:cs_test_a1","tier":"basic"}`, 400, "order", "Stripe Checkout Session"},
			{"claim order with a space", "POST", "/admin/v1/claim", "", `{"order":"a b","tier":"basic"}`, 400, "order", "spaces"},
			{"claim unknown tier", "POST", "/admin/v1/claim", "", `{"order":"o","tier":"gold"}`, 400, "tier", ""},
			{"claim empty pool", "POST", "/admin/v1/claim", "", `{"order":"o","tier":"premium"}`, 409, "", "no ready account"},
			{"retire unknown id", "POST", "/admin/v1/accounts/999/retire", "", "", 404, "", "not found"},
			{"retire unknown slug", "POST", "/admin/v1/accounts/nobody/retire", "", "", 404, "", "not found"},
			{"retire retired", "POST", "/admin/v1/accounts/" + as[1].Slug + "/retire", "", "", 409, "", "illegal state transition"},
			{"pause unknown tier", "POST", "/admin/v1/tiers/gold/pause", "", "", 400, "tier", ""},
			{"resume unknown tier", "POST", "/admin/v1/tiers/gold/resume", "", "", 400, "tier", ""},
			{"resend unknown order", "POST", "/admin/v1/orders/cs_nope/resend", "", "", 404, "", ""},
			{"list unknown tier", "GET", "/admin/v1/accounts?tier=gold", "", "", 400, "tier", ""},
			{"list unknown state", "GET", "/admin/v1/accounts?state=sold", "", "", 400, "state", "unknown state"},
			{"list negative limit", "GET", "/admin/v1/accounts?limit=-1", "", "", 400, "limit", "limit -1: must be ≥ 0"},
			{"list limit not a number", "GET", "/admin/v1/accounts?limit=ten", "", "", 400, "limit", ""},
			{"list unknown parameter", "GET", "/admin/v1/accounts?teir=basic", "", "", 400, "teir", "unknown parameter"},
			{"list repeated parameter", "GET", "/admin/v1/accounts?tier=basic&tier=premium", "", "", 400, "tier", ""},
			{"orders unknown state", "GET", "/admin/v1/orders?state=paid", "", "", 400, "state", "unknown order state"},
			{"orders negative limit", "GET", "/admin/v1/orders?limit=-5", "", "", 400, "limit", ""},
		}
		before := digest(t, s)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
				switch tt.ctype {
				case "":
					r.Header.Set("Content-Type", "application/json; charset=utf-8")
				case "-":
				case "chunked":
					r.Header.Set("Content-Type", "application/json")
					r.ContentLength = -1
				default:
					r.Header.Set("Content-Type", tt.ctype)
				}
				r.Header.Set("Authorization", "Bearer "+tokenA)
				w := e.serve(r)
				wantCode(t, w, tt.code)
				var b struct{ Error, Field string }
				if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Error == "" {
					t.Fatalf("not a JSON error: %s", w.Body)
				}
				if b.Field != tt.field {
					t.Errorf("field %q, want %q (%s)", b.Field, tt.field, b.Error)
				}
				if !strings.Contains(b.Error, tt.msg) {
					t.Errorf("error %q, want it to contain %q", b.Error, tt.msg)
				}
				if after := digest(t, s); after != before {
					t.Fatalf("the store changed:\n%s\n---\n%s", before, after)
				}
			})
		}
		if e.triggers.Load() != 0 || len(e.resends) != 0 {
			t.Error("a refused request reached the reconciler or the orders service")
		}
	})
}

func TestMountedInTheDaemonMux(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	api, err := admin.New(admin.Config{Store: s, Tiers: tiers(t), Prefix: "client", Tokens: []string{tokenA}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {})
	mux.Handle(admin.Prefix, api.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path, token string) int {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for path, want := range map[string]int{"/admin/v1/status": 401, "/admin/anything": 401, "/healthz": 200} {
		if got := get(path, ""); got != want {
			t.Errorf("GET %s without token: %d, want %d", path, got, want)
		}
	}
	if got := get("/admin/v1/status", tokenA); got != 200 {
		t.Errorf("GET /admin/v1/status: %d", got)
	}
}

// refusingRotate is the tenants double whose password rotation fails while refuse is set (the
// tenant cannot be reached).
type refusingRotate struct {
	*pooltest.Provisioner
	refuse atomic.Bool
}

func (r *refusingRotate) RotateCustomer(ctx context.Context, a pool.Account, pw string) error {
	if r.refuse.Load() {
		return errors.New("dial tcp: connection refused (injected)")
	}
	return r.Provisioner.RotateCustomer(ctx, a, pw)
}

// A manual claim whose rotation fails answers 502 and keeps the account claimed with the pool's
// password untouched; repeating the claim rotates to the password recorded the first time.
func TestClaimRotationFailureIsRetried(t *testing.T) {
	s := storetest.OpenSQLite(t, t.TempDir(), nil)
	as := seedReady(t, s, "basic", 1)
	rot := &refusingRotate{Provisioner: &pooltest.Provisioner{}}
	rot.refuse.Store(true)
	e := newEnv(t, s, func(c *admin.Config) { c.Tenants = rot })
	w := e.do("POST", "/admin/v1/claim", tokenA, `{"order":"walk-in-1","tier":"basic"}`)
	wantCode(t, w, http.StatusBadGateway)
	if strings.Contains(w.Body.String(), as[0].CustomerPassword) {
		t.Fatal("the error answer carries a password")
	}
	got, err := s.Get(context.Background(), as[0].ID)
	if err != nil || got.State != pool.StateClaimed || got.OrderID != "manual:walk-in-1" || got.CustomerPassword != as[0].CustomerPassword {
		t.Fatalf("after the failed rotation: %+v, %v (want claimed, the pool's password kept)", got.State, err)
	}
	rot.refuse.Store(false)
	w = e.do("POST", "/admin/v1/claim", tokenA, `{"order":"walk-in-1","tier":"basic"}`)
	wantCode(t, w, http.StatusOK)
	c := decodeJSON[admin.Claimed](t, w)
	want, err := s.DeliveryPassword(context.Background(), "manual:walk-in-1", "manual:walk-in-1", as[0].ID)
	if err != nil || c.Password != want || c.Password == as[0].CustomerPassword || rot.Rotated(as[0].Slug) != 1 {
		t.Fatalf("retried claim handed out another password than the one recorded first (%v, rotations %d)", err, rot.Rotated(as[0].Slug))
	}
}
