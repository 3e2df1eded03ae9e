-- Webhooks: subscriptions per project and their delivery history. `events` is a JSON array of
-- event names (empty: all); `cursor_seq` is the last event of the project's log the webhook is
-- done with; `lease_owner`/`lease_until` say which replica delivers it (as for rollouts).
CREATE TABLE webhooks (
    project     TEXT COLLATE "C" NOT NULL,
    id          TEXT COLLATE "C" NOT NULL,
    url         TEXT NOT NULL,
    events      JSONB NOT NULL,
    description TEXT,
    secret      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    cursor_seq  BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMPTZ,
    PRIMARY KEY (project, id)
);

-- One row per (webhook, event) that was attempted, rewritten after each attempt.
CREATE TABLE webhook_deliveries (
    project          TEXT COLLATE "C" NOT NULL,
    webhook          TEXT COLLATE "C" NOT NULL,
    seq              BIGINT NOT NULL,
    event            TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    response_code    INTEGER,
    error            TEXT,
    first_attempt_at TIMESTAMPTZ NOT NULL,
    last_attempt_at  TIMESTAMPTZ NOT NULL,
    next_attempt_at  TIMESTAMPTZ,
    duration_ms      BIGINT NOT NULL,
    PRIMARY KEY (project, webhook, seq)
);
