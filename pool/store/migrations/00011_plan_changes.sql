-- Plan changes in place: a sold account moved to another tier (a Stripe subscription moved to
-- another price, or the operator's `poold accounts set-tier`) keeps its account, stack and data
-- volume; its stack is re-applied with the new tier. Portable types only, times in Unix ms.

-- +goose Up
-- When the account's tier was last decided (a Stripe event's creation time, or the operator's
-- clock): an older decision arriving later changes nothing.
ALTER TABLE accounts ADD COLUMN tier_at BIGINT NOT NULL DEFAULT 0;

-- Every plan change, in order. Ids come from the counters table (name 'plan_change').
CREATE TABLE plan_changes (
    id              BIGINT PRIMARY KEY,
    account_id      BIGINT NOT NULL,
    order_id        TEXT NOT NULL DEFAULT '',
    subscription_id TEXT NOT NULL DEFAULT '',
    price_id        TEXT NOT NULL DEFAULT '',
    from_tier       TEXT NOT NULL,
    to_tier         TEXT NOT NULL,              -- '' while held (a price no tier sells)
    source          TEXT NOT NULL,              -- stripe or operator
    state           TEXT NOT NULL,              -- held, applying, applied, waiting, failed, superseded
    decided_at      BIGINT NOT NULL,            -- the Stripe event's creation time, or the operator's now
    created_at      BIGINT NOT NULL,
    applied_at      BIGINT NOT NULL DEFAULT 0,
    generation      TEXT NOT NULL DEFAULT '',   -- what the tenant runs after the re-apply
    detach_at       BIGINT NOT NULL DEFAULT 0,  -- a downgrade: custom domains beyond the allowance go then
    last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX plan_changes_account ON plan_changes (account_id, id);
CREATE INDEX plan_changes_state ON plan_changes (state, id);

-- +goose Down
DROP TABLE plan_changes;
ALTER TABLE accounts DROP COLUMN tier_at;
