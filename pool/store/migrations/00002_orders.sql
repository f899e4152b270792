-- Orders paid through Stripe, the Stripe events already applied, the latest known status of
-- every subscription, and the e-mails already sent. Portable types only, times in Unix ms.

-- +goose Up
-- Every applied Stripe event: a replay finds its id here and changes nothing.
CREATE TABLE stripe_events (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- One order per Checkout Session (its id is the order id and the claim's idempotency key).
CREATE TABLE orders (
    id              TEXT PRIMARY KEY,
    state           TEXT NOT NULL,            -- pending, claimed, delivered
    tier            TEXT NOT NULL,            -- '' while no configured tier matches (held)
    tier_keys       TEXT NOT NULL DEFAULT '', -- price / payment link ids the tier was looked up by
    customer_email  TEXT NOT NULL,
    customer_name   TEXT NOT NULL DEFAULT '',
    customer_id     TEXT NOT NULL DEFAULT '',
    subscription_id TEXT NOT NULL DEFAULT '',
    account_id      BIGINT,
    resends         INTEGER NOT NULL DEFAULT 0,
    suspended_at    BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    claimed_at      BIGINT NOT NULL DEFAULT 0,
    delivered_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX orders_subscription ON orders (subscription_id);
CREATE INDEX orders_state ON orders (state, created_at);

-- The newest status seen per subscription, so that events arriving out of order (or before the
-- order they belong to) are applied in Stripe's order.
CREATE TABLE stripe_subscriptions (
    id        TEXT PRIMARY KEY,
    status    TEXT NOT NULL,
    status_at BIGINT NOT NULL   -- the event's created time
);

-- Dedupe keys (delivery.Message.DedupeKey) of e-mails the SMTP server accepted.
CREATE TABLE sent_emails (
    dedupe_key TEXT PRIMARY KEY,
    order_id   TEXT NOT NULL,
    sent_at    BIGINT NOT NULL
);

-- +goose Down
DROP TABLE sent_emails;
DROP TABLE stripe_subscriptions;
DROP TABLE orders;
DROP TABLE stripe_events;
