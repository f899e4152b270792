-- Orders held for the operator get a state of their own (their reason is in last_error): a
-- pending order without a tier used to stand for "held".
-- Statuses: a subscription's status has a precedence (two events of the same second are ordered
-- by it, and canceled / incomplete_expired are terminal) and the time it has held since (a
-- past_due subscription keeps running for a grace). An order can end on its own: a full refund,
-- a lost dispute, the term of a one-time payment (orders.ended says why, term_ends_at when).

-- +goose Up
UPDATE orders SET state = 'held' WHERE state = 'pending' AND tier = '';
ALTER TABLE orders ADD COLUMN payment_intent TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN ended TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN term_ends_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX orders_payment_intent ON orders (payment_intent);
CREATE INDEX orders_customer ON orders (customer_id);
ALTER TABLE stripe_subscriptions ADD COLUMN status_rank INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stripe_subscriptions ADD COLUMN status_since BIGINT NOT NULL DEFAULT 0;
UPDATE stripe_subscriptions SET status_since = status_at;
UPDATE stripe_subscriptions SET status_rank = 7 WHERE status = 'canceled';

-- +goose Down
ALTER TABLE stripe_subscriptions DROP COLUMN status_since;
ALTER TABLE stripe_subscriptions DROP COLUMN status_rank;
DROP INDEX orders_customer;
DROP INDEX orders_payment_intent;
ALTER TABLE orders DROP COLUMN term_ends_at;
ALTER TABLE orders DROP COLUMN ended;
ALTER TABLE orders DROP COLUMN payment_intent;
UPDATE orders SET state = 'pending' WHERE state = 'held';
