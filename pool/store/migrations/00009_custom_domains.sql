-- Customers' own hostnames (custom domains), attached to tenants. The UNIQUE hostname is the
-- hostname's lock across all tenants: the row is taken before any stack is applied, so one
-- hostname can never be routed to two tenants. Portable types only, times in Unix ms.

-- +goose Up
CREATE TABLE custom_domains (
    id           BIGINT PRIMARY KEY,
    account_id   BIGINT NOT NULL,
    hostname     TEXT NOT NULL UNIQUE,
    state        TEXT NOT NULL,            -- requested | pending | active | failed | detaching
    contact      TEXT NOT NULL DEFAULT '', -- the customer's e-mail address
    cf_status    TEXT NOT NULL DEFAULT '',
    ssl_status   TEXT NOT NULL DEFAULT '',
    reason       TEXT NOT NULL DEFAULT '',
    notified     TEXT NOT NULL DEFAULT '', -- the last state the customer was e-mailed about
    attempts     INTEGER NOT NULL DEFAULT 0,
    requested_at BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    check_at     BIGINT NOT NULL
);
CREATE INDEX custom_domains_account ON custom_domains (account_id, id);
CREATE INDEX custom_domains_due ON custom_domains (check_at);

-- +goose Down
DROP INDEX custom_domains_due;
DROP INDEX custom_domains_account;
DROP TABLE custom_domains;
