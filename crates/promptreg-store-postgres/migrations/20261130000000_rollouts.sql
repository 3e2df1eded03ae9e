-- Rollouts: one row per rollout of a candidate version in one environment's pointer. `spec`,
-- `state` and `analysis` are JSON written by the service layer; `status` repeats the state's
-- status so that "one active rollout per pointer" is a unique index the database enforces.
-- `lease_owner`/`lease_until`: which replica drives the rollout (taken over when it lapses).
CREATE TABLE rollouts (
    project           TEXT COLLATE "C" NOT NULL,
    id                TEXT COLLATE "C" NOT NULL,
    env               TEXT COLLATE "C" NOT NULL,
    name              TEXT COLLATE "C" NOT NULL,
    stable_version    BIGINT NOT NULL,
    stable_digest     TEXT NOT NULL,
    candidate_version BIGINT NOT NULL,
    candidate_digest  TEXT NOT NULL,
    status            TEXT NOT NULL,
    spec              JSONB NOT NULL,
    state             JSONB NOT NULL,
    revision          BIGINT NOT NULL,
    reason            TEXT,
    created_by        TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    analysis          JSONB NOT NULL DEFAULT '{}',
    lease_owner       TEXT,
    lease_until       TIMESTAMPTZ,
    PRIMARY KEY (project, id)
);

CREATE UNIQUE INDEX rollouts_one_active ON rollouts (project, env, name)
    WHERE status IN ('progressing', 'paused');
CREATE INDEX rollouts_by_pointer ON rollouts (project, env, name, id);
