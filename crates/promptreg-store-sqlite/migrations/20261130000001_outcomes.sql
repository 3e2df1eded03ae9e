-- Outcomes: each replica's aggregated windows (JSON of core's ArmWindow), replaced whole by
-- that replica on every flush, and the hashes of the event ids it accepted (8 bytes each,
-- little-endian, one row per flush) so that a restart still refuses a duplicate.
CREATE TABLE outcome_version_windows (
    project  TEXT    NOT NULL,
    env      TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    minute   TEXT    NOT NULL,
    replica  TEXT    NOT NULL,
    figures  TEXT    NOT NULL,
    PRIMARY KEY (project, env, name, version, minute, replica)
);

CREATE TABLE outcome_rollout_windows (
    project  TEXT    NOT NULL,
    rollout  TEXT    NOT NULL,
    step     INTEGER NOT NULL,
    arm      TEXT    NOT NULL,
    replica  TEXT    NOT NULL,
    figures  TEXT    NOT NULL,
    PRIMARY KEY (project, rollout, step, arm, replica)
);

CREATE TABLE outcome_ids (
    project  TEXT    NOT NULL,
    replica  TEXT    NOT NULL,
    at       TEXT    NOT NULL,
    hashes   BLOB    NOT NULL
);

CREATE INDEX outcome_ids_by_time ON outcome_ids (at);
