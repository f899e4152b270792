-- Where an account came from, and when its provisioning job first started (stuck time counts
-- from there, not from creation: a big batch waits in the queue without being stuck).
-- Portable types only, times in Unix ms. One ALTER TABLE per statement.

-- +goose Up
ALTER TABLE accounts ADD COLUMN origin TEXT NOT NULL DEFAULT 'pool'; -- pool, batch or order
ALTER TABLE accounts ADD COLUMN started_at BIGINT NOT NULL DEFAULT 0; -- first provisioning attempt (0 = not yet)
-- Accounts caught mid-provisioning by the upgrade: an attempt ran, so their stuck time counts
-- from their creation, as it did before.
UPDATE accounts SET started_at = created_at WHERE state = 'provisioning' AND attempts > 0;

-- +goose Down
ALTER TABLE accounts DROP COLUMN started_at;
ALTER TABLE accounts DROP COLUMN origin;
