-- The customer password each delivery hands out, and the job-working processes alive.
-- Portable types only, times in Unix ms.

-- +goose Up
-- One password per delivery key (an order's credentials e-mail, each resend, a manual claim)
-- and account, made once and sealed (AES-256-GCM, as the accounts' secrets) before the tenant
-- is rotated to it or anything is sent: every retry, and the re-send after a crash, carries
-- the same password.
CREATE TABLE delivery_passwords (
    delivery_key TEXT NOT NULL,
    account_id   BIGINT NOT NULL,
    order_id     TEXT NOT NULL,
    secret       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (delivery_key, account_id)
);

-- Every process working jobs (its river client id) and when it last said it was alive: the
-- running jobs of a process whose heartbeat is stale are made available again at once.
CREATE TABLE job_processes (
    id           TEXT PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE job_processes;
DROP TABLE delivery_passwords;
