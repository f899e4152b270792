-- Rolling upgrades of sold tenants (`poold upgrade`): one row per rollout — its target
-- generation and image, the tier, canary and batch sizes, how many may be down at once, the
-- window it may work in, its state (running, paused, held, done, aborted), its counters and last
-- error — and one row per tenant it upgrades: where the tenant came from (generation, image,
-- recorded when its step starts, so a rollback knows what to go back to), its batch (0 = the
-- canaries), its state, error and times. Times are Unix milliseconds.

-- +goose Up
CREATE TABLE rollouts (
    id              BIGINT PRIMARY KEY,
    tier            TEXT NOT NULL,
    generation      TEXT NOT NULL,
    image           TEXT NOT NULL,
    canary          INTEGER NOT NULL,
    batch_size      INTEGER NOT NULL,
    max_unavailable INTEGER NOT NULL,
    window_spec     TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL,
    total           INTEGER NOT NULL DEFAULT 0,
    done            INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    skipped         INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    finished_at     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX rollouts_state ON rollouts (state, id);

CREATE TABLE rollout_steps (
    rollout_id      BIGINT NOT NULL REFERENCES rollouts (id),
    account_id      BIGINT NOT NULL,
    slug            TEXT NOT NULL,
    batch           INTEGER NOT NULL,
    from_generation TEXT NOT NULL,
    from_image      TEXT NOT NULL DEFAULT '',
    to_generation   TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL,
    error           TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    started_at      BIGINT NOT NULL DEFAULT 0,
    finished_at     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (rollout_id, account_id)
);
CREATE INDEX rollout_steps_state ON rollout_steps (state);

-- +goose Down
DROP TABLE rollout_steps;
DROP TABLE rollouts;
