package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/console"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// BenchmarkPages measures whole console page loads (handler, store reads, template) with
// 100,000 accounts in the store, one a minute over the last 69 days: 1 % ready, 1 %
// provisioning, the rest delivered or retired after a sale, 0.1 % flagged.
func BenchmarkPages(b *testing.B) {
	tiers, err := pool.NewTiers(pool.DefaultTiers())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for _, be := range storetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			clock := quartz.NewMock(b)
			clock.Set(now)
			s := be.Open(b, clock)
			seedPages(b, s, now)
			api, err := admin.New(admin.Config{Store: s, Tiers: tiers, Prefix: "client", Tokens: []string{token}})
			if err != nil {
				b.Fatal(err)
			}
			c, err := console.New(console.Config{Store: s, Ops: api, Tiers: tiers, Prefix: "client", Clock: clock})
			if err != nil {
				b.Fatal(err)
			}
			h := c.Handler()
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/console/signin", strings.NewReader(url.Values{"token": {token}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			h.ServeHTTP(rec, req)
			cookies := rec.Result().Cookies()
			if len(cookies) != 1 {
				b.Fatalf("sign-in: %d", rec.Code)
			}
			for _, page := range []string{"/console/pool", "/console/accounts", "/console/accounts?state=delivered",
				"/console/accounts?tier=premium&state=ready", "/console/accounts?before=50000", "/console/accounts?q=seed4242",
				"/console/health"} {
				b.Run(strings.TrimPrefix(page, "/console/"), func(b *testing.B) {
					for b.Loop() {
						rec := httptest.NewRecorder()
						req := httptest.NewRequest("GET", page, nil)
						req.AddCookie(cookies[0])
						h.ServeHTTP(rec, req)
						if rec.Code != http.StatusOK {
							b.Fatalf("%s: %d %s", page, rec.Code, rec.Body)
						}
					}
				})
			}
		})
	}
}

func seedPages(b *testing.B, s *store.Store, now time.Time) {
	b.Helper()
	ms := now.UnixMilli()
	_, err := s.DB().ExecContext(context.Background(), fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000),
		t(i, at) AS (SELECT i, %d - (100001 - i) * CAST(60000 AS BIGINT) FROM n)
		INSERT INTO accounts (id, slug, tier, state, url, operator_user, customer_user, secrets, order_id, created_at, updated_at,
			ready_at, claimed_at, flagged_at, probe_failures)
		SELECT i, 'seed' || i,
			CASE i %% 3 WHEN 0 THEN 'basic' WHEN 1 THEN 'premium' ELSE 'enterprise' END,
			CASE WHEN i %% 100 = 0 THEN 'ready' WHEN i %% 100 = 1 THEN 'provisioning' WHEN i %% 2 = 0 THEN 'retired' ELSE 'delivered' END,
			'https://seed' || i || '.example.test', 'op', 'c', 'x',
			CASE WHEN i %% 100 > 1 THEN 'cs_seed_' || i END,
			at, at + 3600000,
			CASE WHEN i %% 100 = 1 THEN 0 ELSE at + 600000 END,
			CASE WHEN i %% 100 > 1 THEN at + 3600000 ELSE 0 END,
			CASE WHEN i %% 1000 = 3 THEN at + 7200000 ELSE 0 END,
			CASE WHEN i %% 1000 = 3 THEN 3 ELSE 0 END
		FROM t`, ms))
	if err != nil {
		b.Fatal(err)
	}
	// A store in service is vacuumed and analysed (PostgreSQL's autovacuum); VACUUM also
	// fills the visibility map that lets the charts' index-only scans skip the table.
	if _, err := s.DB().ExecContext(context.Background(), "VACUUM"); err != nil {
		b.Fatal(err)
	}
	if _, err := s.DB().ExecContext(context.Background(), "ANALYZE"); err != nil {
		b.Fatal(err)
	}
}
