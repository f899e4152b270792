-- The operator console's reads (package console): newest-first keyset pages of accounts and
-- orders, filtered by state or tier; the flagged tenants; the e-mail search; the re-apply
-- history; and the 24 h / 30 d charts, derived from the accounts' ready and claim times. Each
-- page reads a bounded range of one of these, however many accounts the store holds.

-- +goose Up
CREATE INDEX accounts_state_id ON accounts (state, id);
CREATE INDEX accounts_tier_id ON accounts (tier, id);
CREATE INDEX accounts_ready_at ON accounts (ready_at) WHERE ready_at <> 0;
CREATE INDEX accounts_claimed_at ON accounts (claimed_at) WHERE claimed_at <> 0;
CREATE INDEX accounts_unhealthy ON accounts (flagged_at, probe_failures) WHERE flagged_at <> 0 OR probe_failures > 0;
CREATE INDEX accounts_unsold_left ON accounts (updated_at) WHERE claimed_at = 0 AND ready_at <> 0;
CREATE INDEX orders_created ON orders (created_at, id);
CREATE INDEX orders_customer_email ON orders (customer_email);
CREATE INDEX account_events_kind ON account_events (kind, id);

-- +goose Down
DROP INDEX account_events_kind;
DROP INDEX orders_customer_email;
DROP INDEX orders_created;
DROP INDEX accounts_unsold_left;
DROP INDEX accounts_unhealthy;
DROP INDEX accounts_claimed_at;
DROP INDEX accounts_ready_at;
DROP INDEX accounts_tier_id;
DROP INDEX accounts_state_id;
