-- Rollouts: one row per rollout of a candidate version in one environment's pointer. `spec`,
-- `state` and `analysis` are JSON written by the service layer; `status` repeats the state's
-- status so that "one active rollout per pointer" is a unique index the database enforces.
CREATE TABLE rollouts (
    project           TEXT    NOT NULL,
    id                TEXT    NOT NULL,
    env               TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    stable_version    INTEGER NOT NULL,
    stable_digest     TEXT    NOT NULL,
    candidate_version INTEGER NOT NULL,
    candidate_digest  TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    spec              TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    revision          INTEGER NOT NULL,
    reason            TEXT,
    created_by        TEXT    NOT NULL,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    analysis          TEXT    NOT NULL DEFAULT '{}',
    lease_owner       TEXT,
    lease_until       TEXT,
    PRIMARY KEY (project, id)
);

CREATE UNIQUE INDEX rollouts_one_active ON rollouts (project, env, name)
    WHERE status IN ('progressing', 'paused');
CREATE INDEX rollouts_by_pointer ON rollouts (project, env, name, id);
