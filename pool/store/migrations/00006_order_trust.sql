-- Orders held for the operator get a state of their own (their reason is in last_error): a
-- pending order without a tier used to stand for "held".
-- Statuses: a subscription's status has a precedence (two events of the same second are ordered
-- by it, and canceled / incomplete_expired are terminal) and the time it has held since (a
-- past_due subscription keeps running for a grace). An order can end on its own: a full refund,
-- a lost dispute, the term of a one-time payment (orders.ended says why, term_ends_at when).
-- Seats: an order buys seats accounts; order_accounts lists them by seat (seat 1 is also
-- orders.account_id). A seat's account carries the claim key "<order>" (seat 1) or
-- "<order>#<seat>" in accounts.order_id, so every seat's claim is idempotent on its own.

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
UPDATE stripe_subscriptions SET status_rank = 8 WHERE status = 'canceled';
ALTER TABLE orders ADD COLUMN seats INTEGER NOT NULL DEFAULT 1;
CREATE TABLE order_accounts (
    order_id   TEXT NOT NULL,
    seat       INTEGER NOT NULL,
    account_id BIGINT NOT NULL UNIQUE,
    PRIMARY KEY (order_id, seat)
);
INSERT INTO order_accounts (order_id, seat, account_id) SELECT id, 1, account_id FROM orders WHERE account_id IS NOT NULL;

-- +goose Down
DROP TABLE order_accounts;
ALTER TABLE orders DROP COLUMN seats;
ALTER TABLE stripe_subscriptions DROP COLUMN status_since;
ALTER TABLE stripe_subscriptions DROP COLUMN status_rank;
DROP INDEX orders_customer;
DROP INDEX orders_payment_intent;
ALTER TABLE orders DROP COLUMN term_ends_at;
ALTER TABLE orders DROP COLUMN ended;
ALTER TABLE orders DROP COLUMN payment_intent;
UPDATE orders SET state = 'pending' WHERE state = 'held';
