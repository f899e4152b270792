-- Orders held for the operator get a state of their own (their reason is in last_error): a
-- pending order without a tier used to stand for "held". Its job looks at it again.

-- +goose Up
UPDATE orders SET state = 'held' WHERE state = 'pending' AND tier = '';

-- +goose Down
UPDATE orders SET state = 'pending' WHERE state = 'held';
