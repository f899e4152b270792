-- One schema for SQLite and PostgreSQL: portable types only (TEXT, INTEGER, BIGINT); times are
-- Unix milliseconds; ids come from the counters table, not from a dialect's auto-increment.

-- +goose Up
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

CREATE TABLE accounts (
    id               BIGINT PRIMARY KEY,
    slug             TEXT NOT NULL UNIQUE,
    tier             TEXT NOT NULL,
    state            TEXT NOT NULL,
    host             TEXT NOT NULL DEFAULT '',
    url              TEXT NOT NULL DEFAULT '',
    operator_user    TEXT NOT NULL,
    customer_user    TEXT NOT NULL,
    customer_user_id TEXT NOT NULL DEFAULT '',
    secrets          TEXT NOT NULL,           -- AES-256-GCM sealed JSON, bound to the row id
    order_id         TEXT UNIQUE,             -- the claim's idempotency key
    generation       TEXT NOT NULL DEFAULT '',
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    ready_at         BIGINT NOT NULL DEFAULT 0,
    claimed_at       BIGINT NOT NULL DEFAULT 0
);

-- Snapshot counts and the claim both read (state, tier) ranges: their cost follows the live
-- states they ask for, not the number of claimed or retired rows.
CREATE INDEX accounts_state_tier ON accounts (state, tier, id);
CREATE INDEX accounts_state_created ON accounts (state, created_at);

CREATE TABLE tier_status (
    tier                 TEXT PRIMARY KEY,
    paused               INTEGER NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_failure_at      BIGINT NOT NULL DEFAULT 0,
    last_error           TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE tier_status;
DROP TABLE accounts;
DROP TABLE counters;
