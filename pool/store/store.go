// Package store keeps accounts, tier status and the durable job queue in SQL: embedded SQLite
// (modernc.org/sqlite, WAL, busy timeout, write transactions that take the lock up front) by
// default, PostgreSQL (pgx) when a database URL is given. One set of embedded goose migrations
// serves both; river's own migrations add the job tables in the same database, so a row change
// and the job it needs commit together.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/quartz"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/axiestudio/tenantpool/pool/secret"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure Open.
type Options struct {
	// DataDir holds the SQLite database (pool.db) when DatabaseURL is empty.
	DataDir string
	// DatabaseURL selects PostgreSQL (postgres://…).
	DatabaseURL string
	// Keyring seals account secrets with its current key and opens them with any of its keys
	// (see package secret). Nil: a keyring of Key alone.
	Keyring *secret.Keyring
	// Key is the one sealing key (32 bytes) when Keyring is nil.
	Key []byte
	// MaxConns bounds the connections a PostgreSQL store opens (default DefaultMaxConns); the
	// webhook handlers, job workers and river share them. SQLite always uses one.
	MaxConns int
	// Clock defaults to the real clock.
	Clock quartz.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// DefaultMaxConns is a PostgreSQL store's connection pool when Options.MaxConns is zero. It was
// 16: three replicas on one 2-core database used a third less of its CPU with 8 each, and their
// bursts' p99 fell by ~0.8 s (BENCHMARKS.md, issue 11), since every backend is one more process
// to warm up and to schedule; a replica's statements are short and hold a connection only
// while they run.
const DefaultMaxConns = 8

// Store is the SQL store. It is safe for concurrent use.
type Store struct {
	db     *sql.DB
	pg     bool
	box    *secret.Keyring
	clock  quartz.Clock
	log    *slog.Logger
	driver riverdriver.Driver[*sql.Tx]
	river  *river.Client[*sql.Tx] // insert-only

	leaderConn *sql.Conn // PostgreSQL: holds the reconcile advisory lock while leading
	lockFile   *os.File  // SQLite: flock on the data dir while leading
	leaderKey  int64
	dataDir    string

	// SQLite claim batcher (group commit); see claim.go.
	claims     chan *claimReq
	closed     chan struct{}
	claimsDone chan struct{}
	closeOnce  sync.Once

	claimObserver atomic.Pointer[func(tier string, d time.Duration, err error)]
}

// Open connects, migrates and returns the store.
func Open(ctx context.Context, o Options) (*Store, error) {
	var err error
	box := o.Keyring
	if box == nil {
		if box, err = secret.NewKeyring(o.Key); err != nil {
			return nil, err
		}
	}
	s := &Store{box: box, clock: o.Clock, log: o.Logger, dataDir: o.DataDir}
	if s.clock == nil {
		s.clock = quartz.NewReal()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if o.DatabaseURL != "" {
		if !strings.HasPrefix(o.DatabaseURL, "postgres://") && !strings.HasPrefix(o.DatabaseURL, "postgresql://") {
			return nil, errors.New("database URL must start with postgres:// or postgresql://")
		}
		s.pg = true
		s.db, err = sql.Open("pgx", o.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		n := o.MaxConns
		if n <= 0 {
			n = DefaultMaxConns
		}
		s.db.SetMaxOpenConns(n)
		s.db.SetMaxIdleConns(n)
		s.driver = riverdatabasesql.New(s.db)
	} else {
		if o.DataDir == "" {
			return nil, errors.New("a data directory or a database URL is required")
		}
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		dsn := "file:" + filepath.Join(o.DataDir, "pool.db") +
			"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
			"&_pragma=foreign_keys(1)&_txlock=immediate"
		s.db, err = sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// One connection: SQLite runs one writer at a time anyway, and a single connection
		// queues writers in Go instead of spinning on SQLITE_BUSY (river's advice too).
		s.db.SetMaxOpenConns(1)
		s.driver = riversqlite.New(s.db)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	s.river, err = river.NewClient(s.driver, &river.Config{Logger: s.log})
	if err != nil {
		s.db.Close()
		return nil, fmt.Errorf("job client: %w", err)
	}
	s.closed = make(chan struct{})
	if !s.pg {
		s.claims, s.claimsDone = make(chan *claimReq), make(chan struct{})
		go s.claimLoop()
	}
	if s.pg {
		if s.leaderKey, err = s.reconcileLockKey(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// reconcileLockKey is the advisory-lock id of the reconcile leadership on PostgreSQL: a constant
// namespace combined with the schema the store's tables live in, never the database URL. Every
// replica of one pool agrees on it however its URL is spelled (a rolled password, a host alias,
// an extra parameter), and pools in different schemas of one database (tests run in parallel,
// each in a fresh schema) do not block each other. Advisory locks are per database, so pools in
// different databases never meet.
func (s *Store) reconcileLockKey(ctx context.Context) (int64, error) {
	var schema string
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(current_schema(), '')`).Scan(&schema); err != nil {
		return 0, fmt.Errorf("leader lock: current schema: %w", err)
	}
	return leaderKey(schema), nil
}

// leaderKey hashes the reconcile lock's namespace and a schema name into an advisory-lock id.
func leaderKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("tenantpool-reconcile\x00" + schema))
	return int64(h.Sum64() >> 1)
}

// migrate applies the schema and river's job tables. On PostgreSQL an advisory lock keeps
// replicas that start together from migrating at the same time.
func (s *Store) migrate(ctx context.Context) error {
	if s.pg {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer conn.Close()
		const key = 0x7465_6e61_6e74 // "tenant"
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
			return fmt.Errorf("migrate lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
	}
	dialect := goose.DialectSQLite3
	if s.pg {
		dialect = goose.DialectPostgres
	}
	sub, err := fsSub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(dialect, s.db, sub)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	m, err := rivermigrate.New(s.driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("job migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate jobs: %w", err)
	}
	return nil
}

// MigrationsCurrent reports whether every embedded migration is applied (for readiness).
func (s *Store) MigrationsCurrent(ctx context.Context) (bool, error) {
	dialect := goose.DialectSQLite3
	if s.pg {
		dialect = goose.DialectPostgres
	}
	sub, err := fsSub(migrations, "migrations")
	if err != nil {
		return false, err
	}
	p, err := goose.NewProvider(dialect, s.db, sub)
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	return !pending, err
}

// DB exposes the database handle (for the job workers' client and health checks).
func (s *Store) DB() *sql.DB { return s.db }

// Postgres reports whether the store runs on PostgreSQL.
func (s *Store) Postgres() bool { return s.pg }

// Driver is the river driver over the store's database.
func (s *Store) Driver() riverdriver.Driver[*sql.Tx] { return s.driver }

// Close releases leadership and the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	if s.claimsDone != nil {
		<-s.claimsDone
	}
	s.Resign()
	return s.db.Close()
}

// TryLead takes the reconcile leadership if nobody holds it; it keeps it until Resign or Close
// (or, on PostgreSQL, until the process dies and its session ends). On SQLite leadership is a
// flock on the data dir, so a second process on the same data dir cannot lead.
func (s *Store) TryLead(ctx context.Context) (bool, error) {
	if !s.pg {
		if s.lockFile != nil {
			return true, nil
		}
		f, err := os.OpenFile(filepath.Join(s.dataDir, "leader.lock"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return false, fmt.Errorf("leader lock: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return false, nil
			}
			return false, fmt.Errorf("leader lock: %w", err)
		}
		s.lockFile = f
		return true, nil
	}
	if s.leaderConn != nil {
		// Still ours while the session lives.
		if err := s.leaderConn.PingContext(ctx); err == nil {
			return true, nil
		}
		s.leaderConn.Close()
		s.leaderConn = nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("leader lock: %w", err)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", s.leaderKey).Scan(&ok); err != nil {
		conn.Close()
		return false, fmt.Errorf("leader lock: %w", err)
	}
	if !ok {
		conn.Close()
		return false, nil
	}
	s.leaderConn = conn
	return true, nil
}

// Resign gives up leadership.
func (s *Store) Resign() {
	if s.lockFile != nil {
		syscall.Flock(int(s.lockFile.Fd()), syscall.LOCK_UN)
		s.lockFile.Close()
		s.lockFile = nil
	}
	if s.leaderConn != nil {
		s.leaderConn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", s.leaderKey)
		s.leaderConn.Close()
		s.leaderConn = nil
	}
}

// rebind turns ? placeholders into $n for PostgreSQL. Our SQL has no ? inside literals.
func (s *Store) rebind(q string) string {
	if !s.pg {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *Store) nowMS() int64 { return s.clock.Now().UnixMilli() }

// inTx runs fn in a write transaction (IMMEDIATE on SQLite) and commits it.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 23505") || strings.Contains(msg, "UNIQUE constraint failed")
}
