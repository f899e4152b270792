-- When a sold account the operator retired with a grace period (`poold retire --force`) is
-- destroyed; it stays suspended until then. Unix ms, 0 = no such retirement pending.

-- +goose Up
ALTER TABLE accounts ADD COLUMN retire_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE accounts DROP COLUMN retire_at;
