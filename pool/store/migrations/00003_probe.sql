-- Tenant health probe: per-account probe state and the history of what the prober did.
-- Portable types only, times in Unix ms. One ALTER TABLE per statement (SQLite adds one column
-- at a time).

-- +goose Up
ALTER TABLE accounts ADD COLUMN probe_failures INTEGER NOT NULL DEFAULT 0; -- consecutive failed probes
ALTER TABLE accounts ADD COLUMN probe_error TEXT NOT NULL DEFAULT '';      -- the last failed probe's reason
ALTER TABLE accounts ADD COLUMN probed_at BIGINT NOT NULL DEFAULT 0;       -- last probe, failed or not
ALTER TABLE accounts ADD COLUMN flagged_at BIGINT NOT NULL DEFAULT 0;      -- flagged for the operator (0 = not)

-- What happened to a tenant's health: the first failed probe of a streak, re-applies, flags,
-- recoveries. Ids come from the counters table (name 'account_event').
CREATE TABLE account_events (
    id         BIGINT PRIMARY KEY,
    account_id BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX account_events_account ON account_events (account_id, id);

-- +goose Down
DROP TABLE account_events;
ALTER TABLE accounts DROP COLUMN flagged_at;
ALTER TABLE accounts DROP COLUMN probed_at;
ALTER TABLE accounts DROP COLUMN probe_error;
ALTER TABLE accounts DROP COLUMN probe_failures;
