-- Webhooks: subscriptions per project and their delivery history. `events` is a JSON array of
-- event names (empty: all); `cursor_seq` is the last event of the project's log the webhook is
-- done with; `lease_owner`/`lease_until` say which server delivers it (as for rollouts).
CREATE TABLE webhooks (
    project     TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    events      TEXT    NOT NULL,
    description TEXT,
    secret      TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    cursor_seq  INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until TEXT,
    PRIMARY KEY (project, id)
);

-- One row per (webhook, event) that was attempted, rewritten after each attempt.
CREATE TABLE webhook_deliveries (
    project          TEXT    NOT NULL,
    webhook          TEXT    NOT NULL,
    seq              INTEGER NOT NULL,
    event            TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL,
    response_code    INTEGER,
    error            TEXT,
    first_attempt_at TEXT    NOT NULL,
    last_attempt_at  TEXT    NOT NULL,
    next_attempt_at  TEXT,
    duration_ms      INTEGER NOT NULL,
    PRIMARY KEY (project, webhook, seq)
);
