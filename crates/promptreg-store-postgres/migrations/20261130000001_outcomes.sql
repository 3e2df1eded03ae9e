-- Outcomes: each replica's aggregated windows (JSON of core's ArmWindow), replaced whole by
-- that replica on every flush (so replicas never write the same row; readers merge them),
-- and the hashes of the event ids it accepted (8 bytes each, little-endian, one row per
-- flush) so that a restart still refuses a duplicate.
CREATE TABLE outcome_version_windows (
    project  TEXT COLLATE "C" NOT NULL,
    env      TEXT COLLATE "C" NOT NULL,
    name     TEXT COLLATE "C" NOT NULL,
    version  BIGINT NOT NULL,
    minute   TIMESTAMPTZ NOT NULL,
    replica  TEXT COLLATE "C" NOT NULL,
    figures  JSONB NOT NULL,
    PRIMARY KEY (project, env, name, version, minute, replica)
);

CREATE TABLE outcome_rollout_windows (
    project  TEXT COLLATE "C" NOT NULL,
    rollout  TEXT COLLATE "C" NOT NULL,
    step     BIGINT NOT NULL,
    arm      TEXT NOT NULL,
    replica  TEXT COLLATE "C" NOT NULL,
    figures  JSONB NOT NULL,
    PRIMARY KEY (project, rollout, step, arm, replica)
);

CREATE TABLE outcome_ids (
    project  TEXT COLLATE "C" NOT NULL,
    replica  TEXT COLLATE "C" NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    hashes   BYTEA NOT NULL
);

CREATE INDEX outcome_ids_by_time ON outcome_ids (at);
