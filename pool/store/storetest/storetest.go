// Package storetest opens real stores for tests: SQLite in a temp dir always, PostgreSQL (a
// fresh schema per test) when POOL_TEST_DATABASE_URL is set. With POOL_TEST_REQUIRE_ALL set (CI
// sets it), a missing PostgreSQL URL fails the test instead of skipping it.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool/store"
)

// Key is the fixed sealing key of test stores.
var Key = bytes.Repeat([]byte{42}, 32)

// Backend opens stores of one kind.
type Backend struct {
	Name string
	// Open returns a store on a fresh database (Clock may be nil).
	Open func(t testing.TB, clock quartz.Clock) *store.Store
}

// Backends lists SQLite and, when configured, PostgreSQL.
func Backends(t testing.TB) []Backend {
	bs := []Backend{{"sqlite", func(t testing.TB, clock quartz.Clock) *store.Store {
		return OpenSQLite(t, t.TempDir(), clock)
	}}}
	base := PostgresURL(t)
	if base == "" {
		return bs
	}
	return append(bs, Backend{"postgres", func(t testing.TB, clock quartz.Clock) *store.Store {
		return OpenPostgres(t, SchemaURL(t, base), clock)
	}})
}

// Each runs fn once per backend as a subtest.
func Each(t *testing.T, fn func(t *testing.T, open func(quartz.Clock) *store.Store)) {
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, func(c quartz.Clock) *store.Store { return b.Open(t, c) })
		})
	}
}

// PostgresURL returns POOL_TEST_DATABASE_URL; when it is unset it logs (or, under
// POOL_TEST_REQUIRE_ALL, fails) and returns "".
func PostgresURL(t testing.TB) string {
	u := os.Getenv("POOL_TEST_DATABASE_URL")
	if u == "" {
		if os.Getenv("POOL_TEST_REQUIRE_ALL") != "" {
			t.Fatal("POOL_TEST_REQUIRE_ALL is set but POOL_TEST_DATABASE_URL is not: the PostgreSQL tests must run")
		}
		t.Log("POOL_TEST_DATABASE_URL not set: PostgreSQL part skipped")
	}
	return u
}

// RequirePostgres returns the PostgreSQL test URL or skips (fails under POOL_TEST_REQUIRE_ALL).
func RequirePostgres(t testing.TB) string {
	u := PostgresURL(t)
	if u == "" {
		t.Skip("POOL_TEST_DATABASE_URL not set")
	}
	return u
}

// OpenSQLite opens a store on dir, closed when the test ends.
func OpenSQLite(t testing.TB, dir string, clock quartz.Clock) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{DataDir: dir, Key: Key, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// OpenPostgres opens a store on the database URL u, closed when the test ends.
func OpenPostgres(t testing.TB, u string, clock quartz.Clock) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{DatabaseURL: u, Key: Key, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// SchemaURL creates a fresh schema for one test and returns a URL whose search_path points at
// it; the schema is dropped when the test ends.
func SchemaURL(t testing.TB, base string) string {
	t.Helper()
	schema := "t_" + strings.ToLower(rand.Text()[:12])
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema (is PostgreSQL running at %s?): %v", base, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// EachReopen runs fn once per backend as a subtest with open, which opens the subtest's one
// fresh database — again and again, with the options given (their DataDir or DatabaseURL are
// filled in; a zero Key and Keyring mean Key). Each store is closed when the test ends.
func EachReopen(t *testing.T, fn func(t *testing.T, open func(store.Options) *store.Store)) {
	bases := map[string]func(t testing.TB) store.Options{
		"sqlite": func(t testing.TB) store.Options { return store.Options{DataDir: t.TempDir()} },
	}
	names := []string{"sqlite"}
	if base := PostgresURL(t); base != "" {
		bases["postgres"] = func(t testing.TB) store.Options { return store.Options{DatabaseURL: SchemaURL(t, base)} }
		names = append(names, "postgres")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			where := bases[name](t)
			fn(t, func(o store.Options) *store.Store {
				t.Helper()
				o.DataDir, o.DatabaseURL = where.DataDir, where.DatabaseURL
				if o.Key == nil && o.Keyring == nil {
					o.Key = Key
				}
				s, err := store.Open(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}
